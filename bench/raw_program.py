"""The SDK floor for B1: the dev stack's resource types and counts, registered directly
with the azure-native SDK. No spec, no components, no validation; the VMs and NICs carry
the property values the program sends (sizes, disks, tags, security settings) and the
same data dependencies (the resource group's name, subnet, NIC and image ids feed the
resources that need them), so the SDK's serialization and Output machinery do the same
work; tests/test_bench_model.py checks the VMs' and NICs' inputs have the same shape.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic
from pulumi_azure_native import compute, network, resources

RG = "rg-vmimage-dev"
LOCATION = "westeurope"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG8eVohnH+7mb9ln3Bay8lWX0FEKl5S3uOXo1ecTOghm bench"


class _NoopProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_="generalized", outs=props)


class Generalize(pulumi.dynamic.Resource, module="vmimage", name="Generalize"):
    """Same type token as the program's step; one per build, so constant in N."""

    def __init__(self, name: str, vm_id: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(_NoopProvider(), name, {"vm_id": vm_id}, opts)


# (lun, size GB or None when the disk comes from the image, caching, SKU): the dev stack's.
DISKS = [(0, 64, "ReadOnly", "Premium_LRS"), (1, 128, "None", "StandardSSD_LRS")]


def _tags(role: str, group: str | None = None) -> dict[str, str]:
    tags = {"vmimage-role": role, "vmimage-version": "1.0.0"}
    return {**tags, "vmimage-clone-group": group} if group else tags


def _vm(name: str, size: str, rg: pulumi.Input[str], nic_id: pulumi.Input[str],
        image: compute.ImageReferenceArgs, from_image: bool, tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None) -> compute.VirtualMachine:
    # The same property values the program sends (written out by hand, no spec, no
    # components), so B1's ratio is the program's own work and not the resource's size.
    return compute.VirtualMachine(
        name,
        vm_name=name,
        resource_group_name=rg,
        location=LOCATION,
        hardware_profile=compute.HardwareProfileArgs(vm_size=size),
        storage_profile=compute.StorageProfileArgs(
            image_reference=image,
            os_disk=compute.OSDiskArgs(
                create_option="FromImage", caching=compute.CachingTypes.READ_WRITE,
                delete_option="Delete",
                managed_disk=compute.ManagedDiskParametersArgs(
                    storage_account_type="Premium_LRS"
                ),
            ),
            data_disks=[
                compute.DataDiskArgs(
                    lun=lun, create_option="FromImage" if from_image else "Empty",
                    disk_size_gb=None if from_image else size_gb,
                    caching=compute.CachingTypes(caching),
                    delete_option="Delete",
                    managed_disk=compute.ManagedDiskParametersArgs(storage_account_type=sku),
                )
                for lun, size_gb, caching, sku in DISKS
            ],
        ),
        os_profile=compute.OSProfileArgs(
            computer_name=name,
            admin_username="azureuser",
            linux_configuration=compute.LinuxConfigurationArgs(
                disable_password_authentication=True,
                provision_vm_agent=True,
                ssh=compute.SshConfigurationArgs(
                    public_keys=[compute.SshPublicKeyArgs(
                        path="/home/azureuser/.ssh/authorized_keys", key_data=SSH_KEY
                    )]
                ),
            ),
        ),
        network_profile=compute.NetworkProfileArgs(
            network_interfaces=[compute.NetworkInterfaceReferenceArgs(
                id=nic_id, primary=True, delete_option="Delete"
            )]
        ),
        security_profile=compute.SecurityProfileArgs(
            security_type="TrustedLaunch",
            uefi_settings=compute.UefiSettingsArgs(secure_boot_enabled=True, v_tpm_enabled=True),
        ),
        diagnostics_profile=compute.DiagnosticsProfileArgs(
            boot_diagnostics=compute.BootDiagnosticsArgs(enabled=True)
        ),
        tags=tags,
        opts=opts,
    )


def _nic(name: str, rg: pulumi.Input[str], subnet_id: pulumi.Input[str], tags: dict[str, str],
         opts: pulumi.ResourceOptions | None = None) -> network.NetworkInterface:
    return network.NetworkInterface(
        name,
        network_interface_name=name,
        resource_group_name=rg,
        location=LOCATION,
        ip_configurations=[
            network.NetworkInterfaceIPConfigurationArgs(
                name="ipconfig1", subnet=network.SubnetArgs(id=subnet_id),
                private_ip_allocation_method="Dynamic", primary=True,
            )
        ],
        tags=tags,
        opts=opts,
    )


def main(count: int) -> None:
    """One build (customize, generalize, capture), then `count` clones, written as a user
    would write them with the SDK alone: flat, azure-native's aliases and the
    interpreter's collector settings as they come."""
    group = resources.ResourceGroup("rg", resource_group_name=RG, location=LOCATION)
    nsg = network.NetworkSecurityGroup(
        "nsg", resource_group_name=group.name, location=LOCATION
    )
    vnet = network.VirtualNetwork(
        "vnet", resource_group_name=group.name, location=LOCATION,
        address_space=network.AddressSpaceArgs(address_prefixes=["10.42.0.0/16"]),
    )
    # The subnet's way out (default outbound access is retired): a NAT gateway.
    nat_ip = network.PublicIPAddress(
        "nat-ip", resource_group_name=group.name, location=LOCATION,
        sku=network.PublicIPAddressSkuArgs(name=network.PublicIPAddressSkuName.STANDARD),
        public_ip_allocation_method=network.IPAllocationMethod.STATIC,
    )
    nat = network.NatGateway(
        "nat", resource_group_name=group.name, location=LOCATION,
        sku=network.NatGatewaySkuArgs(name=network.NatGatewaySkuName.STANDARD),
        public_ip_addresses=[network.SubResourceArgs(id=nat_ip.id)],
    )
    subnet = network.Subnet(
        "subnet", resource_group_name=group.name, virtual_network_name=vnet.name,
        address_prefix="10.42.1.0/24",
        network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
        nat_gateway=network.SubResourceArgs(id=nat.id),
    )
    gallery = compute.Gallery("gallery", resource_group_name=group.name, location=LOCATION)
    definition = compute.GalleryImage(
        "definition", gallery_name=gallery.name, resource_group_name=group.name,
        location=LOCATION, os_type=compute.OperatingSystemTypes.LINUX,
        os_state=compute.OperatingSystemStateTypes.GENERALIZED,
        identifier=compute.GalleryImageIdentifierArgs(publisher="p", offer="o", sku="s"),
    )
    build = _vm(
        "build", "Standard_D2s_v5", group.name,
        _nic("build-nic", group.name, subnet.id, _tags("build")).id,
        compute.ImageReferenceArgs(publisher="Canonical", offer="ubuntu-24_04-lts",
                                   sku="server", version="latest"),
        False, _tags("build"),
    )
    customize = compute.VirtualMachineRunCommandByVirtualMachine(
        "customize", resource_group_name=group.name, vm_name=build.name,
        source=compute.VirtualMachineRunCommandScriptSourceArgs(script="apt-get install nginx"),
    )
    # The seal and generalize: one dynamic resource after the last customize step.
    generalized = Generalize("generalize", build.id,
                             opts=pulumi.ResourceOptions(depends_on=[customize]))
    version = compute.GalleryImageVersion(
        "version", gallery_name=gallery.name, gallery_image_name=definition.name,
        gallery_image_version_name="1.0.0", resource_group_name=group.name, location=LOCATION,
        storage_profile=compute.GalleryImageVersionStorageProfileArgs(
            source=compute.GalleryArtifactVersionFullSourceArgs(
                virtual_machine_id=generalized.id
            )
        ),
        publishing_profile=compute.GalleryImageVersionPublishingProfileArgs(
            target_regions=[compute.TargetRegionArgs(name=LOCATION)]
        ),
    )
    image = compute.ImageReferenceArgs(id=version.id)
    for index in range(count):
        name = f"web-{index:03d}"
        nic = _nic(f"{name}-nic", group.name, subnet.id, _tags("clone", "web"))
        _vm(name, "Standard_B2s", group.name, nic.id, image, True, _tags("clone", "web"))
