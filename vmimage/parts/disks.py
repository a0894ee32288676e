"""Data disks: what a VM booted from a captured image gets, and what a build adds.

Shared by build VMs (a child build inherits its parent's disks) and clones, so a LUN
means the same disk everywhere in one lineage.
"""

from __future__ import annotations

from typing import Any

from pulumi_azure_native import compute

from vmimage.config.image_disks import ImageDisk, image_disks
from vmimage.config.models import BuildSpec, PipelineSpec, VhdDataDisk


def disk_encryption_set(spec: PipelineSpec) -> compute.DiskEncryptionSetParametersArgs | None:
    """Customer-managed keys for every managed disk of build VMs, clones and scale sets
    (`security.diskEncryptionSetId`); None: platform-managed keys."""
    des = spec.security.disk_encryption_set_id
    return compute.DiskEncryptionSetParametersArgs(id=des) if des else None


def _disk_fields(disk: ImageDisk, *, from_image: bool) -> dict[str, Any]:
    """What a VM's and a scale set's data disk say alike (their Args classes differ)."""
    return dict(
        lun=disk.lun,
        create_option=compute.DiskCreateOptionTypes.FROM_IMAGE
        if from_image
        else compute.DiskCreateOptionTypes.EMPTY,
        # FromImage disks take their size from the image unless grown here.
        disk_size_gb=None if from_image or isinstance(disk, VhdDataDisk) else disk.size_gb,
        caching=compute.CachingTypes(disk.caching),
        # Each disk goes with its VM: a deleted VM leaves no disk billing behind.
        delete_option=compute.DiskDeleteOptionTypes.DELETE,
    )


def _vm_disk(spec: PipelineSpec, disk: ImageDisk, *, from_image: bool
             ) -> compute.DataDiskArgs:
    return compute.DataDiskArgs(
        **_disk_fields(disk, from_image=from_image),
        managed_disk=compute.ManagedDiskParametersArgs(
            storage_account_type=compute.StorageAccountTypes(disk.sku),
            disk_encryption_set=disk_encryption_set(spec)))


def clone_data_disks(spec: PipelineSpec, version: str) -> list[compute.DataDiskArgs]:
    """A clone's disks all come from the image, LUNs kept."""
    disks = image_disks(spec, version)
    return [_vm_disk(spec, disks[lun], from_image=True) for lun in sorted(disks)]


def scale_set_data_disks(
    spec: PipelineSpec, version: str,
) -> list[compute.VirtualMachineScaleSetDataDiskArgs]:
    """A scale set instance's disks, as a clone's: all from the image, LUNs kept."""
    disks = image_disks(spec, version)
    return [
        compute.VirtualMachineScaleSetDataDiskArgs(
            **_disk_fields(disks[lun], from_image=True),
            managed_disk=compute.VirtualMachineScaleSetManagedDiskParametersArgs(
                storage_account_type=compute.StorageAccountTypes(disks[lun].sku),
                disk_encryption_set=disk_encryption_set(spec)))
        for lun in sorted(disks)
    ]


def build_data_disks(spec: PipelineSpec, build: BuildSpec) -> list[compute.DataDiskArgs]:
    """A build VM's disks: the parent image's (FromImage), plus new empty ones for the
    LUNs only this build declares."""
    inherited = image_disks(spec, build.from_.version)
    own = {disk.lun: disk for disk in build.data_disks}
    luns = sorted(set(inherited) | set(own))
    return [_vm_disk(spec, own.get(lun) or inherited[lun], from_image=lun in inherited)
            for lun in luns]
