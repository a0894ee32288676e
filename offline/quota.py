"""The simulated subscription's VM sizes and vCPU quotas, as ARM lists them
(`resourceSkus`, `usages`): a catalog of the sizes the example stacks and tests use, and
quotas whose usage is the vCPUs of the VMs the simulated Azure runs. Limits are generous
by default; `python -m offline up --quota NAME=LIMIT` sets one (`cores` for the regional
total, or a family such as `standardDSv5Family`)."""

from __future__ import annotations

import re
from typing import Any

#: size -> (quota family, vCPUs), as Azure's resource SKUs give them.
SIZES: dict[str, tuple[str, int]] = {
    "Standard_B2s": ("standardBSFamily", 2),
    "Standard_B2ms": ("standardBSFamily", 2),
    "Standard_D2s_v5": ("standardDSv5Family", 2),
    "Standard_D4s_v5": ("standardDSv5Family", 4),
    "Standard_D8s_v5": ("standardDSv5Family", 8),
    "Standard_D64s_v5": ("standardDSv5Family", 64),
    "Standard_D2ps_v5": ("standardDPSv5Family", 2),
    "Standard_D4ps_v5": ("standardDPSv5Family", 4),
    "Standard_D2s_v6": ("standardDSv6Family", 2),
    "Standard_D4s_v6": ("standardDSv6Family", 4),
    "Standard_DC2as_v5": ("standardDCASv5Family", 2),
    "Standard_DC4as_v5": ("standardDCASv5Family", 4),
    "Standard_EC2as_v5": ("standardECASv5Family", 2),
    "Standard_A2_v2": ("standardAv2Family", 2),
    "Standard_M8ms": ("standardMSFamily", 8),
}
#: The security capabilities of each size's SKU, as the list gives them (docs/azure-
#: behaviours.md, "Security types"): both generations unless said; confidential sizes
#: Gen2 only with their ConfidentialComputingType (SNP: AMD SEV-SNP); Av2 Gen1 only;
#: M-series without Trusted Launch.
GEN1_AND_GEN2 = {"HyperVGenerations": "V1,V2"}
CAPABILITIES: dict[str, dict[str, str]] = {
    "Standard_D2ps_v5": {"HyperVGenerations": "V2"},
    "Standard_D4ps_v5": {"HyperVGenerations": "V2"},
    "Standard_D2s_v6": {"HyperVGenerations": "V2"},
    "Standard_D4s_v6": {"HyperVGenerations": "V2"},
    "Standard_DC2as_v5": {"HyperVGenerations": "V2", "ConfidentialComputingType": "SNP"},
    "Standard_DC4as_v5": {"HyperVGenerations": "V2", "ConfidentialComputingType": "SNP"},
    "Standard_EC2as_v5": {"HyperVGenerations": "V2", "ConfidentialComputingType": "SNP"},
    "Standard_A2_v2": {"HyperVGenerations": "V1"},
    "Standard_M8ms": {"HyperVGenerations": "V1,V2", "TrustedLaunchDisabled": "True"},
}


def capabilities(size: str) -> dict[str, str]:
    """A size's security capabilities; {} for one the catalog does not hold (a size
    added with --quota only: nothing known, nothing refused)."""
    if size not in SIZES:
        return {}
    return CAPABILITIES.get(size, GEN1_AND_GEN2)
DEFAULT_LIMIT = 10_000
_QUOTA = re.compile(r"^[A-Za-z0-9]+=\d+$")


def parse_quota(item: str) -> tuple[str, int]:
    """'standardDSv5Family=20' -> ('standarddsv5family', 20); ValueError otherwise."""
    if not _QUOTA.match(item):
        raise ValueError(f"--quota {item!r}: expected NAME=LIMIT, e.g. cores=20 or "
                         "standardDSv5Family=16")
    name, limit = item.split("=")
    return name.lower(), int(limit)


def skus(location: str) -> list[dict[str, Any]]:
    return [{"resourceType": "virtualMachines", "name": size, "family": family,
             "locations": [location],
             "capabilities": [{"name": "vCPUs", "value": str(n)},
                              *({"name": k, "value": v} for k, v in capabilities(size).items())]}
            for size, (family, n) in SIZES.items()]


def usages(limits: dict[str, int], running: list[str]) -> list[dict[str, Any]]:
    """`running`: the sizes of the VMs running in the region now."""
    used: dict[str, int] = {"cores": 0}
    for size in running:
        family, vcpus = SIZES.get(size, ("", 0))
        used["cores"] += vcpus
        if family:
            used[family.lower()] = used.get(family.lower(), 0) + vcpus
    names = {"cores", *(f.lower() for f, _ in SIZES.values()), *limits}
    return [{"name": {"value": name, "localizedValue": name}, "unit": "Count",
             "currentValue": used.get(name, 0), "limit": limits.get(name, DEFAULT_LIMIT)}
            for name in sorted(names)]
