"""The stack's VM security type (`security.type`): what it is when the config leaves it
out, what it asks of the rest of the config, and of the VM sizes Azure lists. Pure
functions of a validated spec; `rules.semantic_problems` calls `security_problems`, the
preflight `security_size_problems`.

`wanted_security_type` is THE answer to "which security type does this stack want":
parts, components, fingerprints and the check of an existing image definition all ask it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from vmimage.azure.security_types import (
    CONFIDENTIAL_VM,
    STANDARD,
    TRUSTED_LAUNCH,
    size_problem,
)
from vmimage.config.values import SecurityEncryptionType, SecurityType

if TYPE_CHECKING:
    from vmimage.config.models import PipelineSpec


def wanted_security_type(spec: PipelineSpec) -> SecurityType:
    """`security.type`, or its earlier spelling `trustedLaunch`, or the default the
    program has always had: TrustedLaunch for a Gen2 image captured to a gallery only
    (managed images take none, Gen1 cannot boot it), Standard otherwise. Explicit, not
    Azure's default, which is moving to Trusted Launch for new VMs."""
    security = spec.security
    if security.type is not None:
        return security.type
    if security.trusted_launch is not None:
        return TRUSTED_LAUNCH if security.trusted_launch else STANDARD
    if (spec.uses_gallery and not spec.uses_managed_image and spec.gallery is not None
            and spec.gallery.image.generation == "V2"):
        return TRUSTED_LAUNCH
    return STANDARD


def security_key(spec: PipelineSpec) -> str:
    """The key the security type was given by, as messages name it."""
    given = spec.security.type is None and spec.security.trusted_launch is not None
    return "security.trustedLaunch" if given else "security.type"


def encryption_type(spec: PipelineSpec) -> SecurityEncryptionType | None:
    """The OS disk's securityEncryptionType: a confidential stack's (VMGuestStateOnly
    unless it says otherwise), None for the others."""
    if wanted_security_type(spec) != CONFIDENTIAL_VM:
        return None
    return spec.security.encryption_type or "VMGuestStateOnly"


def security_problems(spec: PipelineSpec) -> list[str]:
    security = spec.security
    wanted = wanted_security_type(spec)
    found: list[str] = []
    if security.type is not None and security.trusted_launch is not None:
        found.append("security.trustedLaunch: the earlier spelling of security.type; give "
                     "only security.type")
    if security.encryption_type is not None and wanted != CONFIDENTIAL_VM:
        found.append(f"security.encryptionType: only for security.type ConfidentialVM "
                     f"(this stack's is {wanted})")
    if wanted == STANDARD:
        return found
    if spec.generation != "V2":
        declared = "gallery.image.generation" if spec.gallery else "managedImage.generation"
        found.append(f"{security_key(spec)}: {wanted} needs a generation V2 image; "
                     f"{declared} is {spec.generation}")
    if wanted == CONFIDENTIAL_VM:
        found += _confidential_problems(spec)
    return found


def _confidential_problems(spec: PipelineSpec) -> list[str]:
    found = []
    if spec.architecture != "x64":
        found.append("security.type: confidential VM sizes are x64 (AMD SEV-SNP, Intel "
                     "TDX); gallery.image.architecture is Arm64")
    if spec.security.disk_encryption_set_id is not None:
        found.append("security.diskEncryptionSetId: a confidential VM's OS disk takes a "
                     "confidential disk encryption set (ConfidentialVmEncryptedWithCustomerKey), "
                     "which vmimage does not register; leave it out (platform-managed keys)")
    for i, build in enumerate(spec.builds):
        if build.imported:
            found.append(f"builds[{i}].from.vhd: a ConfidentialVM version is captured from a "
                         "confidential build VM; a VHD has none")
        for j, region in enumerate(build.regions):
            if region.disk_encryption_set_id is not None:
                found.append(f"builds[{i}].regions[{j}].diskEncryptionSetId: a "
                             "ConfidentialVM version's replicas keep platform-managed keys")
    for i, clone in enumerate(spec.clones):
        if clone.os_disk is not None and clone.os_disk.ephemeral:
            found.append(f"clones[{i}].osDisk.ephemeral: a confidential VM's OS disk is a "
                         "managed disk that carries its encryption (securityProfile); "
                         "vmimage registers no ephemeral one")
    return found


def security_size_problems(spec: PipelineSpec,
                           capabilities: Mapping[str, Mapping[str, Mapping[str, str]]],
                           ) -> list[str]:
    """Each build's and clone group's size against what Azure's resource SKUs say it
    runs. `capabilities`: region -> size (lower-case) -> capability name -> value; a size
    the region does not list is left to Azure (refused at create, with its name)."""
    wanted = wanted_security_type(spec)
    if wanted == STANDARD:
        return []
    found = []
    for i, build in enumerate(spec.builds):
        if build.size is None or build.retired:
            continue
        caps = capabilities.get(spec.location, {}).get(build.size.lower())
        problem = size_problem(wanted, build.size, caps) if caps is not None else None
        if problem:
            found.append(f"builds[{i}].size: {problem}")
    for i, clone in enumerate(spec.clones):
        caps = capabilities.get(spec.clone_region(clone), {}).get(clone.size.lower())
        problem = size_problem(wanted, clone.size, caps) if caps is not None else None
        if problem:
            found.append(f"clones[{i}].size: {problem}")
    return found
