"""One `builds[]` entry, as one component: the build VM, its customize steps, the
Generalize step, and the capture of the generalized VM into images.

Before this component existed its children sat directly under ImagePipeline; each is
registered with an alias to that old parent, so a stack created then finds every one of
them (and, through the engine's inherited aliases, everything beneath) where it was:
nothing is replaced or deleted, protected images least of all.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from vmimage.azure import naming
from vmimage.components.build_vm import BuildVm, BuildVmArgs
from vmimage.components.guest_scripts import GuestScripts, GuestScriptsArgs, seal_for
from vmimage.components.image import ImageCapture, ImageCaptureArgs, ImageGallery
from vmimage.components.validation import Validation, ValidationArgs
from vmimage.config.fingerprint import Capture, fingerprint_to_record
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.parts.ordering import after_all
from vmimage.parts.vm_profile import AdminCredentials
from vmimage.providers.generalize import GENERALIZE_INPUTS, Generalize, GeneralizeArgs
from vmimage.providers.resume import Resume, ResumeArgs
from vmimage.providers.vm_action import subscription_output
from vmimage.vocabulary import IMAGE_BUILD

#: What a retired build reports instead of its (deleted) VM's power and OS state.
RETIRED_STATE = {"powerState": "deleted", "osState": "retired"}
#: What a build imported from a VHD reports: it never had a VM.
IMPORTED_STATE = {"powerState": "none", "osState": "imported"}


@dataclass(frozen=True)
class ImageBuildArgs:
    spec: PipelineSpec
    """The whole validated pipeline spec."""
    build: BuildSpec
    """The `builds[]` entry this component builds."""
    resource_group_name: pulumi.Input[str]
    resource_group_id: pulumi.Input[str]
    """The group's ARM id: a retired build's VM id is derived from it."""
    subnet_id: pulumi.Input[str]
    admin: AdminCredentials
    gallery: ImageGallery | None
    """Where the version is captured; None for managed images only."""
    parent_image_id: pulumi.Input[str] | None = None
    """The image of the build this one starts from (`from.version`), if any."""
    capture: Capture | None = None
    """What Azure already holds of this version: a captured build is registered frozen."""
    environment: str | None = None
    """azure-native:environment, for the Generalize step's SDK client."""
    retention_keep: int | None = None
    """Past retention's keep (vmimage/config/retention.py): the `keep` it is past."""
    evicted_at: str | None = None
    """The Spot build VM was found evicted (then): it is started before the steps."""


