"""Which data disks an image carries: a rule of the config (LUNs are inherited along a
lineage), shared by the argument builders (vmimage/parts/disks.py) and the gallery
capture's encryption (vmimage/capture/gallery.py)."""

from __future__ import annotations

from vmimage.config.models import BuildSpec, DataDiskSpec, PipelineSpec, VhdDataDisk


def lineage(spec: PipelineSpec, version: str | None) -> list[BuildSpec]:
    """The build of `version` and its ancestors, newest first."""
    chain = []
    while version is not None:
        build = spec.build(version)
        chain.append(build)
        version = build.from_.version
    return chain


#: A disk an image carries: one a build added, or one imported from a VHD.
ImageDisk = DataDiskSpec | VhdDataDisk


def image_disks(spec: PipelineSpec, version: str | None) -> dict[int, ImageDisk]:
    """Every data disk an image version carries, by LUN: its own build's and its
    ancestors' (the newest definition of a LUN wins), an imported VHD's included."""
    disks: dict[int, ImageDisk] = {}
    for build in lineage(spec, version):
        own = build.from_.vhd.data_disks if build.from_.vhd else build.data_disks
        for disk in own:
            disks.setdefault(disk.lun, disk)
    return disks
