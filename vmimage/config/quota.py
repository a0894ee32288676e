"""Whether the subscription's vCPU quota in the region holds the pipeline at its busiest:
build and validation VMs, every clone and scale-set instance, and the VMs a rollout runs
twice (`spec.rules.surge_of`). Azure refuses a VM over quota when it is created, mid-run;
this says so before anything is registered. Pure: the sizes and quotas come from Azure
(`vmimage/azure/reads.py`), read once per run."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from vmimage.config.rules import surge_of

if TYPE_CHECKING:
    from vmimage.azure.reads import Quota, SizeInfo
    from vmimage.config.models import PipelineSpec

#: The usage that counts every family's vCPUs together.
TOTAL = "cores"


def peak_vms(spec: PipelineSpec) -> Counter[tuple[str, str]]:
    """(region, size) -> how many VMs of that size run there at the busiest moment."""
    peak: Counter[tuple[str, str]] = Counter()
    for build in spec.builds:
        if build.retired or build.size is None:
            continue
        peak[(spec.location, build.size)] += 1 + (1 if build.validate_steps else 0)
    for clone in spec.clones:
        twice = surge_of(clone) if clone.kind == "vm" else 0
        peak[(spec.clone_region(clone), clone.size)] += clone.count + twice
    return peak


def quota_problems(spec: PipelineSpec, sizes: dict[str, dict[str, SizeInfo]],
                   quotas: dict[str, dict[str, Quota]]) -> tuple[list[str], list[str]]:
    """(problems, warnings): a need over a quota's limit can never fit; one over what is
    free now may fit, since part of what is used may be this pipeline's own VMs."""
    need: Counter[tuple[str, str]] = Counter()
    for (region, size), count in peak_vms(spec).items():
        info = sizes.get(region, {}).get(size.lower())
        if info is None:
            continue  # a size Azure does not list there: refused at create, with its name
        need[(region, info.family.lower())] += count * info.vcpus
        need[(region, TOTAL)] += count * info.vcpus
    problems, warnings = [], []
    for (region, usage), vcpus in sorted(need.items()):
        quota = quotas.get(region, {}).get(usage)
        if quota is None:
            continue
        what = "regional vCPUs" if usage == TOTAL else f"{usage} vCPUs"
        if vcpus > quota.limit:
            problems.append(
                f"clones: at its busiest this pipeline runs {vcpus} {what} in {region}, over "
                f"the subscription's quota of {quota.limit}; request more quota or use fewer "
                "or smaller VMs (rollout.health makes a roll hold one batch twice, not all)")
        elif vcpus > quota.limit - quota.used:
            warnings.append(
                f"clones: at its busiest this pipeline runs {vcpus} {what} in {region}; "
                f"{quota.limit - quota.used} of {quota.limit} are free now (what this "
                "pipeline already runs is among the used)")
    return problems, warnings
