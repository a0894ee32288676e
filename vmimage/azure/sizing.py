"""How many gallery replicas a region needs. Pure, and free of imports, so the spec
(`replicas: auto`, its warnings) and the policy pack read the same numbers."""

from __future__ import annotations

VMS_PER_REPLICA = 20  # Azure guidance: 1 replica per 20 VMs created concurrently
MIN_REPLICAS_WHERE_CLONES_RUN = 2  # one busy or failed replica must not stall a rollout
MAX_REPLICAS_PER_REGION = 100


def azure_guidance(vm_count: int) -> int:
    """Azure's documented floor: one replica per 20 VMs created at once, at least one."""
    return max(1, min(MAX_REPLICAS_PER_REGION, -(-vm_count // VMS_PER_REPLICA)))


def recommended_replicas(vm_count: int) -> int:
    """What `auto` gives and the policy pack expects: Azure's guidance, and at least two
    where clones are created, so one unavailable replica cannot stall them."""
    if vm_count <= 0:
        return 1
    return max(MIN_REPLICAS_WHERE_CLONES_RUN, azure_guidance(vm_count))
