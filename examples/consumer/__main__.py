"""A second stack that clones from the vmimage stack's images through a StackReference.

The vmimage stack exports `imageVersionIds` (version -> gallery image version id),
`galleryImageId` (the image definition), `latestVersion` (its newest published version)
and `imageRegions` (version -> replicated regions). This program picks one version and
creates one Linux VM from it. `latest` means the vmimage stack's `latestVersion`, pinned
by id: when the vmimage stack publishes a new version, the next `pulumi up` here replaces
the VM with one from it (a VM booted from the image definition itself would keep the
version Azure picked when it was created, and never follow).
"""

import pulumi
from pulumi_azure_native import compute, network, resources

config = pulumi.Config()
location = pulumi.Config("azure-native").require("location")
wanted = config.get("imageVersion") or "latest"

images = pulumi.StackReference(config.require("vmimageStack"))


def pick_image(version_ids: dict[str, str], latest: str | None, version: str) -> str:
    """The image id for `version`, or for 'latest' the vmimage stack's latestVersion's.
    Fails with the versions on offer."""
    if version == "latest":
        if not latest:
            raise ValueError("the vmimage stack exports no latestVersion (no version yet)")
        version = latest
    if version not in (version_ids or {}):
        offered = ", ".join(sorted(version_ids or {})) or "none"
        raise ValueError(f"image version {version} is not built by the vmimage stack "
                         f"(versions: {offered})")
    return version_ids[version]


image_id = pulumi.Output.all(
    images.get_output("imageVersionIds"), images.get_output("latestVersion")
).apply(lambda args: pick_image(args[0], args[1], wanted))

group = resources.ResourceGroup("rg", resource_group_name=config.require("resourceGroup"),
                                location=location)
vnet = network.VirtualNetwork(
    "vnet",
    resource_group_name=group.name,
    location=location,
    address_space=network.AddressSpaceArgs(address_prefixes=["10.60.0.0/16"]),
)
subnet = network.Subnet(
    "subnet",
    resource_group_name=group.name,
    virtual_network_name=vnet.name,
    address_prefix="10.60.1.0/24",
)
nic = network.NetworkInterface(
    "nic",
    resource_group_name=group.name,
    location=location,
    ip_configurations=[
        network.NetworkInterfaceIPConfigurationArgs(
            name="ipconfig1",
            subnet=network.SubnetArgs(id=subnet.id),
            private_ip_allocation_method=network.IPAllocationMethod.DYNAMIC,
        )
    ],
)
user = config.get("adminUsername") or "azureuser"
vm = compute.VirtualMachine(
    "app",
    resource_group_name=group.name,
    location=location,
    hardware_profile=compute.HardwareProfileArgs(vm_size=config.get("vmSize") or "Standard_B2s"),
    storage_profile=compute.StorageProfileArgs(
        image_reference=compute.ImageReferenceArgs(id=image_id),
        os_disk=compute.OSDiskArgs(
            create_option=compute.DiskCreateOptionTypes.FROM_IMAGE,
            delete_option=compute.DiskDeleteOptionTypes.DELETE,
        ),
    ),
    os_profile=compute.OSProfileArgs(
        computer_name="app",
        admin_username=user,
        linux_configuration=compute.LinuxConfigurationArgs(
            disable_password_authentication=True,
            ssh=compute.SshConfigurationArgs(public_keys=[compute.SshPublicKeyArgs(
                path=f"/home/{user}/.ssh/authorized_keys",
                key_data=config.require("sshPublicKey"),
            )]),
        ),
    ),
    network_profile=compute.NetworkProfileArgs(network_interfaces=[
        compute.NetworkInterfaceReferenceArgs(id=nic.id, primary=True)
    ]),
    # Must match the image definition: vmimage's Gen2 gallery images default to Trusted Launch.
    security_profile=compute.SecurityProfileArgs(
        security_type=compute.SecurityTypes.TRUSTED_LAUNCH,
        uefi_settings=compute.UefiSettingsArgs(secure_boot_enabled=True, v_tpm_enabled=True),
    ) if config.get_bool("trustedLaunch") is not False else None,
)

pulumi.export("imageId", image_id)
pulumi.export("vmId", vm.id)
