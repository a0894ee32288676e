"""VM security types as Microsoft.Compute enforces them: a Trusted Launch or confidential
VM (or scale set) boots a generation 2 image on a size that runs its type; a confidential
one's OS disk names its securityEncryptionType (and only a confidential one's does); a
gallery version boots only the security types its definition's SecurityType feature
allows, and is captured only from a VM its definition allows. Sources in
docs/azure-behaviours.md ("Security types"); the wording of the refusals is a guess."""

from __future__ import annotations

from typing import Any

from offline import quota
from offline.arm.capture import image_generation
from offline.arm.control import ControlPlane
from offline.arm.model import ArmError, ArmResource, get_path
from vmimage.azure.security_types import (
    CONFIDENTIAL_VM,
    SECURITY_TYPE_FEATURE,
    STANDARD,
    boots,
    size_problem,
)
from vmimage.vocabulary import GALLERY_IMAGE_VERSION


def security_type(profile: dict[str, Any]) -> str:
    """A VM's (or a scale set VM profile's) security type; absent is Standard."""
    return str(get_path(profile, "securityProfile.securityType") or STANDARD)


def definition_feature(definition: ArmResource | None) -> str | None:
    """The SecurityType feature of an image definition the simulator holds."""
    if definition is None:
        return None
    for feature in definition.props.get("features") or []:
        if str(feature.get("name", "")).lower() == SECURITY_TYPE_FEATURE.lower():
            return str(feature.get("value") or "")
    return None


def _definition_of(arm: ControlPlane, version: ArmResource) -> ArmResource | None:
    return arm.resources.get(version.id.lower().rsplit("/versions/", 1)[0])


def check_vm_security(arm: ControlPlane, profile: dict[str, Any], size: str | None,
                      at: float) -> None:
    """A VM's or a scale set VM profile's security profile against its image and size."""
    wanted = security_type(profile)
    encryption = get_path(profile, "storageProfile.osDisk.managedDisk.securityProfile."
                          "securityEncryptionType")
    if wanted == CONFIDENTIAL_VM:
        if not encryption:
            raise ArmError(400, "InvalidParameter", "A confidential VM's OS disk needs "
                           "managedDisk.securityProfile.securityEncryptionType.")
        if not get_path(profile, "securityProfile.uefiSettings.vTpmEnabled"):
            raise ArmError(400, "InvalidParameter", "A confidential VM needs "
                           "securityProfile.uefiSettings.vTpmEnabled true.")
    elif encryption:
        raise ArmError(400, "InvalidParameter", "securityEncryptionType can be set for "
                       "confidential VMs only.")
    if wanted == STANDARD:
        return
    generation = image_generation(arm, profile)
    if generation is not None and generation != "V2":
        raise ArmError(400, "InvalidParameter", f"Security type {wanted} needs a generation "
                       f"2 image; this image is generation {generation}.")
    if size:
        problem = size_problem(wanted, size, quota.capabilities(size))
        if problem:
            raise ArmError(400, "BadRequest", f"The VM size {problem}.")


def check_image_security(arm: ControlPlane, profile: dict[str, Any], at: float) -> None:
    """A VM booted from a gallery version: its definition must allow its security type."""
    image_id = get_path(profile, "storageProfile.imageReference.id")
    image = arm.resources.get(str(image_id or "").lower())
    if image is None or image.token != GALLERY_IMAGE_VERSION:
        return
    definition = _definition_of(arm, image)
    if definition is None:  # another gallery's, that the simulator holds no definition of
        return
    feature = definition_feature(definition)
    wanted = security_type(profile)
    if not boots(feature, wanted):
        raise ArmError(400, "InvalidParameter",
                       f"The gallery image '{image.name}' has SecurityType "
                       f"{feature or 'none'}; it cannot create a {wanted} VM.")


def check_version_source(arm: ControlPlane, definition_id: str, vm: ArmResource,
                         p: dict[str, Any]) -> None:
    """A version captured from a VM: the definition must allow the VM's security type,
    and a confidential one's regions carry its confidential encryption."""
    feature = definition_feature(arm.resources.get(definition_id.lower()))
    wanted = security_type(vm.props)
    if not boots(feature, wanted):
        raise ArmError(400, "InvalidParameter",
                       f"The source VM '{vm.name}' is {wanted}, which image definition "
                       f"'{definition_id.rsplit('/', 1)[-1]}' (SecurityType "
                       f"{feature or 'none'}) does not allow.")
    if wanted == CONFIDENTIAL_VM:
        for region in get_path(p, "publishingProfile.targetRegions") or []:
            if not get_path(region, "encryption.osDiskImage.securityProfile."
                            "confidentialVMEncryptionType"):
                raise ArmError(400, "InvalidParameter",
                               f"Target region '{region.get('name')}' of a version captured "
                               "from a confidential VM needs encryption.osDiskImage."
                               "securityProfile.confidentialVMEncryptionType.")
