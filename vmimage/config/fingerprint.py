"""A build's fingerprint: what its image is made of, as config says it.

Gallery image versions are immutable, and after capture the build VM is generalized, which
Azure will not let anyone start or modify again. So a captured build must not change: the
fingerprint is recorded as a tag on the captured image, and a later run whose config gives
another fingerprint for that version is refused with "give it a new version"
(vmimage/stack/captures.py, spec rule `frozen_build_problems`).

It covers what goes into the image: the OS, the source, the build VM's size and security
type, every data disk (its own and its parent's) and every customize step as configured
(a script file's content too: it is the step).
Publishing settings (regions, replicas, end of life, latest) are left out: Azure lets them
change on a version. So is vmimage's own code: a new release that renders a template
differently does not make captured builds "changed" (their VMs are frozen, not rebuilt).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vmimage.config.security_type import encryption_type, wanted_security_type
from vmimage.config.steps import kind_of

if TYPE_CHECKING:
    from vmimage.config.models import BuildSpec, PipelineSpec

FINGERPRINT_VERSION = "v1"  # bump if what is hashed changes, so old tags are not misread


def build_content(spec: PipelineSpec, build: BuildSpec) -> dict[str, Any]:
    """The config that makes up a build's image, as plain data."""
    return {
        "os": spec.os,
        "from": build.from_.model_dump(mode="json", by_alias=True, exclude_none=True),
        "size": build.size,
        "trustedLaunch": wanted_security_type(spec) == "TrustedLaunch",
        # Keys added later enter only when set, so builds captured before keep their
        # fingerprint.
        "dataDisks": [d.model_dump(mode="json", by_alias=True,
                                   exclude=None if d.format else {"format"})
                      for d in build.data_disks],
        "customize": [kind_of(s).fingerprint(s) for s in build.customize],
        **({"osDisk": build.os_disk.model_dump(mode="json", by_alias=True)}
           if build.os_disk else {}),
        **({"architecture": spec.architecture} if spec.architecture != "x64" else {}),
        **({"securityType": "ConfidentialVM", "encryptionType": encryption_type(spec)}
           if encryption_type(spec) else {}),
        **({"secureBoot": False} if not spec.security.secure_boot
           and wanted_security_type(spec) != "Standard" else {}),
    }


def build_fingerprint(spec: PipelineSpec, build: BuildSpec) -> str:
    """'v1:<16 hex digits>', stable across runs, Python versions and key order."""
    canonical = json.dumps(build_content(spec, build), sort_keys=True, separators=(",", ":"))
    return f"{FINGERPRINT_VERSION}:{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Capture:
    """What Azure holds for one build: whether its image exists, and with which
    fingerprint it was captured (None: before fingerprints were recorded)."""

    version: str
    captured: bool
    fingerprint: str | None = None
    replicas: Mapping[str, int] = field(default_factory=dict)
    """Its replicas per region as Azure holds them (a gallery version's)."""
    provenance: Mapping[str, str] = field(default_factory=dict)
    """Its provenance tags (vmimage/config/provenance.py): as recorded when captured (none
    for older images), to record when not."""
    published: str | None = None
    """When Azure published it (a gallery version's `publishingProfile.publishedDate`)."""
    in_latest: bool = False
    """Azure holds it in latest (a gallery version whose `excludeFromLatest` is false): a
    validated version was published (vmimage/config/publication.py)."""


def fingerprint_to_record(spec: PipelineSpec, build: BuildSpec,
                          capture: Capture | None) -> str | None:
    """The fingerprint tag an image is registered with: none for an image captured
    before fingerprints existed (that absence is how its legacy resources are known, so a
    tag update must not add one), the build's own otherwise."""
    if capture is not None and capture.captured and capture.fingerprint is None:
        return None
    return build_fingerprint(spec, build)
