"""A build's validation: after capture, a VM booted from the new version runs the
build's `validate` steps; only when they pass is the version published (taken into
`latest`, vmimage/providers/publish.py) and handed to clones and child builds. The
version is created excluded from latest, so a failed validation leaves it there.

The validation VM is deallocated by the publication: no compute is billed from then on;
its disks are, until the build is retired (they go with its build VM). A validation that
fails leaves the VM running, as it was, for a look at what failed; the next run retries
the step that failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import compute

from vmimage.azure import naming
from vmimage.components.guest_scripts import GuestScripts, GuestScriptsArgs
from vmimage.components.network import network_interface
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.parts import vm_profile
from vmimage.parts.frozen import frozen_inputs
from vmimage.parts.ordering import after_all
from vmimage.providers.publish import PUBLISH_INPUTS, Publish, PublishArgs
from vmimage.providers.vm_action import subscription_output
from vmimage.vocabulary import VALIDATION


@dataclass(frozen=True)
class ValidationArgs:
    spec: PipelineSpec
    build: BuildSpec
    resource_group_name: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    admin: vm_profile.AdminCredentials
    image_id: pulumi.Input[str]
    """The captured version: the validation VM boots it."""
    gallery_name: pulumi.Input[str]
    image_name: pulumi.Input[str]
    gallery_resource_group_name: pulumi.Input[str] | None = None
    """The gallery's group, when not the pipeline's (an existing definition's)."""
    gallery_subscription_id: str | None = None
    """The gallery's subscription, when it may not be the VM's (an existing definition's:
    the publication updates the version there)."""
    frozen: bool = False
    """Validated before (the build is captured): nothing of it changes again."""
    environment: str | None = None


class Validation(pulumi.ComponentResource):
    published: Publish
    """The publication: what clones and child builds wait for."""

    def __init__(self, name: str, args: ValidationArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(VALIDATION, name, None, opts)
        spec, build = args.spec, args.build
        azure_name = naming.build_vm_name(spec.image_name, build.version, "val")
        tags = vm_profile.tags("validation", build.version)
        nic = network_interface(
            naming.child_name(name, "nic"), nic_name=f"nic-{azure_name}",
            resource_group_name=args.resource_group_name, location=spec.location,
            subnet_id=args.subnet_id, public_ip=False, parent=self, tags=tags,
            frozen=args.frozen)
        vm_inputs: dict[str, Any] = vm_profile.from_image_inputs(
            spec, vm_name=azure_name, resource_group_name=args.resource_group_name,
            location=spec.location, size=build.size, version=build.version,
            image_id=args.image_id, os_disk_spec=build.os_disk, admin=args.admin,
            nic_id=nic.id, tags=tags, license_type=build.license_type)
        vm = compute.VirtualMachine(
            naming.child_name(name, "vm"), **vm_inputs,
            opts=pulumi.ResourceOptions(
                parent=self,
                additional_secret_outputs=["osProfile"] if args.admin.password is not None
                else None,
                ignore_changes=frozen_inputs(vm_inputs, args.frozen)))
        steps = GuestScripts(
            naming.child_name(name, "steps"),
            GuestScriptsArgs(spec=spec, build=build,
                             resource_group_name=args.resource_group_name,
                             vm_name=vm.name, vm=vm, vm_id=vm.id, vm_unique_id=vm.vm_id,
                             frozen=args.frozen, role="validate"),
            opts=pulumi.ResourceOptions(parent=self))
        self.published = Publish(
            naming.child_name(name, "publish"),
            PublishArgs(resource_group_name=args.resource_group_name, vm_name=vm.name,
                        vm_id=vm.id, vm_unique_id=vm.vm_id, location=spec.location,
                        subscription_id=subscription_output(vm.id),
                        environment=args.environment, gallery_name=args.gallery_name,
                        gallery_image_name=args.image_name,
                        gallery_resource_group_name=args.gallery_resource_group_name,
                        gallery_subscription_id=args.gallery_subscription_id,
                        gallery_image_version_name=build.version,
                        exclude_from_latest=build.excluded_from_latest),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=after_all([steps.last]),
                ignore_changes=list(PUBLISH_INPUTS) if args.frozen else None))
        self.register_outputs({"publishedAt": self.published.published_at})
