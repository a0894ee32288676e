"""Rules on what an image is made from and of: its source (marketplace with a plan,
a version built here, another gallery's version, a managed image, or an imported VHD),
its OS disk, its CPU architecture and its formatted data disks. Pure functions of a
validated spec; `spec.rules.semantic_problems` calls `image_input_problems`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from vmimage.azure import limits
from vmimage.config.capture import VHD
from vmimage.config.models import SOURCE_FIELDS
from vmimage.config.values import under

if TYPE_CHECKING:
    from vmimage.config.models import BuildSpec, PipelineSpec

#: Keys of a build that belong to its build VM: an imported VHD has none.
BUILD_VM_KEYS = {"size": "size", "os_disk": "osDisk", "data_disks": "dataDisks",
                 "customize": "customize", "spot": "spot", "identities": "identities"}
XFS_LABEL_MAX = 12


def image_input_problems(spec: PipelineSpec) -> list[str]:
    found: list[str] = []
    for i, build in enumerate(spec.builds):
        at = f"builds[{i}]"
        if build.imported:
            found += _vhd_problems(spec, build, at)
        found += _os_disk_problems(spec, build, at)
        found += _format_problems(spec, build, at)
    found += _architecture_problems(spec)
    found += _plan_problems(spec)
    found += _clone_os_disk_problems(spec)
    return found


def source_count_problem(build: BuildSpec, at: str) -> str | None:
    given = build.from_.given
    if len(given) == 1:
        return None
    keys = list(SOURCE_FIELDS)
    return f"{at}.from: give exactly one of {', '.join(keys[:-1])} or {keys[-1]}" + (
        f" (got {', '.join(given)})" if given else "")


def repeated_luns(disks: Iterable[Any]) -> list[tuple[int, int]]:
    """(index, LUN) of each disk whose LUN an earlier disk of the list has."""
    seen: set[int] = set()
    repeated = []
    for j, disk in enumerate(disks):
        if disk.lun in seen:
            repeated.append((j, disk.lun))
        seen.add(disk.lun)
    return repeated


def _vhd_problems(spec: PipelineSpec, build: BuildSpec, at: str) -> list[str]:
    vhd = build.from_.vhd
    assert vhd is not None
    found = [f"{at}.{key}: not with from.vhd (an imported VHD has no build VM; customize "
             "it in a later build with from.version)"
             for field, key in BUILD_VM_KEYS.items() if field in build.model_fields_set]
    if [t for t in spec.capture_targets if t != VHD] != ["gallery"]:
        found.append(f"{at}.from.vhd: a VHD becomes a gallery image version; set capture: "
                     "gallery (a VHD export beside it is fine)")
    account = vhd.storage_account_id.name  # values.StorageAccountId: parsed
    blobs = [("from.vhd.uri", vhd.uri)] + [
        (f"from.vhd.dataDisks[{j}].uri", d.uri) for j, d in enumerate(vhd.data_disks)]
    for key, uri in blobs:
        host = uri.account  # values.VhdUri: parsed
        if host != account.lower():
            found.append(f"{at}.{key}: the blob is in storage account {host!r}, not in "
                         f"from.vhd.storageAccountId ({account!r})")
    seen: dict[str, str] = {}
    for key, uri in blobs:
        if uri in seen:
            found.append(f"{at}.{key}: the same blob as {seen[uri]}")
        seen.setdefault(uri, key)
    found += [f"{at}.from.vhd.dataDisks[{j}].lun: LUN {lun} is used twice"
              for j, lun in repeated_luns(vhd.data_disks)]
    return found


def _os_disk_problems(spec: PipelineSpec, build: BuildSpec, at: str) -> list[str]:
    disk = build.os_disk
    if disk is None or disk.size_gb is None:
        return []
    if spec.uses_gallery and build.replication_mode == "Full" \
            and disk.size_gb > limits.GALLERY_IMAGE_MAX_GB:
        return [f"{at}.osDisk.sizeGb: {disk.size_gb} GiB; a gallery image version's OS disk "
                f"is at most {limits.GALLERY_IMAGE_MAX_GB:,} GiB (Shallow replication takes "
                "larger images)"]
    return []


def image_os_disk_gb(spec: PipelineSpec, version: str) -> int | None:
    """The OS disk size a version's image carries, where config says it: the size of the
    newest build in its lineage that set one."""
    builds = {b.version: b for b in spec.builds}
    build = builds.get(version)
    seen: set[str] = set()
    while build is not None and build.version not in seen:  # a cycle is reported elsewhere
        seen.add(build.version)
        if build.os_disk and build.os_disk.size_gb:
            return build.os_disk.size_gb
        build = builds.get(build.from_.version) if build.from_.version else None
    return None


def _clone_os_disk_problems(spec: PipelineSpec) -> list[str]:
    found = []
    for i, clone in enumerate(spec.clones):
        disk = clone.os_disk
        version = spec.resolve_version(clone.version)
        if disk is None or version is None or version not in {b.version for b in spec.builds}:
            continue
        at = f"clones[{i}].osDisk"
        image_gb = image_os_disk_gb(spec, version)
        if disk.size_gb is not None and image_gb is not None and disk.size_gb < image_gb:
            found.append(f"{at}.sizeGb: {disk.size_gb} GiB is smaller than the image's OS "
                         f"disk ({image_gb} GiB); a disk can grow, never shrink")
        if disk.ephemeral and spec.security.disk_encryption_set_id:
            found.append(f"{at}.ephemeral: an ephemeral OS disk lives on the host, not in a "
                         "managed disk: security.diskEncryptionSetId cannot encrypt it")
    return found


def _format_problems(spec: PipelineSpec, build: BuildSpec, at: str) -> list[str]:
    found: list[str] = []
    # Where the disks the build inherits (its lineage's, captured in its parent) are.
    targets = _lineage_targets(spec, build)
    for j, disk in enumerate(build.data_disks):
        fmt = disk.format
        if fmt is None:
            continue
        where = f"{at}.dataDisks[{j}].format"
        if spec.windows:
            if fmt.fs != "ntfs":
                found.append(f"{where}.fs: Windows disks are formatted ntfs")
            if fmt.mount is not None:
                found.append(f"{where}.mount: Windows disks take a letter, not a mount path")
            if fmt.letter is None:
                found.append(f"{where}.letter: required on Windows (E to Z)")
            target = (fmt.letter or "").upper()
        else:
            if fmt.fs == "ntfs":
                found.append(f"{where}.fs: Linux disks are formatted ext4 or xfs")
            if fmt.letter is not None:
                found.append(f"{where}.letter: Linux disks take a mount path, not a letter")
            if fmt.mount is None:
                found.append(f"{where}.mount: required on Linux, e.g. /data")
            target = fmt.mount or ""
        if fmt.fs == "xfs" and len(fmt.label) > XFS_LABEL_MAX:  # mkfs.xfs refuses longer
            found.append(f"{where}.label: an xfs label is at most {XFS_LABEL_MAX} characters")
        if target:
            clash = next(((owner, other) for owner, other in targets
                          if under(target, other) or under(other, target)), None)
            if clash is not None:
                owner, other = clash
                how = "also" if other == target else ("under" if under(target, other)
                                                      else "above")
                found.append(f"{where}: {target} is {how} {owner}'s {other}; one disk "
                             "would hide the other in every clone")
            targets.append((f"dataDisks[{j}]", target))
    return found


def _lineage_targets(spec: PipelineSpec, build: BuildSpec) -> list[tuple[str, str]]:
    """(owner, mount path or drive letter) of the formatted disks a build inherits: its
    parents' (from.version), whose disks are in the image it boots, but for a LUN the
    build declares again (the same disk, vmimage/parts/disks.py)."""
    builds = {b.version: b for b in spec.builds}
    by_lun: dict[int, tuple[str, str]] = {}
    seen = {build.version}
    parent = builds.get(build.from_.version or "")
    while parent is not None and parent.version not in seen:  # a cycle is reported elsewhere
        seen.add(parent.version)
        index = spec.builds.index(parent)
        for j, disk in enumerate(parent.data_disks):
            fmt = disk.format
            target = (fmt.mount or (fmt.letter or "").upper()) if fmt else ""
            if target:  # the nearest parent's disk at a LUN is the one in the image
                by_lun.setdefault(disk.lun, (f"builds[{index}].dataDisks[{j}]", target))
        parent = builds.get(parent.from_.version or "")
    own = {disk.lun for disk in build.data_disks}
    return [entry for lun, entry in by_lun.items() if lun not in own]


def _architecture_problems(spec: PipelineSpec) -> list[str]:
    arm = spec.architecture == "Arm64"
    found = []
    for path, size in spec.sized():
        if size is None or limits.arm64_size(size) == arm:
            continue
        found.append(f"{path}: {size} is an {'x64' if arm else 'Arm64'} size, but "
                     f"gallery.image.architecture is {spec.architecture}"
                     + ("" if arm else " (Arm64 sizes have a 'p', e.g. Standard_D2ps_v5)"))
    if arm and spec.uses_managed_image:
        found.append("capture: managed images are x64 only; capture an Arm64 image into a "
                     "gallery")
    return found


def _plan_problems(spec: PipelineSpec) -> list[str]:
    plan = spec.definition_plan
    return [f"builds[{i}].from.marketplace.plan: differs from the pipeline's first plan; "
            "one image definition carries one purchase plan"
            for i, b in enumerate(spec.builds)
            if b.from_.marketplace and b.from_.marketplace.plan
            and b.from_.marketplace.plan != plan]
