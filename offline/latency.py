"""How long each ARM operation takes in the simulated Azure, in seconds.

The defaults are typical durations, not guarantees: Microsoft documents none of them.
They come from Azure's own guidance where it exists (sysprep and replication ranges in
the Compute Gallery and Windows generalize docs) and from commonly reported timings in
Packer azure-arm build logs (VM create 1-3 min, deallocate 1-2 min, capture 5-15 min).
Override any of them with `--latency KEY=SECONDS` to model your own subscription.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from vmimage.suggest import did_you_mean

DEFAULT_LATENCY_S: dict[str, float] = {
    "resourceGroup.create": 2,
    "network.create": 10,  # VNet, subnet, NSG
    "nic.create": 5,
    "publicIp.create": 5,
    "vm.create": 120,  # marketplace or gallery image, disks included
    "vmss.create": 180,  # Flexible scale set: instances start in parallel
    "vmss.instance": 0.05,  # per extra instance, for platform batching
    "vmss.reimage": 180,  # one rolling-upgrade batch: instances reimaged onto the new model
    "runCommand.customize": 180,  # package installs dominate
    "runCommand.checks": 30,  # Windows checks before sysprep
    "runCommand.deprovision": 20,  # cleans cloud-init, schedules the deprovision, returns
    "runCommand.async": 10,  # returns once the script has started (sysprep)
    "runCommand.agentLost": 5400,  # ARM gives up on a command whose agent never reports
    "guest.deprovision": 60,  # detached waagent deprovision + poweroff
    "guest.sysprep": 600,  # sysprep /generalize /oobe until ImageState says sealed
    "vm.instanceView": 1,
    "vm.deallocate": 90,
    "vm.generalize": 5,
    "vm.restart": 60,  # ARM's restart LRO: the platform reboots the VM
    "vm.start": 60,  # ARM's start LRO of a deallocated VM (an evicted Spot build VM)
    "guest.boot": 45,  # from the reboot until the guest agent reports Ready again
    "vmExtension.create": 60,  # an extension's PUT: the agent installs it
    "guest.health": 30,  # from the health extension's start until the probe answers
    "gallery.create": 10,
    "galleryImage.create": 10,
    "galleryImageVersion.capture": 600,  # snapshot of OS + data disks, first replica
    "galleryImageVersion.replicate": 300,  # other target regions, in parallel
    "managedImage.create": 300,
    "disk.access": 5,  # Disks - Grant Access / Revoke Access
    "blob.copy": 900,  # server-side Copy Blob of one managed disk into a page blob
    "random.create": 0,
    "update": 30,  # in-place PATCH of any resource
    "delete": 60,
    # -- limits, not durations (offline/limits.py; sources in docs/azure-behaviours.md) --
    "arm.writeBucket": 200,  # ARM's write tokens per subscription...
    "arm.writeRefillPerSecond": 10,  # ...refilled at this rate
    "compute.putVmPer3Min": 240,  # Microsoft.Compute PutVM3Min
    "gallery.createsPerReplica": 20,  # VM creations one image replica serves at once
}


@dataclass(frozen=True)
class LatencyModel:
    overrides: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.overrides) - set(DEFAULT_LATENCY_S))
        if unknown:
            known = f" (known: {', '.join(sorted(DEFAULT_LATENCY_S))})"
            raise ValueError("; ".join(
                f"--latency: unknown key {key!r}"
                + did_you_mean(key, DEFAULT_LATENCY_S, otherwise=known) for key in unknown))

    def __call__(self, key: str) -> float:
        return float(self.overrides.get(key, DEFAULT_LATENCY_S[key]))


def parse_overrides(items: list[str]) -> dict[str, float]:
    """`['vm.create=90', ...]` -> {'vm.create': 90.0}; raises ValueError with the item."""
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            seconds = float(value) if sep else math.nan
        except ValueError:
            seconds = math.nan
        # nan or inf would poison the schedule; negative time does not exist.
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(
                f"--latency {item!r}: expected KEY=SECONDS with SECONDS a number >= 0"
            )
        parsed[key.strip()] = seconds
    return parsed
