"""Network security rules by what they mean, not by how they are spelt: which sources a
rule admits, and whether the rules together open a port to the internet.

A source is `*`, a service tag (case-insensitive, as Azure compares them), or an IPv4 or
IPv6 address or CIDR. Exposure is judged on the union of every rule that allows a port:
`0.0.0.0/1` and `128.0.0.0/1` are the whole IPv4 internet in two rules. Pure: the spec and
the policy pack (vmimage/policy/rules.py) judge the same way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vmimage.suggest import did_you_mean

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Service tags whose addresses are the internet (Azure: `Internet` is every public
#: address outside the virtual network; `*` and `Any` are every address).
INTERNET_TAGS = frozenset({"*", "any", "internet"})
#: Service tags an inbound rule may name (learn.microsoft.com/azure/virtual-network/
#: service-tags-overview); regional forms such as `AzureCloud.westeurope` are accepted.
_TAG_SPELLINGS = {tag.lower(): tag for tag in """
    Internet VirtualNetwork AzureLoadBalancer AzureCloud AzureTrafficManager GatewayManager
    AzureBastion AzureFrontDoor.Backend AzureFrontDoor.Frontend ApiManagement
    AppService AzureMonitor AzureResourceManager Storage Sql AzureActiveDirectory
    AzureContainerRegistry AzureKeyVault EventHub ServiceBus ActionGroup
    AzureDevOps AzureDevSpaces GuestAndHybridManagement Any
""".split()}
SERVICE_TAGS = frozenset(_TAG_SPELLINGS)
#: Azure's default security rules: a custom rule may not take their names.
DEFAULT_RULE_NAMES = frozenset(name.lower() for name in (
    "AllowVnetInBound", "AllowAzureLoadBalancerInBound", "DenyAllInBound",
    "AllowVnetOutBound", "AllowInternetOutBound", "DenyAllOutBound"))
#: The rule vmimage adds last, denying all other inbound traffic (vmimage/components/network.py).
DENY_ALL_RULE = "deny-all-inbound"
#: More public addresses than any one organisation holds: a /8 of IPv4, a /32 of IPv6.
MAX_PUBLIC = {4: 2**24, 6: 2**96}
_NOT_PUBLIC = {
    4: [ipaddress.ip_network(n) for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4")],
    6: [ipaddress.ip_network(n) for n in (
        "::/8", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32")],
}


@dataclass(frozen=True)
class Source:
    """One rule's source, read."""

    text: str
    tag: str | None = None  # lower-case service tag, or '*'
    network: Network | None = None

    @property
    def is_internet(self) -> bool:
        return self.tag in INTERNET_TAGS


def parse_source(text: str) -> Source:
    """A source as Azure reads it; ValueError says why it is not one."""
    value = text.strip()
    if not value.isascii():
        raise ValueError(f"{text!r} has characters outside ASCII")
    lowered = value.lower()
    if lowered in INTERNET_TAGS:
        return Source(text, tag=lowered)
    if lowered in SERVICE_TAGS or lowered.split(".", 1)[0] in SERVICE_TAGS:
        return Source(text, tag=lowered)
    try:
        return Source(text, network=ipaddress.ip_network(value, strict=True))
    except ValueError:
        pass
    hint = did_you_mean(text, _TAG_SPELLINGS.values(), ignore_case=True)
    raise ValueError(f"{text!r} is not a CIDR, an address or a service tag{hint}")


def public_addresses(networks: Iterable[Network], version: int) -> int:
    """How many public addresses of one IP version the networks cover together."""
    same: list[Any] = [n for n in networks if n.version == version]  # one family each
    collapsed: list[Network] = list(ipaddress.collapse_addresses(same))
    public = 0
    for network in collapsed:
        pieces = [network]
        for reserved in _NOT_PUBLIC[version]:
            next_pieces = []
            for piece in pieces:
                if reserved.version != piece.version or not piece.overlaps(reserved):
                    next_pieces.append(piece)
                elif not piece.subnet_of(reserved):  # type: ignore[arg-type]
                    next_pieces += list(piece.address_exclude(reserved))  # type: ignore[arg-type]
            pieces = next_pieces
        public += sum(p.num_addresses for p in pieces)
    return public


def internet_exposure(sources: Iterable[Source]) -> str | None:
    """Why these sources, allowed together, open a port to the internet (None: they
    don't): an internet tag, or more public addresses than any one organisation holds."""
    sources = list(sources)
    tagged = [s.text for s in sources if s.is_internet]
    if tagged:
        return f"source {tagged[0]!r} is the internet"
    networks = [s.network for s in sources if s.network is not None]
    for version, limit in MAX_PUBLIC.items():
        count = public_addresses(networks, version)
        if count >= limit:
            together = ", ".join(str(n) for n in networks if n.version == version)
            amount = f"{count:,}" if version == 4 else f"about 2^{count.bit_length() - 1}"
            return f"sources {together} cover {amount} public IPv{version} addresses together"
    return None


def port_range_covers(spec: str, port: int) -> bool:
    """Whether an NSG port spec ("22", "20-25", "*") includes `port`."""
    spec = spec.strip()
    if spec in ("*", "Any", "any"):
        return True
    low, sep, high = spec.partition("-")
    if not (low.isascii() and low.isdigit() and (not sep or (high.isascii() and high.isdigit()))):
        return False
    return int(low) <= port <= int(high if sep else low)
