"""Clones: N VMs stamped from a captured image, each with its own NIC and disks.

Rollouts: a clone's Azure name carries its image version, so moving a group to a new
version creates new VMs beside the old ones (no PropertyChangeNotAllowed, no name
collision); Pulumi deletes the old ones only after their successors exist. With
`rollout.batchSize`, each batch waits for the batch before it; with `rollout.health`,
for the batch before it to report healthy through the Application Health extension
(and `pauseSeconds` more), so an unhealthy batch stops the rollout, and for the old VMs
that batch replaces to be deleted (vmimage/providers/retire.py): one batch runs twice,
not the whole group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import compute, network

from vmimage.azure import naming
from vmimage.components.network import network_interface
from vmimage.config.models import CloneSpec, PipelineSpec
from vmimage.parts import bootstrap, health, vm_profile
from vmimage.parts.ordering import after_all
from vmimage.providers.health_gate import HealthGate, HealthGateArgs
from vmimage.providers.retire import RetireBatch, RetireBatchArgs
from vmimage.providers.vm_action import subscription_output
from vmimage.vocabulary import CLONE_SET, GROUP_TAG


@dataclass(frozen=True)
class CloneGroupArgs:
    """One clone group, for either kind: CloneSet (VMs) or CloneScaleSet."""

    spec: PipelineSpec
    """The validated pipeline spec."""
    clone: CloneSpec
    """The clone group: size, count, zones, rollout."""
    version: str
    """The resolved image version ('latest' already turned into a number)."""
    image_id: pulumi.Input[str]
    """Gallery image version id or managed image id: an output of the capture, so the
    clones wait for it."""
    resource_group_name: pulumi.Input[str]
    """Resource group of the clones."""
    subnet_id: pulumi.Input[str]
    """Subnet of the clones' NICs."""
    admin: vm_profile.AdminCredentials
    """SSH key (Linux) or secret password (Windows)."""


def batches(count: int, batch_size: int | None) -> list[range]:
    """Clone indexes grouped into rollout batches; one batch when no size is given."""
    size = batch_size or max(count, 1)
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


