"""Microsoft.Resources and Microsoft.Network: resource groups, NSGs, virtual networks,
subnets, public IPs, NICs (with their private addresses) and NAT gateways."""

from __future__ import annotations

import ipaddress
from typing import Any

from offline.arm.control import ControlPlane
from offline.arm.model import ArmError, Outcome, get_path, name_check
from vmimage.azure import naming


def resource_group(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    name = p["resourceGroupName"]
    name_check(naming.RESOURCE_GROUP, name)
    return Outcome(arm.rg_id(name), arm.latency("resourceGroup.create"), {"name": name})


def nsg(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    priorities = [r.get("priority") for r in p.get("securityRules") or []]
    if len(priorities) != len(set(priorities)):
        raise ArmError(400, "SecurityRuleConflict", "Two security rules share a priority.")
    rid = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Network/networkSecurityGroups",
        p["networkSecurityGroupName"],
    )
    return Outcome(rid, arm.latency("network.create"), {"name": p["networkSecurityGroupName"]})


def vnet(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    name_check(naming.VIRTUAL_NETWORK, p["virtualNetworkName"])
    for prefix in get_path(p, "addressSpace")["addressPrefixes"]:
        ipaddress.ip_network(prefix)
    rid = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Network/virtualNetworks", p["virtualNetworkName"]
    )
    return Outcome(rid, arm.latency("network.create"), {"name": p["virtualNetworkName"]})


def subnet(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    vnet_id = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Network/virtualNetworks", p["virtualNetworkName"]
    )
    vnet = arm.require_parent(vnet_id, at, "virtual network")
    prefix = ipaddress.ip_network(p["addressPrefix"])
    spaces = [ipaddress.ip_network(s) for s in vnet.props["addressSpace"]["addressPrefixes"]]
    if not any(prefix.subnet_of(space) for space in spaces):  # type: ignore[arg-type]
        raise ArmError(
            400, "NetcfgInvalidSubnet",
            f"Subnet {prefix} is not valid in virtual network address space.",
        )
    nsg_id = get_path(p, "networkSecurityGroup.id")
    if nsg_id:
        arm.find(nsg_id, at, "network security group")
    nat_id = get_path(p, "natGateway.id")
    if nat_id:
        arm.find(nat_id, at, "NAT gateway")
    rid = f"{vnet_id}/subnets/{p['subnetName']}"
    return Outcome(rid, arm.latency("network.create"), {"name": p["subnetName"]})


def public_ip(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    rid = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Network/publicIPAddresses", p["publicIpAddressName"]
    )
    return Outcome(rid, arm.latency("publicIp.create"), {"ipAddress": "20.0.0.1"})


def nic(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    configs = []
    for config in p.get("ipConfigurations") or []:
        subnet_id = get_path(config, "subnet.id")
        arm.find(subnet_id, at, "subnet")
        public = get_path(config, "publicIPAddress.id")
        if public:
            arm.find(public, at, "public IP address")
        configs.append({**config, "privateIPAddress": arm.next_private_ip(subnet_id, at)})
    rid = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Network/networkInterfaces", p["networkInterfaceName"]
    )
    return Outcome(rid, arm.latency("nic.create"), {"ipConfigurations": configs})


def nat_gateway(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    for address in p.get("publicIpAddresses") or []:
        found = arm.find(address.get("id"), at, "public IP address")
        if get_path(found.props, "sku.name") != "Standard":
            raise ArmError(400, "NatGatewayCannotUseBasicPublicIP",
                           "A NAT gateway takes Standard SKU public IP addresses only.")
    rid = arm.provider_id(p["resourceGroupName"], "Microsoft.Network/natGateways",
                          p["natGatewayName"])
    return Outcome(rid, arm.latency("network.create"), {"name": p["natGatewayName"]})


def get_subnet(arm: ControlPlane, a: dict[str, Any], at: float) -> dict[str, Any]:
    subnet_id = arm.provider_id(a["resourceGroupName"], "Microsoft.Network/virtualNetworks",
                                a["virtualNetworkName"], "subnets", a["subnetName"])
    resource = arm.resources.get(subnet_id.lower())
    if resource is None or not resource.alive(at):
        raise ArmError(404, "NotFound", f"Resource '{a['subnetName']}' of virtual network "
                       f"'{a['virtualNetworkName']}' was not found.")
    return {"id": resource.id, "name": resource.name,
            "addressPrefix": resource.props.get("addressPrefix")}
