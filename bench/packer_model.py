"""A modeled Packer-then-Terraform flow for the dev stack, from the simulator's latencies.

Pure arithmetic on `offline.latency.DEFAULT_LATENCY_S` (or any mapping with its keys), so
both flows are priced with the same numbers. Packer's azure-arm builder runs its steps in
a row; Terraform then creates the clones, `parallelism` resources at a time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from offline.latency import DEFAULT_LATENCY_S

TERRAFORM_PARALLELISM = 10  # terraform apply -parallelism default


def packer_steps(latency: Mapping[str, float] = DEFAULT_LATENCY_S, *, customize_steps: int = 1,
                 replicate: bool = True) -> list[tuple[str, float]]:
    """Packer's sequence, one step after another, with the latency key each assumes:

    - temporary resource group: `resourceGroup.create`
    - its temporary VNet/subnet/NSG (one ARM deployment): `network.create`
    - its temporary NIC (public IP in parallel): `nic.create`
    - the build VM: `vm.create`
    - provisioners, one per customize step: `runCommand.customize` each
    - deprovision (waagent -deprovision+user / sysprep): `runCommand.deprovision`
    - deallocate: `vm.deallocate`; generalize: `vm.generalize`
    - capture to the gallery: `galleryImageVersion.capture`, plus
      `galleryImageVersion.replicate` when there are target regions beyond the source
    - cleanup of its temporary resources: VM, then NIC/VNet/OS disk in parallel, then the
      temporary resource group: 3 x `delete`
    The gallery and image definition are assumed to exist already (Packer creates neither).
    """
    steps = [
        ("temporary resource group", latency["resourceGroup.create"]),
        ("temporary network", latency["network.create"]),
        ("temporary NIC", latency["nic.create"]),
        ("build VM", latency["vm.create"]),
    ]
    steps += [(f"provisioner {i + 1}", latency["runCommand.customize"])
              for i in range(customize_steps)]
    steps += [
        ("deprovision", latency["runCommand.deprovision"]),
        ("deallocate", latency["vm.deallocate"]),
        ("generalize", latency["vm.generalize"]),
        ("capture to gallery", latency["galleryImageVersion.capture"]),
    ]
    if replicate:
        steps.append(("replicate", latency["galleryImageVersion.replicate"]))
    steps += [
        ("delete VM", latency["delete"]),
        ("delete NIC, VNet, OS disk", latency["delete"]),
        ("delete temporary resource group", latency["delete"]),
    ]
    return steps


def terraform_waves(clones: int, parallelism: int = TERRAFORM_PARALLELISM) -> int:
    """Clones created `parallelism` at a time (each a NIC, then its VM)."""
    return math.ceil(clones / parallelism) if clones > 0 else 0


def packer_then_terraform_s(clones: int, latency: Mapping[str, float] = DEFAULT_LATENCY_S, *,
                            customize_steps: int = 1, replicate: bool = True,
                            parallelism: int = TERRAFORM_PARALLELISM) -> float:
    """Seconds from `packer build` to the last clone: Packer's steps in a row, then a
    separate `terraform apply` of N clones in waves of `parallelism`, each wave a
    `nic.create` then a `vm.create`."""
    packer = sum(s for _, s in packer_steps(latency, customize_steps=customize_steps,
                                           replicate=replicate))
    wave = latency["nic.create"] + latency["vm.create"]
    return packer + terraform_waves(clones, parallelism) * wave
