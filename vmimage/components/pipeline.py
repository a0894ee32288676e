"""The whole pipeline: network and gallery beside the build VMs; per build the guest
scripts, generalize and capture; then the clone groups.

Every edge that can be a data dependency is one: capture reads the Generalize step's
`vm_id`, clones read the capture's id, a child build boots from its parent's version id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_random as random
from pulumi_azure_native import resources

from vmimage.azure import naming
from vmimage.components.build_vm import BuildVm, BuildVmArgs
from vmimage.components.clones import CloneGroupArgs, CloneSet
from vmimage.components.guest_scripts import GuestScripts, GuestScriptsArgs, seal_for
from vmimage.components.image import ImageCapture, ImageCaptureArgs, ImageGallery, ImageGalleryArgs
from vmimage.components.network import Network, NetworkArgs
from vmimage.components.scale_set import CloneScaleSet
from vmimage.components.vm_profile import AdminCredentials
from vmimage.providers.generalize import (
    GENERALIZE_INPUTS,
    Generalize,
    GeneralizeArgs,
    subscription_of,
)
from vmimage.spec.fingerprint import Capture, fingerprint_to_record
from vmimage.spec.models import BuildSpec, PipelineSpec
from vmimage.vocabulary import IMAGE_PIPELINE


@dataclass(frozen=True)
class ImagePipelineArgs:
    spec: PipelineSpec
    """The validated pipeline spec."""
    captures: Mapping[str, Capture] = field(default_factory=dict)
    """Which builds Azure already holds an image of (vmimage/azure/captures.py): their
    build resources are registered frozen."""
    admin_password: pulumi.Input[str] | None = None
    """Windows admin password (a secret); generated when not given."""
    environment: str | None = None
    """azure-native:environment, for the Generalize step's SDK client."""


