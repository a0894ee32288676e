"""Where images live: the gallery and image definition (once per pipeline), and per build
the captured image version and/or managed image. Protected by default: an image is the
one thing here that cannot be rebuilt byte for byte."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import compute

from vmimage.azure import naming
from vmimage.components import vm_profile
from vmimage.spec.models import BuildSpec, PipelineSpec
from vmimage.vocabulary import FINGERPRINT_TAG, IMAGE_CAPTURE, IMAGE_GALLERY

TRUSTED_LAUNCH_FEATURE = compute.GalleryImageFeatureArgs(
    name="SecurityType", value="TrustedLaunchSupported"
)


def definition_features(spec: PipelineSpec) -> list[compute.GalleryImageFeatureArgs]:
    """Features of the image definition; set once, as Azure cannot add them later."""
    assert spec.gallery is not None
    features = [TRUSTED_LAUNCH_FEATURE] if spec.trusted_launch else []
    controllers = spec.gallery.image.disk_controller_types
    if "NVMe" in controllers:  # SCSI alone is what an unmarked definition means
        features.append(compute.GalleryImageFeatureArgs(
            name="DiskControllerTypes", value=",".join(controllers)))
    return features


@dataclass(frozen=True)
class ImageGalleryArgs:
    spec: PipelineSpec
    """The validated pipeline spec (gallery and image definition names, OS, generation)."""
    resource_group_name: pulumi.Input[str]
    """Resource group the gallery lives in."""


class ImageGallery(pulumi.ComponentResource):
    gallery_name: pulumi.Output[str]
    image_name: pulumi.Output[str]
    """Name of the image definition that every version of this pipeline belongs to."""
    image_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: ImageGalleryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(IMAGE_GALLERY, name, None, opts)
        spec = args.spec
        assert spec.gallery is not None
        protected = pulumi.ResourceOptions(parent=self, protect=spec.protect_images)
        gallery = compute.Gallery(
            naming.child_name(name, "gallery"),
            gallery_name=spec.gallery.name,
            resource_group_name=args.resource_group_name,
            location=spec.location,
            description=f"vmimage pipeline images ({spec.resource_group})",
            opts=protected,
        )
        image = spec.gallery.image
        definition = compute.GalleryImage(
            naming.child_name(name, "definition"),
            gallery_name=gallery.name,
            gallery_image_name=image.name,
            resource_group_name=args.resource_group_name,
            location=spec.location,
            os_type=compute.OperatingSystemTypes.WINDOWS
            if spec.windows
            else compute.OperatingSystemTypes.LINUX,
            os_state=compute.OperatingSystemStateTypes.GENERALIZED,
            hyper_v_generation=image.generation,
            identifier=compute.GalleryImageIdentifierArgs(
                publisher=image.publisher, offer=image.offer, sku=image.sku
            ),
            description=image.description,
            features=definition_features(spec) or None,
            opts=protected,
        )
        self.gallery_name = gallery.name
        self.image_name = definition.name
        self.image_id = definition.id
        self.register_outputs({"galleryName": self.gallery_name, "imageId": self.image_id})


@dataclass(frozen=True)
class ImageCaptureArgs:
    spec: PipelineSpec
    """The validated pipeline spec (capture mode, regions, protection)."""
    build: BuildSpec
    """The build being captured: its version number, regions and publishing settings."""
    resource_group_name: pulumi.Input[str]
    """Resource group of the gallery and managed images."""
    source_vm_id: pulumi.Input[str]
    """The generalized VM: an output of the Generalize step, so capture cannot run first."""
    gallery: ImageGallery | None
    """Where the version goes; None when capturing a managed image only."""
    fingerprint: str | None = None
    """The build's fingerprint (vmimage/spec/fingerprint.py), recorded on the image as a tag
    so a later run can tell whether this version's build changed."""


def target_regions(spec: PipelineSpec, build: BuildSpec) -> list[compute.TargetRegionArgs]:
    return [
        compute.TargetRegionArgs(
            name=region.name,
            regional_replica_count=spec.replicas_for(build, region),
            storage_account_type=build.storage_type,
        )
        for region in spec.regions_of(build)
    ]


class ImageCapture(pulumi.ComponentResource):
    version_id: pulumi.Output[str] | None
    """Gallery image version id (None when capture is managedImage only)."""
    managed_image_id: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: ImageCaptureArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(IMAGE_CAPTURE, name, None, opts)
        spec, build = args.spec, args.build
        # A captured image is final: its source VM may be retired (deleted) later, or
        # reported by ARM with other casing, without that ever meaning a recapture.
        protected = pulumi.ResourceOptions(
            parent=self, protect=spec.protect_images,
            ignore_changes=["storageProfile.source", "sourceVirtualMachine"],
        )
        self.version_id = None
        self.managed_image_id = None
        tags = vm_profile.tags("image", build.version)
        if args.fingerprint:
            tags[FINGERPRINT_TAG] = args.fingerprint
        if spec.uses_gallery:
            assert args.gallery is not None
            version = compute.GalleryImageVersion(
                naming.child_name(name, "version"),
                gallery_name=args.gallery.gallery_name,
                gallery_image_name=args.gallery.image_name,
                gallery_image_version_name=build.version,
                resource_group_name=args.resource_group_name,
                location=spec.location,
                # The source VM carries the OS disk and every data disk; Azure captures
                # them all, LUNs kept.
                storage_profile=compute.GalleryImageVersionStorageProfileArgs(
                    source=compute.GalleryArtifactVersionFullSourceArgs(
                        virtual_machine_id=args.source_vm_id
                    )
                ),
                publishing_profile=compute.GalleryImageVersionPublishingProfileArgs(
                    target_regions=target_regions(spec, build),
                    exclude_from_latest=build.exclude_from_latest,
                    end_of_life_date=build.end_of_life.isoformat() + "T00:00:00Z"
                    if build.end_of_life
                    else None,
                    storage_account_type=build.storage_type,
                ),
                tags=tags,
                opts=protected,
            )
            self.version_id = version.id
        if spec.uses_managed_image:
            image = compute.Image(
                naming.child_name(name, "managed-image"),
                image_name=naming.managed_image_name(spec.image_name, build.version),
                resource_group_name=args.resource_group_name,
                location=spec.location,
                source_virtual_machine=compute.SubResourceArgs(id=args.source_vm_id),
                hyper_v_generation=spec.generation,
                tags=tags,
                opts=protected,
            )
            self.managed_image_id = image.id
        self.register_outputs(
            {"versionId": self.version_id, "managedImageId": self.managed_image_id}
        )

    @property
    def clone_source_id(self) -> pulumi.Output[str]:
        """What clones boot from: the gallery version where there is one."""
        source = self.version_id or self.managed_image_id
        assert source is not None
        return source
