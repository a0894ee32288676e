"""A clone group as one VM scale set: Azure's own engine for fleets.

`count` VMs become one `VirtualMachineScaleSet` registration with `sku.capacity = count`,
so what Pulumi registers, diffs and stores does not grow with the fleet (a 1,000-VM group
as individual VMs is 2,000 registrations and minutes per preview).

Orchestration is Flexible: Azure's recommended mode for new scale sets; its instances are
ordinary VMs (own NICs and disks, visible to VM tooling), and it takes gallery images and
zones. Flexible fixes `platformFaultDomainCount` at 1 when zonal (max spreading), so it is
1 always here.

Rollouts: a new image version changes the scale-set model in place (a VMSS's image
reference is updatable, unlike a VM's), and the Rolling upgrade policy moves instances
onto it in batches of `maxBatchInstancePercent`. For Flexible orchestration Azure requires
the Application Health extension as the health signal of a rolling upgrade (a load
balancer probe is accepted for Uniform only), so the model carries it. Rolling upgrades
on Flexible scale sets need the subscription features `VMSSFlexRollingUpgrade` and
`ImageReferenceUpgradeForVmoVMs` registered (Microsoft.Compute, preview at the time of
writing); without them ARM refuses the Rolling mode at create time, loudly, rather than
silently leaving instances on the old version.
"""

from __future__ import annotations

import math

import pulumi
from pulumi_azure_native import compute

from vmimage.azure import naming
from vmimage.components.clones import CloneGroupArgs
from vmimage.config.models import CloneSpec, PipelineSpec
from vmimage.parts import bootstrap, health, vm_profile
from vmimage.parts.disks import scale_set_data_disks
from vmimage.vocabulary import CLONE_SCALE_SET, GROUP_TAG

DEFAULT_BATCH_PERCENT = 20  # Azure's default maxBatchInstancePercent
MIN_BATCH_PERCENT = 5  # Azure accepts 5-100
# Computer name prefixes are 1-15 characters; Windows keeps 9 so the suffix Azure adds
# still fits the 15-character NetBIOS limit.
COMPUTER_PREFIX_MAX = {"linux": 15, "windows": 9}


def batch_percent(count: int, batch_size: int | None) -> int:
    """maxBatchInstancePercent for `rollout.batchSize` instances at a time out of `count`
    (rounded up so a batch is never smaller than asked), within Azure's 5-100."""
    if not batch_size or count <= 0:
        return DEFAULT_BATCH_PERCENT
    return max(MIN_BATCH_PERCENT, min(100, math.ceil(100 * batch_size / count)))


def vmss_name(group: str) -> str:
    """The Azure name stays the same across versions: a new version updates the model."""
    return f"vmss-{group}"


def computer_name_prefix(group: str, *, windows: bool) -> str:
    limit = COMPUTER_PREFIX_MAX["windows" if windows else "linux"]
    return group[:limit].rstrip("-") or "vm"


def health_extension(spec: PipelineSpec,
                     clone: CloneSpec) -> compute.VirtualMachineScaleSetExtensionArgs:
    return compute.VirtualMachineScaleSetExtensionArgs(
        name="health",
        publisher=health.PUBLISHER,
        type=health.extension_type(spec),
        type_handler_version=health.EXTENSION_VERSION,
        auto_upgrade_minor_version=True,
        settings=health.probe_settings(spec, clone),
    )


def upgrade_policy(clone: CloneSpec) -> compute.UpgradePolicyArgs:
    return compute.UpgradePolicyArgs(
        mode=compute.UpgradeMode.ROLLING,
        rolling_upgrade_policy=compute.RollingUpgradePolicyArgs(
            max_batch_instance_percent=batch_percent(clone.count, clone.rollout.batch_size),
            # An upgraded instance that never reports healthy stops the rollout (Azure's
            # default 20%), and failed instances go back to the last good model.
            max_unhealthy_upgraded_instance_percent=DEFAULT_BATCH_PERCENT,
            rollback_failed_instances_on_policy_breach=True,
            pause_time_between_batches=f"PT{clone.rollout.pause_seconds}S"
            if clone.rollout.pause_seconds else None,
        ),
    )