class CloneSet(pulumi.ComponentResource):
    vm_names: list[str]
    """Azure names of the clone VMs, in index order."""
    members: pulumi.Output[list[dict[str, str | None]]]
    """Each clone's {"name", "privateIp"}, in index order."""

    def __init__(
        self, name: str, args: CloneGroupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(CLONE_SET, name, None, opts)
        spec, clone = args.spec, args.clone
        region = spec.clone_region(clone)
        self.vm_names = []
        self._private_ips: list[pulumi.Output[str | None]] = []
        self._bootstrap = bootstrap.of_clone(clone, spec.os)  # encoded once for the group
        previous_batch: list[pulumi.CustomResource] = []
        for number, batch in enumerate(batches(clone.count, clone.rollout.batch_size)):
            current_batch: list[pulumi.CustomResource] = []
            first: compute.VirtualMachine | None = None
            for index in batch:
                vm = self._clone(name, args, region, index, previous_batch)
                first = first or vm
                # With a health probe, what the next batch waits for is this clone seen
                # healthy, not merely created...
                current_batch.append(self._gate(name, args, region, index, vm)
                                     if clone.rollout.health else vm)
            if clone.rollout.health and first is not None:
                # ...and the old VMs it replaces gone: one batch runs twice, not the fleet.
                current_batch.append(self._retire(name, args, region, number, batch, first,
                                                  current_batch))
            previous_batch = current_batch
        names = tuple(self.vm_names)

        def members(ips: list[str | None]) -> list[dict[str, str | None]]:
            return [{"name": n, "privateIp": ip} for n, ip in zip(names, ips, strict=True)]

        self.members = pulumi.Output.all(*self._private_ips).apply(members)
        self.register_outputs({"vmNames": self.vm_names, "members": self.members})

    def _clone(
        self,
        name: str,
        args: CloneGroupArgs,
        region: str,
        index: int,
        after: list[pulumi.CustomResource],
    ) -> compute.VirtualMachine:
        spec, clone = args.spec, args.clone
        azure_name = naming.clone_vm_name(clone.name, args.version, index)
        zone = clone.zones[index % len(clone.zones)] if clone.zones else None
        nic = network_interface(
            naming.child_name(name, f"{index}-nic"),
            nic_name=f"nic-{azure_name}",
            resource_group_name=args.resource_group_name,
            location=region,
            subnet_id=args.subnet_id,
            public_ip=spec.network.public_ip,
            parent=self,
            tags=vm_profile.tags("clone", args.version, **{GROUP_TAG: clone.name}),
        )
        data = self._bootstrap
        vm = compute.VirtualMachine(
            naming.child_name(name, str(index)),
            zones=[zone] if zone else None,
            **vm_profile.from_image_inputs(
                spec, vm_name=azure_name, resource_group_name=args.resource_group_name,
                location=region, size=clone.size, version=args.version,
                image_id=args.image_id, os_disk_spec=clone.os_disk, admin=args.admin,
                nic_id=nic.id, license_type=clone.license_type,
                user_data=data.user_data, custom_data=data.custom_data,
                tags=vm_profile.tags("clone", args.version, **{GROUP_TAG: clone.name},
                                     **data.tag)),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=after_all(after),  # stand-ins: many batches are a long chain
                # The password and customData are inside osProfile, userData beside it:
                # keep those outputs secret in state whole.
                additional_secret_outputs=data.vm_secret_outputs(
                    args.admin.password is not None),
            ),
        )
        self.vm_names.append(azure_name)
        # Pick the address out per NIC: handing the whole ipConfigurations list to
        # Output.all would have the SDK wrap every nested value in an Output of its own
        # (bench/README.md, B1).
        self._private_ips.append(nic.ip_configurations.apply(_first_private_ip))
        return vm


    def _gate(self, name: str, args: CloneGroupArgs, region: str, index: int,
              vm: compute.VirtualMachine) -> pulumi.CustomResource:
        """The clone's Application Health extension, and a gate that waits for it to say
        healthy (then the rollout's pause)."""
        spec, clone = args.spec, args.clone
        probe = clone.rollout.health
        assert probe is not None
        extension = compute.VirtualMachineExtension(
            naming.child_name(name, f"{index}-health"),
            vm_extension_name="health",
            vm_name=vm.name,
            resource_group_name=args.resource_group_name,
            location=region,
            publisher=health.PUBLISHER,
            type=health.extension_type(spec),
            type_handler_version=health.EXTENSION_VERSION,
            auto_upgrade_minor_version=True,
            settings=health.probe_settings(spec, clone),
            opts=pulumi.ResourceOptions(parent=self, deleted_with=vm),
        )
        return HealthGate(
            naming.child_name(name, f"{index}-healthy"),
            HealthGateArgs(resource_group_name=args.resource_group_name, vm_name=vm.name,
                           vm_id=vm.id, vm_unique_id=vm.vm_id, location=region,
                           subscription_id=subscription_output(vm.id),
                           timeout_seconds=probe.timeout_seconds,
                           pause_seconds=clone.rollout.pause_seconds),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[extension]),
        )


    def _retire(self, name: str, args: CloneGroupArgs, region: str, number: int,
                batch: range, first: compute.VirtualMachine,
                healthy: list[pulumi.CustomResource]) -> pulumi.CustomResource:
        """Delete the batch's predecessors (other versions, same indexes) once it is
        healthy (vmimage/providers/retire.py)."""
        return RetireBatch(
            naming.child_name(name, f"batch{number}-retire"),
            RetireBatchArgs(resource_group_name=args.resource_group_name, vm_name=first.name,
                            vm_id=first.id, vm_unique_id=first.vm_id, location=region,
                            subscription_id=subscription_output(first.id),
                            group=args.clone.name, version=args.version,
                            indexes=list(batch)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after_all(healthy)),
        )


def _first_private_ip(
    configs: Sequence[network.outputs.NetworkInterfaceIPConfigurationResponse] | None,
) -> str | None:
    return configs[0].private_ip_address if configs else None
