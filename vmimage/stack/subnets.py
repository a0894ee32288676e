"""An existing subnet (`network.subnetId`), read from Azure before anything is registered:
does it exist, is it in the deployment's subscription, and does it hold the pipeline?

Read with the provider's own lookup (`getSubnet`), so `pulumi preview` and `pulumi up`
both check it and the offline simulator answers the same invoke (declare a subnet with
`python -m offline up --existing-subnet ID=PREFIX`). A NIC joins only a virtual network
of its own subscription and region (docs/azure-behaviours.md), so a subnet of another
subscription is refused here instead of at the first NIC.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from vmimage.azure import arm_ids
from vmimage.azure.invokes import is_not_found
from vmimage.azure.reads import stack_subscription
from vmimage.config.models import PipelineSpec
from vmimage.config.rules import capacity_problems

AT = "network.subnetId"


class SubnetLookupError(Exception):
    """Azure could not say what the subnet is (not a 404): the message names it."""


def deployment_subscription() -> str | None:
    """The subscription azure-native deploys into (its config, ARM_SUBSCRIPTION_ID, or
    its client config's), or None when it cannot be told here."""
    try:
        return stack_subscription() or None
    except Exception:  # the SDK raises a bare Exception for a failed invoke
        return None  # unknown here: the NIC's create says it, if it is another


def subnet_prefix(found: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The subnet's (first IPv4) prefix: `addressPrefix`, or among `addressPrefixes`."""
    prefixes = [getattr(found, "address_prefix", None),
                *(getattr(found, "address_prefixes", None) or [])]
    networks = [ipaddress.ip_network(p, strict=False) for p in prefixes if p]
    return next((n for n in networks if n.version == 4), networks[0] if networks else None)


def existing_subnet_problems(spec: PipelineSpec) -> list[str]:
    """What is wrong with the existing subnet for this pipeline (empty: nothing, or no
    existing subnet)."""
    if spec.network.subnet_id is None:
        return []
    subnet = arm_ids.parse(spec.network.subnet_id, "subnet")
    subscription = deployment_subscription()
    if subscription and subscription.lower() != subnet.subscription.lower():
        return [f"{AT}: the subnet is in subscription {subnet.subscription}, but this stack "
                f"deploys into {subscription}; Azure attaches a VM's network interface only "
                "to a virtual network of its own subscription (peer the networks, or deploy "
                "into that subscription)"]
    from pulumi_azure_native import network

    vnet, name = subnet.names
    try:
        found = network.get_subnet(resource_group_name=subnet.resource_group,
                                   virtual_network_name=vnet, subnet_name=name)
    except Exception as err:  # the SDK raises a bare Exception for a failed invoke
        if is_not_found(err):
            return [f"{AT}: no such subnet ({name!r} in virtual network {vnet!r} of resource "
                    f"group {subnet.resource_group!r}); create it first or fix the id"]
        raise SubnetLookupError(f"cannot read {AT} {spec.network.subnet_id}: {err}") from None
    prefix = subnet_prefix(found)
    if prefix is None:
        return []  # plain mocks answer nothing: no prefix to judge
    return capacity_problems(spec, prefix, AT)
