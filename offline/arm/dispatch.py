"""What each resource type's PUT does, and what each invoke answers: one line per type,
to the module of its resource family."""

from __future__ import annotations

from offline.arm import (
    compute,
    gallery,
    images,
    network,
    passwords,
    run_commands,
    tenancy,
    vm_actions,
)
from offline.arm.control import Handler, Invoke
from vmimage.vocabulary import (
    AZURE_NATIVE_PROVIDER,
    GALLERY,
    GALLERY_IMAGE,
    GALLERY_IMAGE_VERSION,
    GET_CLIENT_CONFIG,
    GET_GALLERY_IMAGE_VERSION,
    GET_MANAGED_IMAGE,
    GET_RUN_COMMAND,
    GET_SUBNET,
    GET_VIRTUAL_MACHINE,
    MANAGED_IMAGE,
    NAT_GATEWAY,
    NIC,
    NSG,
    PUBLIC_IP,
    RANDOM_PASSWORD,
    RESOURCE_GROUP,
    RUN_COMMAND,
    SCALE_SET,
    SUBNET,
    VIRTUAL_MACHINE,
    VIRTUAL_NETWORK,
    VM_EXTENSION,
)

HANDLERS: dict[str, Handler] = {
    RESOURCE_GROUP: network.resource_group,
    NSG: network.nsg,
    VIRTUAL_NETWORK: network.vnet,
    SUBNET: network.subnet,
    PUBLIC_IP: network.public_ip,
    NIC: network.nic,
    NAT_GATEWAY: network.nat_gateway,
    VIRTUAL_MACHINE: compute.vm,
    SCALE_SET: compute.scale_set,
    VM_EXTENSION: compute.vm_extension,
    RUN_COMMAND: run_commands.run_command,
    GALLERY: gallery.gallery,
    GALLERY_IMAGE: gallery.gallery_image,
    GALLERY_IMAGE_VERSION: gallery.gallery_image_version,
    AZURE_NATIVE_PROVIDER: tenancy.explicit_provider,
    MANAGED_IMAGE: images.managed_image,
    RANDOM_PASSWORD: passwords.random_password,
    # Dynamic resources: the VM actions' real procedures, through the simulated REST API.
    **vm_actions.HANDLERS,
}

INVOKES: dict[str, Invoke] = {
    GET_GALLERY_IMAGE_VERSION: gallery.get_gallery_image_version,
    GET_MANAGED_IMAGE: images.get_image,
    GET_SUBNET: network.get_subnet,
    GET_CLIENT_CONFIG: tenancy.get_client_config,
    GET_VIRTUAL_MACHINE: compute.get_virtual_machine,
    GET_RUN_COMMAND: run_commands.get_run_command,
}
