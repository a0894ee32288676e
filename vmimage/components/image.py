"""Where images live: the gallery and image definition (once per pipeline), and per build
its images, one per capture target (vmimage/capture/). Protected by default: an image is
the one thing here that cannot be rebuilt byte for byte."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pulumi
from pulumi_azure_native import Provider, compute

from vmimage.azure import naming
from vmimage.azure.auth import SECRETS, AuthSettings, argument_name, provider_arguments
from vmimage.capture import targets_of
from vmimage.capture.target import CaptureContext
from vmimage.config.definition import wanted_definition
from vmimage.config.fingerprint import Capture
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.config.publication import exclude_from_latest
from vmimage.parts import vm_profile
from vmimage.vocabulary import (
    FINGERPRINT_TAG,
    IMAGE_CAPTURE,
    IMAGE_GALLERY,
    RETENTION_TAG,
    REVOKED_TAG,
)


def definition_features(spec: PipelineSpec) -> list[compute.GalleryImageFeatureArgs]:
    """Features of the image definition; set once, as Azure cannot add them later."""
    return [compute.GalleryImageFeatureArgs(name=name, value=value)
            for name, value in wanted_definition(spec).features]


def purchase_plan(spec: PipelineSpec) -> compute.ImagePurchasePlanArgs | None:
    """The definition's purchase plan: what a marketplace source with a plan passes on to
    every VM made from the image (they must name it too)."""
    plan = wanted_definition(spec).purchase_plan
    if plan is None:
        return None
    publisher, product, plan_name = plan
    return compute.ImagePurchasePlanArgs(name=plan_name, product=product, publisher=publisher)


def provider_login(login: AuthSettings) -> dict[str, Any]:
    """An explicit provider's login arguments: the stack's own (only the default provider
    reads its config), each credential a Pulumi secret."""
    secrets = {argument_name(key) for key in SECRETS}
    return {key: pulumi.Output.secret(value) if key in secrets else value
            for key, value in provider_arguments(login).items() if key != "subscription_id"}


@dataclass(frozen=True)
class ImageGalleryArgs:
    spec: PipelineSpec
    """The validated pipeline spec (gallery and image definition names, OS, generation)."""
    resource_group_name: pulumi.Input[str]
    """Resource group the gallery lives in (when the stack creates it)."""
    deployment_subscription: str | None = None
    """The subscription the stack deploys into (None: not known here): an existing
    definition in another one is written to through a provider of its own."""
    login: AuthSettings = field(default_factory=lambda: AuthSettings({}))
    """The stack's azure-native login (its config), which that provider signs in with."""


