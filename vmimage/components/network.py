"""The network the build VM and clones live in: VNet, subnet, NSG (deny inbound by
default) and the subnet's way out: a NAT gateway, or none at all.

Azure is retiring default outbound access (subnets are private by default from network
API 2025-07-01), so egress is explicit: `natGateway` gives the subnet a NAT gateway with
a static public IP (what `apt-get` in a build needs), `none` creates the subnet private
(`defaultOutboundAccess: false`, settable only when a subnet is created). With
`network.subnetId` none of this is created: the pipeline uses the subnet it is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import network

from vmimage.azure.naming import NetworkNames, child_name, network_names
from vmimage.azure.nsg_sources import DENY_ALL_RULE
from vmimage.config.models import NetworkSpec
from vmimage.parts.frozen import frozen_inputs
from vmimage.vocabulary import EGRESS_ROLE, NETWORK, ROLE_TAG

DENY_ALL_PRIORITY = 4096  # the lowest-priority custom rule: everything not allowed above
FIRST_ALLOW_PRIORITY = 100


@dataclass(frozen=True)
class NetworkArgs:
    resource_group_name: pulumi.Input[str]
    """The resource group the network lives in."""
    location: str
    """Azure region of the VNet."""
    spec: NetworkSpec
    """Address space, subnet, the inbound allow list and egress from config."""
    image_name: str = "vmimage"
    """The pipeline's image: its network is named after it (naming.network_names)."""


def security_rules(spec: NetworkSpec) -> list[network.SecurityRuleArgs]:
    """The config's allow list in order, then an explicit deny of all other inbound
    traffic (Azure's default rules allow VNet-internal traffic; this makes intent plain)."""
    rules = [
        network.SecurityRuleArgs(
            name=rule.name,
            priority=FIRST_ALLOW_PRIORITY + 10 * i,
            direction=network.SecurityRuleDirection.INBOUND,
            access=network.SecurityRuleAccess.ALLOW,
            protocol=rule.protocol,
            source_address_prefix=rule.source,
            source_port_range="*",
            destination_address_prefix="*",
            destination_port_range=rule.port,
        )
        for i, rule in enumerate(spec.allow_inbound)
    ]
    rules.append(
        network.SecurityRuleArgs(
            name=DENY_ALL_RULE,
            priority=DENY_ALL_PRIORITY,
            direction=network.SecurityRuleDirection.INBOUND,
            access=network.SecurityRuleAccess.DENY,
            protocol=network.SecurityRuleProtocol.ASTERISK,
            source_address_prefix="*",
            source_port_range="*",
            destination_address_prefix="*",
            destination_port_range="*",
        )
    )
    return rules


class Network(pulumi.ComponentResource):
    subnet_id: pulumi.Output[str]
    """The subnet every NIC of the pipeline attaches to."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(NETWORK, name, None, opts)
        names = network_names(args.image_name)
        # Stacks made before the names carried the image keep their network (its name is
        # not worth a replace of every NIC): the name is set at create and never after.
        kept = pulumi.ResourceOptions(parent=self, ignore_changes=[
            "networkSecurityGroupName", "virtualNetworkName", "subnetName"])
        nsg = network.NetworkSecurityGroup(
            child_name(name, "nsg"),
            network_security_group_name=names.nsg,
            resource_group_name=args.resource_group_name,
            location=args.location,
            security_rules=security_rules(args.spec),
            opts=kept,
        )
        nat = self._nat_gateway(name, args, names) if args.spec.egress == "natGateway" else None
        vnet = network.VirtualNetwork(
            child_name(name, "vnet"),
            virtual_network_name=names.vnet,
            resource_group_name=args.resource_group_name,
            location=args.location,
            address_space=network.AddressSpaceArgs(
                address_prefixes=[str(args.spec.address_space)]
            ),
            opts=kept,
        )
        subnet = network.Subnet(
            child_name(name, "subnet"),
            subnet_name=names.subnet,
            resource_group_name=args.resource_group_name,
            virtual_network_name=vnet.name,
            address_prefix=str(args.spec.subnet_prefix),
            network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
            nat_gateway=network.SubResourceArgs(id=nat.id) if nat else None,
            # Only at creation (Azure refuses a change later): a subnet made private stays
            # private. Not set with a NAT gateway, whose traffic wins over default access
            # anyway, so subnets made before egress was a key are updated, not replaced.
            default_outbound_access=False if args.spec.egress == "none" else None,
            opts=kept,
        )
        self.subnet_id = subnet.id
        self.register_outputs({"subnetId": self.subnet_id})

    def _nat_gateway(self, name: str, args: NetworkArgs,
                     names: NetworkNames) -> network.NatGateway:
        """A Standard NAT gateway and its static Standard public IP (the SKU a NAT
        gateway takes), in the network's region."""
        child = pulumi.ResourceOptions(parent=self)
        tags = {ROLE_TAG: EGRESS_ROLE}  # outbound only: policy and reviewers tell it apart
        address = network.PublicIPAddress(
            child_name(name, "nat-ip"),
            public_ip_address_name=names.nat_ip,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=network.PublicIPAddressSkuArgs(name=network.PublicIPAddressSkuName.STANDARD),
            public_ip_allocation_method=network.IPAllocationMethod.STATIC,
            tags=tags,
            opts=child,
        )
        return network.NatGateway(
            child_name(name, "nat"),
            nat_gateway_name=names.nat_gateway,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=network.NatGatewaySkuArgs(name=network.NatGatewaySkuName.STANDARD),
            public_ip_addresses=[network.SubResourceArgs(id=address.id)],
            tags=tags,
            opts=child,
        )


def network_interface(
    name: str,
    *,
    nic_name: str,
    resource_group_name: pulumi.Input[str],
    location: str,
    subnet_id: pulumi.Input[str],
    public_ip: bool,
    parent: pulumi.Resource,
    tags: dict[str, str] | None = None,
    frozen: bool = False,
) -> network.NetworkInterface:
    """One NIC (and, only when config asks for it, a public IP) for a VM. `tags` are
    the VM's (its role above all), so a reviewer or policy can tell build from clone NICs.
    `frozen`: the NIC of a generalized VM, which must not change (vmimage/parts/frozen.py)."""
    public = None
    if public_ip:
        address_inputs: dict[str, Any] = dict(
            public_ip_address_name=f"pip-{nic_name.removeprefix('nic-')}",
            resource_group_name=resource_group_name,
            location=location,
            sku=network.PublicIPAddressSkuArgs(name=network.PublicIPAddressSkuName.STANDARD),
            public_ip_allocation_method=network.IPAllocationMethod.STATIC,
            tags=tags,
        )
        address = network.PublicIPAddress(
            f"{name}-pip", **address_inputs,
            opts=pulumi.ResourceOptions(parent=parent,
                                        ignore_changes=frozen_inputs(address_inputs, frozen)),
        )
        public = network.PublicIPAddressArgs(id=address.id)
    nic_inputs: dict[str, Any] = dict(
        network_interface_name=nic_name,
        resource_group_name=resource_group_name,
        location=location,
        ip_configurations=[
            network.NetworkInterfaceIPConfigurationArgs(
                name="ipconfig1",
                subnet=network.SubnetArgs(id=subnet_id),
                private_ip_allocation_method=network.IPAllocationMethod.DYNAMIC,
                public_ip_address=public,
                primary=True,
            )
        ],
        tags=tags,
    )
    return network.NetworkInterface(
        name, **nic_inputs,
        opts=pulumi.ResourceOptions(parent=parent,
                                    ignore_changes=frozen_inputs(nic_inputs, frozen)),
    )
