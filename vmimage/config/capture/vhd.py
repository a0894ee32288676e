"""`capture: [..., {vhd: {storageAccountId, container}}]` as the config knows it: the
generalized build VM's OS and data disks copied as VHD page blobs into a container, for
Azure Stack Hub, on-premises Hyper-V and Marketplace offers. It is an export beside an
image, not an image: clones never boot from it, so it needs a gallery or managed image
target too (which also says the OS, and so how the VM is generalized)."""

from __future__ import annotations

from vmimage.config.capture import VHD
from vmimage.config.capture.target import CaptureRules, shown
from vmimage.config.models import BuildSpec, PipelineSpec, VhdCapture


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
    """Whether the export copies this build's disks: only a build VM has disks to copy (an
    imported VHD is one already; a retired build's VM is gone)."""
    return not build.imported and not build.retired


def _problems(spec: PipelineSpec) -> list[str]:
    at = f"capture[{vhd_index(spec)}].vhd"
    if len(spec.capture_targets) == 1 or set(spec.capture_targets) == {VHD}:
        return [f"{at}: exports the disks of the VM a gallery version or managed image is "
                f"captured from; list gallery or managedImage beside it (capture is "
                f"{shown(spec.capture)})"]
    return []


RULES = CaptureRules(key=VHD, output="vhdBlobs", preference=2, problems=_problems)