class ImagePipeline(pulumi.ComponentResource):
    image_version_ids: dict[str, pulumi.Output[str]]
    managed_image_ids: dict[str, pulumi.Output[str]]
    build_vm_states: dict[str, pulumi.Output[dict[str, str]]]
    clones: dict[str, pulumi.Output[list[dict[str, str]]] | pulumi.Output[dict[str, Any]]]
    generated_password: pulumi.Output[str] | None
    gallery_image_id: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: ImagePipelineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(IMAGE_PIPELINE, name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        group = resources.ResourceGroup(
            naming.child_name(name, "rg"),
            resource_group_name=spec.resource_group,
            location=spec.location,
            opts=child,
        )
        rg_name = group.name
        net = Network(
            naming.child_name(name, "network"),
            NetworkArgs(resource_group_name=rg_name, location=spec.location, spec=spec.network),
            opts=child,
        )
        gallery = (
            ImageGallery(
                naming.child_name(name, "gallery"),
                ImageGalleryArgs(spec=spec, resource_group_name=rg_name),
                opts=child,
            )
            if spec.uses_gallery
            else None
        )
        self.generated_password = None
        admin = AdminCredentials(
            username=spec.admin.username,
            ssh_public_key=spec.admin.ssh_public_key,
            password=self._password(name, spec, args.admin_password),
        )

        captures: dict[str, ImageCapture] = {}
        self.build_vm_states = {}
        # Oldest first: a child build boots from its parent's captured version.
        for build in build_order(spec):
            parent_id = captures[build.from_.version].version_id if build.from_.version else None
            prefix = naming.child_name(name, f"v{naming.version_slug(build.version)}")
            if build.retired:
                # The build VM is gone; the captured image stays exactly as it was, its
                # source recorded as the same ARM id the Generalize step reported.
                source_vm_id = retired_vm_id(group.id, spec, build)
                self.build_vm_states[build.version] = pulumi.Output.from_input(
                    {"powerState": "deleted", "osState": "retired"}
                )
            else:
                source_vm_id = self._build(prefix, spec, build, args, rg_name, net, admin,
                                           parent_id)
            captures[build.version] = ImageCapture(
                naming.child_name(prefix, "capture"),
                ImageCaptureArgs(
                    spec=spec, build=build, resource_group_name=rg_name,
                    source_vm_id=source_vm_id, gallery=gallery,
                    fingerprint=fingerprint_to_record(spec, build,
                                                      args.captures.get(build.version)),
                ),
                opts=child,
            )

        self.image_version_ids = {
            v: c.version_id for v, c in captures.items() if c.version_id is not None
        }
        self.managed_image_ids = {
            v: c.managed_image_id for v, c in captures.items() if c.managed_image_id is not None
        }
        self.gallery_image_id = gallery.image_id if gallery else None
        self.clones = {}
        for clone in spec.clones:
            version = spec.resolve_version(clone.version)
            assert version is not None  # the spec guarantees it
            group_args = CloneGroupArgs(
                spec=spec, clone=clone, version=version,
                image_id=captures[version].clone_source_id,
                resource_group_name=rg_name, subnet_id=net.subnet_id, admin=admin,
            )
            group_name = naming.child_name(name, f"clones-{clone.name}")
            if clone.kind == "scaleSet":
                # One scale set, however many instances: registrations do not grow with count.
                scale_set = CloneScaleSet(group_name, group_args, opts=child)
                self.clones[clone.name] = pulumi.Output.from_input(
                    {"scaleSet": scale_set.scale_set_name, "instances": scale_set.instances}
                )
            else:
                self.clones[clone.name] = CloneSet(group_name, group_args, opts=child).members
        self.register_outputs(
            {
                "imageVersionIds": self.image_version_ids,
                "galleryImageId": self.gallery_image_id,
                "managedImageIds": self.managed_image_ids,
                "buildVmStates": self.build_vm_states,
                "clones": self.clones,
            }
        )

    def _build(
        self,
        prefix: str,
        spec: PipelineSpec,
        build: BuildSpec,
        args: ImagePipelineArgs,
        rg_name: pulumi.Output[str],
        net: Network,
        admin: AdminCredentials,
        parent_id: pulumi.Output[str] | None,
    ) -> pulumi.Output[str]:
        """Build VM -> guest scripts -> generalize; returns the generalized VM's id."""
        child = pulumi.ResourceOptions(parent=self)
        # Captured already: the VM is generalized and Azure refuses to modify it, so none
        # of its resources may change again (vmimage/azure/captures.py).
        capture = args.captures.get(build.version)
        frozen = capture is not None and capture.captured
        legacy = frozen and capture is not None and capture.fingerprint is None
        vm = BuildVm(
            naming.child_name(prefix, "build"),
            BuildVmArgs(
                spec=spec, build=build, resource_group_name=rg_name,
                subnet_id=net.subnet_id, admin=admin, parent_image_id=parent_id,
                frozen=frozen,
            ),
            opts=child,
        )
        scripts = GuestScripts(
            naming.child_name(prefix, "scripts"),
            GuestScriptsArgs(
                spec=spec, build=build, resource_group_name=rg_name, vm_name=vm.vm_name,
                vm=vm.vm, frozen=frozen, legacy_deprovision=legacy,
            ),
            opts=child,
        )
        seal = seal_for(spec, build)
        generalized = Generalize(
            naming.child_name(prefix, "generalize"),
            GeneralizeArgs(
                resource_group_name=rg_name,
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
                subscription_id=vm.vm_id.apply(subscription_of),
                environment=args.environment,
            ),
            # The last customize step must have finished before the seal; no output of
            # it feeds generalize, hence depends_on (the VM itself is a data dependency).
            opts=pulumi.ResourceOptions(parent=self,
                                        depends_on=[scripts.last] if scripts.last else [],
                                        ignore_changes=list(GENERALIZE_INPUTS) if frozen
                                        else None),
        )
        self.build_vm_states[build.version] = pulumi.Output.all(
            generalized.power_state, generalized.os_state
        ).apply(lambda states: {"powerState": states[0], "osState": states[1]})
        return generalized.vm_id

    def _password(
        self, name: str, spec: PipelineSpec, configured: pulumi.Input[str] | None
    ) -> pulumi.Input[str] | None:
        if not spec.windows:
            return None  # Linux: SSH keys only, password authentication off
        if configured is not None:
            return pulumi.Output.secret(configured)
        generated = random.RandomPassword(
            naming.child_name(name, "admin-password"),
            length=24,
            special=True,
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            min_special=1,
            # Characters Windows and the Azure API both accept in a password.
            override_special="!#%*()-_=+[]{}:?",
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Secret here, not only by the engine's additionalSecretOutputs: an engine or mock
        # that does not honour them must still never see the password in plain text.
        self.generated_password = pulumi.Output.secret(generated.result)
        return self.generated_password


def build_order(spec: PipelineSpec) -> list[BuildSpec]:
    return sorted(spec.builds, key=lambda b: naming.parse_version(b.version))


def retired_vm_id(
    resource_group_id: pulumi.Input[str], spec: PipelineSpec, build: BuildSpec
) -> pulumi.Output[str]:
    """The ARM id the build VM had: what the image version recorded as its source. The
    resource group's ARM id carries the subscription, so no lookup is needed."""
    return pulumi.Output.concat(
        resource_group_id, "/providers/Microsoft.Compute/virtualMachines/",
        naming.build_vm_name(spec.image_name, build.version),
    )
