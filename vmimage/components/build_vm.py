"""The build VM: a NIC and a VM with its managed data disks, booted from a marketplace
image or from an earlier version of this pipeline's gallery image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import compute

from vmimage.azure import naming
from vmimage.components.network import network_interface
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.parts import vm_profile
from vmimage.parts.disks import build_data_disks
from vmimage.parts.frozen import frozen_inputs
from vmimage.vocabulary import BUILD_VM


@dataclass(frozen=True)
class BuildVmArgs:
    spec: PipelineSpec
    """The whole validated pipeline spec (OS, security defaults, location)."""
    build: BuildSpec
    """The image version this VM builds."""
    resource_group_name: pulumi.Input[str]
    """Resource group of the build VM."""
    subnet_id: pulumi.Input[str]
    """Subnet of the build VM's NIC (no public IP: it is reached by run commands)."""
    admin: vm_profile.AdminCredentials
    """SSH key (Linux) or secret password (Windows)."""
    parent_image_id: pulumi.Input[str] | None = None
    """Gallery image version id to boot from when `from.version` names a parent."""
    frozen: bool = False
    """The build is captured: its VM is generalized and may never change again, so every
    input is ignored from now on (Azure would refuse the PUT)."""


def image_reference(
    build: BuildSpec, parent_image_id: pulumi.Input[str] | None
) -> compute.ImageReferenceArgs:
    if build.from_.version is not None:
        if parent_image_id is None:
            raise ValueError(f"build {build.version}: parent image id missing")
        return compute.ImageReferenceArgs(id=parent_image_id)
    if build.from_.image_id is not None:  # another gallery's version, a managed image
        return compute.ImageReferenceArgs(id=build.from_.image_id)
    market = build.from_.marketplace
    assert market is not None  # the spec guarantees exactly one source
    return compute.ImageReferenceArgs(
        publisher=market.publisher, offer=market.offer, sku=market.sku, version=market.version
    )


def build_identity(build: BuildSpec) -> compute.VirtualMachineIdentityArgs | None:
    """The user-assigned identities steps use to fetch artifacts (no secrets in config)."""
    if not build.identities:
        return None
    return compute.VirtualMachineIdentityArgs(
        type=compute.ResourceIdentityType.USER_ASSIGNED,
        user_assigned_identities=list(build.identities))


def spot_settings(build: BuildSpec) -> dict[str, Any]:
    """Spot: evicted to deallocated (the disks and the work on them stay), never for price
    (max price -1: up to the pay-as-you-go price). Nothing for a regular VM."""
    if not build.spot:
        return {}
    return dict(priority=compute.VirtualMachinePriorityTypes.SPOT,
                eviction_policy=compute.VirtualMachineEvictionPolicyTypes.DEALLOCATE,
                billing_profile=compute.BillingProfileArgs(max_price=-1))


class BuildVm(pulumi.ComponentResource):
    vm: compute.VirtualMachine
    """The VM itself: its run commands and NIC are deleted with it."""
    vm_id: pulumi.Output[str]
    """ARM id of the build VM."""
    vm_name: pulumi.Output[str]
    """Azure name of the build VM."""
    vm_unique_id: pulumi.Output[str]
    """The VM's unique id: new whenever the VM is recreated, even under the same name."""

    def __init__(
        self, name: str, args: BuildVmArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(BUILD_VM, name, None, opts)
        spec, build = args.spec, args.build
        azure_name = naming.build_vm_name(spec.image_name, build.version)
        nic = network_interface(
            naming.child_name(name, "nic"),
            nic_name=f"nic-{azure_name}",
            resource_group_name=args.resource_group_name,
            location=spec.location,
            subnet_id=args.subnet_id,
            public_ip=False,  # the build VM is reached through run commands only
            parent=self,
            tags=vm_profile.tags("build", build.version),
            frozen=args.frozen,
        )
        vm_inputs: dict[str, Any] = dict(
            vm_name=azure_name,
            resource_group_name=args.resource_group_name,
            location=spec.location,
            hardware_profile=compute.HardwareProfileArgs(vm_size=build.size),
            plan=vm_profile.plan(spec, build.version),
            storage_profile=compute.StorageProfileArgs(
                image_reference=image_reference(build, args.parent_image_id),
                os_disk=vm_profile.os_disk(spec, build.os_disk),
                data_disks=build_data_disks(spec, build),
            ),
            os_profile=vm_profile.os_profile(spec, azure_name, args.admin),
            # Replaced delete-first (below), so its NIC must outlive it: Pulumi deletes
            # the NIC itself when the build is retired.
            network_profile=vm_profile.network_profile(nic.id, delete_with_vm=False),
            security_profile=vm_profile.security_profile(spec),
            diagnostics_profile=vm_profile.diagnostics_profile(spec),
            identity=build_identity(build),
            **spot_settings(build),
            **vm_profile.licensed(build.license_type),
            tags=vm_profile.tags("build", build.version),
        )
        vm = compute.VirtualMachine(
            naming.child_name(name, "vm"),
            **vm_inputs,
            opts=pulumi.ResourceOptions(
                parent=self,
                # The password is inside osProfile: the engine must keep the whole output
                # secret in state (the policy pack checks this).
                additional_secret_outputs=["osProfile"] if args.admin.password is not None
                else None,
                # A build VM is scaffolding with a fixed name: a replacement (say, a new
                # size before capture) must free the name first, or ARM refuses the PUT.
                delete_before_replace=True,
                ignore_changes=frozen_inputs(vm_inputs, args.frozen),
            ),
        )
        self.vm = vm
        self.vm_id = vm.id
        self.vm_unique_id = vm.vm_id
        self.vm_name = vm.name
        self.register_outputs({"vmId": self.vm_id, "vmName": self.vm_name})