def network_profile(
    spec: PipelineSpec, group: str, subnet_id: pulumi.Input[str]
) -> compute.VirtualMachineScaleSetNetworkProfileArgs:
    public = (
        compute.VirtualMachineScaleSetPublicIPAddressConfigurationArgs(
            name="pip",
            sku=compute.PublicIPAddressSkuArgs(name=compute.PublicIPAddressSkuName.STANDARD),
            delete_option=compute.DeleteOptions.DELETE,
        )
        if spec.network.public_ip
        else None
    )
    return compute.VirtualMachineScaleSetNetworkProfileArgs(
        # Flexible scale sets create each instance's NIC themselves (as Microsoft.Network
        # resources), which needs a network API version; none is registered here.
        network_api_version=compute.NetworkApiVersion.NETWORK_API_VERSION_2020_11_01,
        network_interface_configurations=[
            compute.VirtualMachineScaleSetNetworkConfigurationArgs(
                name=f"nic-{group}",
                primary=True,
                delete_option=compute.DeleteOptions.DELETE,
                ip_configurations=[
                    compute.VirtualMachineScaleSetIPConfigurationArgs(
                        name="ipconfig1",
                        primary=True,
                        subnet=compute.ApiEntityReferenceArgs(id=subnet_id),
                        public_ip_address_configuration=public,
                    )
                ],
            )
        ],
    )


class CloneScaleSet(pulumi.ComponentResource):
    scale_set_name: str
    """Azure name of the scale set."""
    instances: int
    """Instance count (sku.capacity)."""
    scale_set_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: CloneGroupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(CLONE_SCALE_SET, name, None, opts)
        spec, clone = args.spec, args.clone
        self.scale_set_name = vmss_name(clone.name)
        self.instances = clone.count
        data = bootstrap.of_clone(clone, spec.os)
        vmss = compute.VirtualMachineScaleSet(
            naming.child_name(name, "vmss"),
            vm_scale_set_name=self.scale_set_name,
            resource_group_name=args.resource_group_name,
            location=spec.clone_region(clone),
            orchestration_mode=compute.OrchestrationMode.FLEXIBLE,
            platform_fault_domain_count=1,
            single_placement_group=False,  # more than 100 instances
            sku=compute.SkuArgs(name=clone.size, capacity=clone.count),
            zones=list(clone.zones) or None,
            upgrade_policy=upgrade_policy(clone),
            plan=vm_profile.plan(spec, args.version),
            virtual_machine_profile=compute.VirtualMachineScaleSetVMProfileArgs(
                storage_profile=compute.VirtualMachineScaleSetStorageProfileArgs(
                    image_reference=compute.ImageReferenceArgs(id=args.image_id),
                    os_disk=vm_profile.scale_set_os_disk(spec, clone.os_disk),
                    data_disks=scale_set_data_disks(spec, args.version),
                ),
                os_profile=vm_profile.scale_set_os_profile(
                    spec, computer_name_prefix(clone.name, windows=spec.windows), args.admin,
                    data.custom_data,
                ),
                network_profile=network_profile(spec, clone.name, args.subnet_id),
                security_profile=vm_profile.security_profile(spec),
                diagnostics_profile=vm_profile.diagnostics_profile(spec),
                license_type=clone.license_type,
                user_data=data.user_data,
                extension_profile=compute.VirtualMachineScaleSetExtensionProfileArgs(
                    extensions=[health_extension(spec, clone)]
                ),
            ),
            tags=vm_profile.tags("clone", args.version, **{GROUP_TAG: clone.name}, **data.tag),
            opts=pulumi.ResourceOptions(
                parent=self,
                # The password and the bootstrap data sit in the VM profile: keep the
                # whole output secret.
                additional_secret_outputs=[bootstrap.VM_PROFILE_OUTPUT]
                if args.admin.password is not None or data.any
                else None,
            ),
        )
        self.scale_set_id = vmss.id
        self.register_outputs(
            {
                "scaleSetName": self.scale_set_name,
                "instances": self.instances,
                "scaleSetId": self.scale_set_id,
            }
        )
