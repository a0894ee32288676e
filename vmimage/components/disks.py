"""Data disks: what a VM booted from a captured image gets, and what a build adds.

Shared by build VMs (a child build inherits its parent's disks) and clones, so a LUN
means the same disk everywhere in one lineage.
"""

from __future__ import annotations

from pulumi_azure_native import compute

from vmimage.spec.models import BuildSpec, DataDiskSpec, PipelineSpec


def lineage(spec: PipelineSpec, version: str | None) -> list[BuildSpec]:
    """The build of `version` and its ancestors, newest first."""
    chain = []
    while version is not None:
        build = spec.build(version)
        chain.append(build)
        version = build.from_.version
    return chain


def image_disks(spec: PipelineSpec, version: str | None) -> dict[int, DataDiskSpec]:
    """Every data disk an image version carries, by LUN: its own build's and its
    ancestors' (the newest definition of a LUN wins)."""
    disks: dict[int, DataDiskSpec] = {}
    for build in lineage(spec, version):
        for disk in build.data_disks:
            disks.setdefault(disk.lun, disk)
    return disks


def _disk_args(
    disk: DataDiskSpec, *, from_image: bool, scale_set: bool = False
) -> compute.DataDiskArgs | compute.VirtualMachineScaleSetDataDiskArgs:
    # A scale set's VM profile takes its own Args class with the same fields.
    args_class = compute.VirtualMachineScaleSetDataDiskArgs if scale_set else compute.DataDiskArgs
    managed_class = (
        compute.VirtualMachineScaleSetManagedDiskParametersArgs
        if scale_set
        else compute.ManagedDiskParametersArgs
    )
    return args_class(
        lun=disk.lun,
        create_option=compute.DiskCreateOptionTypes.FROM_IMAGE
        if from_image
        else compute.DiskCreateOptionTypes.EMPTY,
        # FromImage disks take their size from the image unless grown here.
        disk_size_gb=None if from_image else disk.size_gb,
        caching=disk.caching,
        managed_disk=managed_class(storage_account_type=disk.sku),
        # Each disk goes with its VM: a deleted VM leaves no disk billing behind.
        delete_option=compute.DiskDeleteOptionTypes.DELETE,
    )


def clone_data_disks(
    spec: PipelineSpec, version: str, *, scale_set: bool = False
) -> list[compute.DataDiskArgs] | list[compute.VirtualMachineScaleSetDataDiskArgs]:
    """A clone's disks all come from the image, LUNs kept."""
    disks = image_disks(spec, version)
    return [  # type: ignore[return-value]
        _disk_args(disks[lun], from_image=True, scale_set=scale_set) for lun in sorted(disks)
    ]


def build_data_disks(spec: PipelineSpec, build: BuildSpec) -> list[compute.DataDiskArgs]:
    """A build VM's disks: the parent image's (FromImage), plus new empty ones for the
    LUNs only this build declares."""
    inherited = image_disks(spec, build.from_.version)
    own = {disk.lun: disk for disk in build.data_disks}
    luns = sorted(set(inherited) | set(own))
    return [
        _disk_args(own.get(lun) or inherited[lun], from_image=lun in inherited)
        for lun in luns
    ]