class ImageGallery(pulumi.ComponentResource):
    gallery_name: pulumi.Output[str]
    image_name: pulumi.Output[str]
    """Name of the image definition that every version of this pipeline belongs to."""
    image_id: pulumi.Output[str]
    resource_group_name: pulumi.Output[str]
    """Resource group of the gallery (an existing definition's may be another)."""
    provider: pulumi.ProviderResource | None
    """The provider versions are written with: None (the stack's), or one for an existing
    definition's subscription."""

    def __init__(
        self, name: str, args: ImageGalleryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(IMAGE_GALLERY, name, None, opts)
        spec = args.spec
        assert spec.gallery is not None
        self.provider = None
        existing = spec.gallery.existing
        if existing is not None:
            # Someone else's definition: read and checked before anything registered
            # (vmimage/stack/definitions.py); the stack only adds versions to it.
            self.gallery_name = pulumi.Output.from_input(existing.names[0])
            self.image_name = pulumi.Output.from_input(existing.names[1])
            self.image_id = pulumi.Output.from_input(str(existing))
            self.resource_group_name = pulumi.Output.from_input(existing.resource_group)
            if args.deployment_subscription is not None and \
                    existing.subscription.lower() != args.deployment_subscription.lower():
                # azure-native resources take no subscription: another subscription's
                # are written through an explicit provider configured with it.
                self.provider = Provider(naming.child_name(name, "subscription"),
                                         **provider_login(args.login),
                                         subscription_id=existing.subscription,
                                         opts=pulumi.ResourceOptions(parent=self))
            self.register_outputs({"galleryName": self.gallery_name,
                                   "imageId": self.image_id})
            return
        protected = pulumi.ResourceOptions(parent=self, protect=spec.protect_images)
        gallery = compute.Gallery(
            naming.child_name(name, "gallery"),
            gallery_name=spec.gallery.gallery_name,
            resource_group_name=args.resource_group_name,
            location=spec.location,
            description=f"vmimage pipeline images ({spec.resource_group})",
            opts=protected,
        )
        image = spec.gallery.image
        want = wanted_definition(spec)
        definition = compute.GalleryImage(
            naming.child_name(name, "definition"),
            gallery_name=gallery.name,
            gallery_image_name=spec.gallery.definition_name,
            resource_group_name=args.resource_group_name,
            location=spec.location,
            os_type=compute.OperatingSystemTypes(want.os_type),
            os_state=compute.OperatingSystemStateTypes(want.os_state),
            hyper_v_generation=want.hyper_v_generation,
            # Required without imageId (vmimage/config/definition.py): set here.
            identifier=compute.GalleryImageIdentifierArgs(
                publisher=image.publisher or "", offer=image.offer or "", sku=image.sku or ""
            ),
            description=image.description,
            features=definition_features(spec) or None,
            # Set only when it differs from Azure's default (x64), so definitions made
            # before the key existed see no change (it cannot change on a definition).
            architecture=compute.Architecture.ARM64 if want.architecture == "Arm64" else None,
            purchase_plan=purchase_plan(spec),
            opts=protected,
        )
        self.gallery_name = gallery.name
        self.image_name = definition.name
        self.image_id = definition.id
        self.resource_group_name = pulumi.Output.from_input(args.resource_group_name)
        self.register_outputs({"galleryName": self.gallery_name, "imageId": self.image_id})


@dataclass(frozen=True)
class ImageCaptureArgs:
    spec: PipelineSpec
    """The validated pipeline spec (capture targets, regions, protection)."""
    build: BuildSpec
    """The build being captured: its version number, regions and publishing settings."""
    resource_group_name: pulumi.Input[str]
    """Resource group of the images."""
    source_vm_id: pulumi.Input[str] | None
    """The generalized VM: an output of the Generalize step, so capture cannot run first
    (None for a version imported from a VHD)."""
    gallery: ImageGallery | None
    """The pipeline's gallery, for a gallery target."""
    fingerprint: str | None = None
    """The build's fingerprint (vmimage/config/fingerprint.py), recorded on the image as a tag
    so a later run can tell whether this version's build changed."""
    kept_replicas: Mapping[str, int] = field(default_factory=dict)
    """A captured version's replicas by region, as Azure holds them."""
    provenance: Mapping[str, str] = field(default_factory=dict)
    """Tags saying what the version is made from and by which commit and release
    (vmimage/config/provenance.py): kept as recorded once captured."""
    vm_unique_id: pulumi.Input[str] | None = None
    """The build VM's unique id, for a VHD export of its disks."""
    environment: str | None = None
    """azure-native:environment, for a VHD export's SDK clients."""
    capture: Capture | None = None
    """What Azure holds of this version (None: nothing looked up, as for a new build)."""
    retention_keep: int | None = None
    """Past retention's keep (vmimage/config/retention.py): the `keep` it is past."""


class ImageCapture(pulumi.ComponentResource):
    """A build's images, one per capture target (vmimage/capture/)."""

    image_ids: dict[str, pulumi.Output[Any]]
    """Each target's image id (a VHD export: its blobs' URLs), by target name, the one
    clones boot from first."""

    def __init__(
        self, name: str, args: ImageCaptureArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(IMAGE_CAPTURE, name, None, opts)
        tags = vm_profile.tags("image", args.build.version)
        if args.fingerprint:
            tags[FINGERPRINT_TAG] = args.fingerprint
        tags.update(args.provenance)
        if args.build.revoked is not None:  # a tag changes in place, even when captured
            tags[REVOKED_TAG] = args.build.revoked
        # Past retention's keep: its images may go once its build leaves the config.
        keep = args.retention_keep
        if keep is not None:
            tags[RETENTION_TAG] = f"keep {keep}"
        context = CaptureContext(
            parent=self, name=name, spec=args.spec, build=args.build,
            resource_group_name=args.resource_group_name, source_vm_id=args.source_vm_id,
            gallery=args.gallery, tags=tags,
            protect=args.spec.protect_images and keep is None,
            kept_replicas=args.kept_replicas, vm_unique_id=args.vm_unique_id,
            environment=args.environment,
            exclude_from_latest=exclude_from_latest(args.build, args.capture))
        self.image_ids = {}
        for target in targets_of(args.spec):  # images first, then what waits for them
            registered = target.register(
                replace(context, after=tuple(self.image_ids.values())))
            if registered is not None:
                self.image_ids[target.key] = registered
        self.register_outputs({target: image for target, image in self.image_ids.items()})

    @property
    def clone_source_id(self) -> pulumi.Output[str]:
        """What clones (and builds from this version) boot from: the preferred target's
        image, a gallery version where there is one."""
        return next(iter(self.image_ids.values()))
