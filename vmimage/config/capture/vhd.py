"""`capture: [..., {vhd: {storageAccountId, container}}]` as the config knows it: the
generalized build VM's OS and data disks copied as VHD page blobs into a container, for
Azure Stack Hub, on-premises Hyper-V and Marketplace offers. It is an export beside an
image, not an image: clones never boot from it, so it needs a gallery or managed image
target too (which also says the OS, and so how the VM is generalized)."""

from __future__ import annotations

from vmimage.azure.security_types import CONFIDENTIAL_VM
from vmimage.config.capture import VHD
from vmimage.config.capture.target import CaptureRules, shown
from vmimage.config.models import BuildSpec, PipelineSpec, VhdCapture
from vmimage.config.security_type import security_key, wanted_security_type


def vhd_index(spec: PipelineSpec) -> int:
    """Where `{vhd: ...}` is in `capture:` (for key paths)."""
    return next(i for i, c in enumerate(spec.capture) if isinstance(c, VhdCapture))


#: The OS disk's key among the blob names (data disks: their LUN, as text).
OS_DISK = "osDisk"


def blob_names(image: str, version: str, luns: list[int]) -> dict[str, str]:
    """The export's blob name of each disk: deterministic, so a run after a crash finds
    what an earlier one copied (`<image>-<version>-osdisk.vhd`, `-lun<N>.vhd`)."""
    return {OS_DISK: f"{image}-{version}-osdisk.vhd",
            **{str(n): f"{image}-{version}-lun{n}.vhd" for n in sorted(luns)}}


def exported(build: BuildSpec) -> bool:
    """Whether the export has this build's disks: only a build VM has disks to copy (an
    imported VHD is one already). A retired build's VM is gone: its export is the record
    of an earlier run's copy, kept, never made (`retired_export`)."""
    return not build.imported


def retired_export(spec: PipelineSpec, build: BuildSpec) -> str | None:
    """For a retired build, the keys that say so and the export that cannot happen (the
    export refuses with them when it has no earlier record); None for a live one."""
    if not build.retired:
        return None
    i = next(n for n, b in enumerate(spec.builds) if b.version == build.version)
    return (f"builds[{i}].retired (or gallery.retention) with capture[{vhd_index(spec)}].vhd: "
            f"version {build.version}'s build VM is retired")


def _problems(spec: PipelineSpec) -> list[str]:
    at = f"capture[{vhd_index(spec)}].vhd"
    found = []
    if len(spec.capture_targets) == 1 or set(spec.capture_targets) == {VHD}:
        found.append(f"{at}: exports the disks of the VM a gallery version or managed image "
                     f"is captured from; list gallery or managedImage beside it (capture is "
                     f"{shown(spec.capture)})")
    if wanted_security_type(spec) == CONFIDENTIAL_VM:
        # The OS disk alone is not the image: its VM guest state (and for some
        # encryption types the disk's contents) is bound to the VM's vTPM.
        found.append(f"{at}: a confidential VM's OS disk does not export as a VHD of its "
                     f"own (its VM guest state, and with DiskWithVMGuestState the disk's "
                     f"contents, are encrypted with keys bound to its vTPM); "
                     f"{security_key(spec)} is ConfidentialVM: capture to a gallery only, "
                     f"or export from a TrustedLaunch or Standard stack")
    return found


RULES = CaptureRules(key=VHD, output="vhdBlobs", preference=2, problems=_problems)