class ImageBuild(pulumi.ComponentResource):
    image: ImageCapture
    """The captured images: their ids, and the one clones boot from."""
    image_id: pulumi.Output[str]
    """What clones and child builds boot: the captured image, once validated (when the
    build has validate steps)."""
    vm_state: pulumi.Output[dict[str, str]]
    """The build VM's powerState and osState as the Generalize step left them."""
    step_digests: pulumi.Output[list[str | None]] | None
    """Each customize step's digest, from what its run commands hold (None: the build has
    no VM and so no run commands: imported, or retired)."""

    def __init__(
        self, name: str, args: ImageBuildArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(IMAGE_BUILD, name, None, opts)
        old_parent = opts.parent if opts is not None else None
        # Same name and type, under the pipeline: where stacks made before this component
        # recorded each child.
        child = pulumi.ResourceOptions(
            parent=self, aliases=[pulumi.Alias(parent=old_parent)] if old_parent else None)
        spec, build = args.spec, args.build
        source_vm_id: pulumi.Input[str] | None
        vm_unique_id: pulumi.Input[str] | None = None
        self.step_digests = None
        if build.imported:
            # The version is made from the VHD's blobs (vmimage/capture/gallery.py).
            source_vm_id = None
            self.vm_state = pulumi.Output.from_input(IMPORTED_STATE)
        elif build.retired:
            # The build VM is gone; the captured image stays exactly as it was, its source
            # recorded as the same ARM id the Generalize step reported.
            source_vm_id = retired_vm_id(args.resource_group_id, spec, build)
            self.vm_state = pulumi.Output.from_input(RETIRED_STATE)
        else:
            source_vm_id, vm_unique_id, self.vm_state = self._build_and_generalize(
                name, args, child)
        self.image = ImageCapture(
            naming.child_name(name, "capture"),
            ImageCaptureArgs(
                spec=spec, build=build, resource_group_name=args.resource_group_name,
                source_vm_id=source_vm_id, gallery=args.gallery,
                fingerprint=fingerprint_to_record(spec, build, args.capture),
                kept_replicas=args.capture.replicas if args.capture else {},
                provenance=args.capture.provenance if args.capture else {},
                vm_unique_id=vm_unique_id, environment=args.environment,
                capture=args.capture, retention_keep=args.retention_keep,
            ),
            opts=child,
        )
        self.image_id = self.image.clone_source_id
        if build.validate_steps and not build.retired:
            # A retired build's validation VM (its NIC, run commands, disks) goes with
            # its build VM; the version stays published as the validation left it.
            self.image_id = self._validate(name, args, child)
        self.register_outputs({"vmState": self.vm_state, "imageId": self.image_id})

    def _validate(self, name: str, args: ImageBuildArgs,
                  child: pulumi.ResourceOptions) -> pulumi.Output[str]:
        """Boot the captured version, run the validate steps, publish: the image id,
        known only once published."""
        assert args.gallery is not None  # the spec requires a gallery with validate
        existing = args.spec.gallery.existing if args.spec.gallery else None
        validation = Validation(
            naming.child_name(name, "validation"),
            ValidationArgs(spec=args.spec, build=args.build,
                           resource_group_name=args.resource_group_name,
                           subnet_id=args.subnet_id, admin=args.admin,
                           image_id=self.image.clone_source_id,
                           gallery_name=args.gallery.gallery_name,
                           image_name=args.gallery.image_name,
                           gallery_resource_group_name=args.gallery.resource_group_name
                           if existing else None,
                           gallery_subscription_id=existing.subscription if existing else None,
                           frozen=args.capture is not None and args.capture.captured,
                           environment=args.environment),
            opts=pulumi.ResourceOptions(parent=self))
        return pulumi.Output.all(self.image.clone_source_id,
                                 validation.published.published_at).apply(lambda v: v[0])

    def _build_and_generalize(
        self, name: str, args: ImageBuildArgs, child: pulumi.ResourceOptions,
    ) -> tuple[pulumi.Output[str], pulumi.Output[str], pulumi.Output[dict[str, str]]]:
        """Build VM -> guest scripts -> generalize: the generalized VM's id, its unique id
        and its state."""
        spec, build = args.spec, args.build
        # Captured already: the VM is generalized and Azure refuses to modify it, so none
        # of its resources may change again (vmimage/stack/captures.py).
        frozen = args.capture is not None and args.capture.captured
        legacy = frozen and args.capture is not None and args.capture.fingerprint is None
        vm = BuildVm(
            naming.child_name(name, "build"),
            BuildVmArgs(
                spec=spec, build=build, resource_group_name=args.resource_group_name,
                subnet_id=args.subnet_id, admin=args.admin,
                parent_image_id=args.parent_image_id, frozen=frozen,
            ),
            opts=child,
        )
        resumed = self._resume(name, args, vm, child) if args.evicted_at else None
        scripts = GuestScripts(
            naming.child_name(name, "scripts"),
            GuestScriptsArgs(
                spec=spec, build=build, resource_group_name=args.resource_group_name,
                vm_name=vm.vm_name, vm=vm.vm, vm_id=vm.vm_id, vm_unique_id=vm.vm_unique_id,
                frozen=frozen, legacy_deprovision=legacy, after=resumed,
            ),
            opts=child,
        )
        self.step_digests = scripts.step_digests
        last_step = scripts.last or resumed
        seal = seal_for(spec, build)
        generalized = Generalize(
            naming.child_name(name, "generalize"),
            GeneralizeArgs(
                resource_group_name=args.resource_group_name,
                vm_name=vm.vm_name,
                vm_id=vm.vm_id,
                vm_unique_id=vm.vm_unique_id,
                location=spec.location,
                os=seal.os,
                seal_script=seal.script,
                seal_checks=seal.checks,
                timeout_seconds=seal.timeout_s,
                # Named although the step would find it in vm_id itself: stacks recorded
                # it before, and an unchanged input keeps their previews quiet.
                subscription_id=subscription_output(vm.vm_id),
                environment=args.environment,
            ),
            # The last customize step must have finished before the seal; no output of
            # it feeds generalize, hence depends_on (the VM itself is a data dependency).
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                depends_on=after_all([last_step]),
                ignore_changes=list(GENERALIZE_INPUTS) if frozen else None)),
        )
        state = pulumi.Output.all(generalized.power_state, generalized.os_state).apply(
            lambda states: {"powerState": states[0], "osState": states[1]})
        return generalized.vm_id, vm.vm_unique_id, state

    @staticmethod
    def _resume(name: str, args: ImageBuildArgs, vm: BuildVm,
                child: pulumi.ResourceOptions) -> Resume:
        """Start the evicted Spot build VM before the steps not done yet."""
        assert args.evicted_at is not None
        return Resume(
            naming.child_name(name, "resume"),
            ResumeArgs(resource_group_name=args.resource_group_name, vm_name=vm.vm_name,
                       vm_id=vm.vm_id, vm_unique_id=vm.vm_unique_id,
                       location=args.spec.location, evicted_at=args.evicted_at,
                       subscription_id=subscription_output(vm.vm_id),
                       environment=args.environment),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(deleted_with=vm.vm)),
        )


def retired_vm_id(
    resource_group_id: pulumi.Input[str], spec: PipelineSpec, build: BuildSpec
) -> pulumi.Output[str]:
    """The ARM id the build VM had: what the image version recorded as its source. The
    resource group's ARM id carries the subscription, so no lookup is needed."""
    return pulumi.Output.concat(
        resource_group_id, "/providers/Microsoft.Compute/virtualMachines/",
        naming.build_vm_name(spec.image_name, build.version),
    )

