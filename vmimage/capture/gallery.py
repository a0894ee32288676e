"""`capture: gallery`: an Azure Compute Gallery image version of the pipeline's image
definition, replicated to the build's target regions; clones boot from it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_azure_native import compute

from vmimage.azure import naming
from vmimage.azure.reads import CloudReads
from vmimage.azure.security_types import IMAGE_ENCRYPTION
from vmimage.capture.target import CaptureContext, CaptureTarget, protected
from vmimage.config.capture.gallery import RULES
from vmimage.config.image_disks import image_disks
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.config.security_type import encryption_type


def target_regions(spec: PipelineSpec, build: BuildSpec,
                   kept: Mapping[str, int] | None = None) -> list[Any]:
    return [
        compute.TargetRegionArgs(
            name=region.name,
            regional_replica_count=spec.replicas_for(build, region, kept),
            storage_account_type=build.storage_type,
            encryption=regional_encryption(spec, build, region.disk_encryption_set_id),
        )
        for region in spec.regions_of(build)
    ]


def regional_encryption(spec: PipelineSpec, build: BuildSpec, des: str | None) -> Any:
    """One region's replicas under customer-managed keys: the OS disk and every data disk
    the version carries (its own and its ancestors'), by LUN. A confidential stack's
    replicas carry the build VM's confidential OS-disk encryption instead (platform keys:
    the config rules refuse a disk encryption set there)."""
    confidential = encryption_type(spec)
    if confidential is not None:
        return compute.EncryptionImagesArgs(os_disk_image=compute.OSDiskImageEncryptionArgs(
            security_profile=compute.OSDiskImageSecurityProfileArgs(
                confidential_vm_encryption_type=compute.ConfidentialVMEncryptionType(
                    IMAGE_ENCRYPTION[confidential]))))
    if des is None:
        return None
    return compute.EncryptionImagesArgs(
        os_disk_image=compute.OSDiskImageEncryptionArgs(disk_encryption_set_id=des),
        data_disk_images=[
            compute.DataDiskImageEncryptionArgs(lun=lun, disk_encryption_set_id=des)
            for lun in sorted(image_disks(spec, build.version))] or None)


def _register(ctx: CaptureContext) -> pulumi.Output[str]:
    build = ctx.build
    assert ctx.gallery is not None
    version = compute.GalleryImageVersion(
        naming.child_name(ctx.name, "version"),
        gallery_name=ctx.gallery.gallery_name,
        gallery_image_name=ctx.gallery.image_name,
        gallery_image_version_name=build.version,
        # An existing definition's group (and, through its provider, subscription).
        resource_group_name=ctx.gallery.resource_group_name,
        location=ctx.spec.location,
        storage_profile=storage_profile(ctx),
        publishing_profile=compute.GalleryImageVersionPublishingProfileArgs(
            target_regions=target_regions(ctx.spec, build, ctx.kept_replicas),
            # A version to validate is created excluded and taken into latest by its
            # publication, once it passed (vmimage/components/validation.py); registered
            # as Azure then holds it. A revoked or retained one leaves latest in place.
            exclude_from_latest=ctx.exclude_from_latest,
            end_of_life_date=build.end_of_life.isoformat() + "T00:00:00Z"
            if build.end_of_life else None,
            storage_account_type=build.storage_type,
            # Set only when Shallow: versions captured before the key existed are Full
            # already, and the mode cannot change on a version.
            replication_mode=compute.ReplicationMode.SHALLOW
            if build.replication_mode == "Shallow" else None,
        ),
        tags=ctx.tags,
        opts=pulumi.ResourceOptions.merge(protected(ctx), pulumi.ResourceOptions(
            provider=ctx.gallery.provider)),
    )
    return version.id


def storage_profile(ctx: CaptureContext) -> Any:
    """What the version is made of: the generalized build VM (OS disk and every data
    disk, LUNs kept), or an imported VHD's blobs."""
    vhd = ctx.build.from_.vhd
    if vhd is None:
        return compute.GalleryImageVersionStorageProfileArgs(
            source=compute.GalleryArtifactVersionFullSourceArgs(
                virtual_machine_id=ctx.source_vm_id))

    def blob(uri: str) -> Any:
        return compute.GalleryDiskImageSourceArgs(uri=uri,
                                                  storage_account_id=vhd.storage_account_id)
    return compute.GalleryImageVersionStorageProfileArgs(
        os_disk_image=compute.GalleryOSDiskImageArgs(source=blob(vhd.uri)),
        data_disk_images=[compute.GalleryDataDiskImageArgs(lun=d.lun, source=blob(d.uri))
                          for d in vhd.data_disks] or None)


def _lookup(spec: PipelineSpec, build: BuildSpec, reads: CloudReads | None) -> Any:
    assert spec.gallery is not None
    existing = spec.gallery.existing
    if existing is not None and reads is not None:
        # The definition may be in another subscription, whose provider is registered
        # only later (vmimage/components/image.py): the SDK reads it with the stack's
        # credential there (in the stack's own through the stack's client).
        return reads.gallery_image_version(
            existing.subscription, existing.resource_group, spec.gallery.gallery_name,
            spec.gallery.definition_name, build.version)
    return compute.get_gallery_image_version(
        resource_group_name=existing.resource_group if existing else spec.resource_group,
        gallery_name=spec.gallery.gallery_name, gallery_image_name=spec.gallery.definition_name,
        gallery_image_version_name=build.version)


TARGET = CaptureTarget(rules=RULES, register=_register, lookup=_lookup)
