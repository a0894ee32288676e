"""The SDK floor for B1: the dev stack's resource types and counts, registered directly
with the azure-native SDK. No spec, no components, no validation, minimal inputs; the
same data dependencies (ids feed ids) so the SDK's Output machinery does the same work.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic
from pulumi_azure_native import compute, network, resources

RG = "rg-vmimage-dev"
LOCATION = "westeurope"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyForExamplesOnly0000000000000000 bench"


class _NoopProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_="generalized", outs=props)


class Generalize(pulumi.dynamic.Resource, module="vmimage", name="Generalize"):
    """Same type token as the program's step; one per build, so constant in N."""

    def __init__(self, name: str, vm_id: pulumi.Input[str]) -> None:
        super().__init__(_NoopProvider(), name, {"vm_id": vm_id})


def _vm(name: str, nic_id: pulumi.Input[str], image: compute.ImageReferenceArgs,
        luns: list[int]) -> compute.VirtualMachine:
    return compute.VirtualMachine(
        name,
        vm_name=name,
        resource_group_name=RG,
        location=LOCATION,
        hardware_profile=compute.HardwareProfileArgs(vm_size="Standard_B2s"),
        storage_profile=compute.StorageProfileArgs(
            image_reference=image,
            data_disks=[
                compute.DataDiskArgs(lun=lun, create_option="FromImage") for lun in luns
            ],
        ),
        os_profile=compute.OSProfileArgs(
            computer_name=name,
            admin_username="azureuser",
            linux_configuration=compute.LinuxConfigurationArgs(
                disable_password_authentication=True,
                ssh=compute.SshConfigurationArgs(
                    public_keys=[compute.SshPublicKeyArgs(
                        path="/home/azureuser/.ssh/authorized_keys", key_data=SSH_KEY
                    )]
                ),
            ),
        ),
        network_profile=compute.NetworkProfileArgs(
            network_interfaces=[compute.NetworkInterfaceReferenceArgs(id=nic_id)]
        ),
    )


def _nic(name: str, subnet_id: pulumi.Input[str]) -> network.NetworkInterface:
    return network.NetworkInterface(
        name,
        network_interface_name=name,
        resource_group_name=RG,
        location=LOCATION,
        ip_configurations=[
            network.NetworkInterfaceIPConfigurationArgs(
                name="ipconfig1", subnet=network.SubnetArgs(id=subnet_id)
            )
        ],
    )


def main(count: int) -> None:
    """One build (customize + deprovision + generalize + capture), then `count` clones."""
    group = resources.ResourceGroup("rg", resource_group_name=RG, location=LOCATION)
    nsg = network.NetworkSecurityGroup(
        "nsg", resource_group_name=group.name, location=LOCATION
    )
    vnet = network.VirtualNetwork(
        "vnet", resource_group_name=group.name, location=LOCATION,
        address_space=network.AddressSpaceArgs(address_prefixes=["10.42.0.0/16"]),
    )
    subnet = network.Subnet(
        "subnet", resource_group_name=group.name, virtual_network_name=vnet.name,
        address_prefix="10.42.1.0/24",
        network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
    )
    gallery = compute.Gallery("gallery", resource_group_name=group.name, location=LOCATION)
    definition = compute.GalleryImage(
        "definition", gallery_name=gallery.name, resource_group_name=group.name,
        location=LOCATION, os_type="Linux", os_state="Generalized",
        identifier=compute.GalleryImageIdentifierArgs(publisher="p", offer="o", sku="s"),
    )
    build = _vm(
        "build", _nic("build-nic", subnet.id).id,
        compute.ImageReferenceArgs(publisher="Canonical", offer="ubuntu-24_04-lts",
                                   sku="server", version="latest"),
        [],
    )
    customize = compute.VirtualMachineRunCommandByVirtualMachine(
        "customize", resource_group_name=group.name, vm_name=build.name,
        source=compute.VirtualMachineRunCommandScriptSourceArgs(script="apt-get install nginx"),
    )
    deprovision = compute.VirtualMachineRunCommandByVirtualMachine(
        "deprovision", resource_group_name=group.name, vm_name=build.name,
        source=compute.VirtualMachineRunCommandScriptSourceArgs(script="waagent -deprovision"),
        opts=pulumi.ResourceOptions(depends_on=[customize]),
    )
    generalized = Generalize("generalize", build.id)
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
        opts=pulumi.ResourceOptions(depends_on=[deprovision]),
    )
    image = compute.ImageReferenceArgs(id=version.id)
    for index in range(count):
        name = f"web-{index:03d}"
        _vm(name, _nic(f"{name}-nic", subnet.id).id, image, [0, 1])
