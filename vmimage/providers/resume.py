"""Resume an evicted Spot build VM: ARM's start, then wait until the guest agent reports
Ready, so the customize steps that were not done yet can run.

An eviction with policy Deallocate keeps the VM's disks and the work the steps already
did on them; Azure does not start an evicted VM again by itself (spot-vms). The program
finds such a VM before it registers anything (vmimage/stack/evictions.py) and registers
this action ahead of the steps; `evictedAt` names the eviction, so another eviction later
is another start.

- `resume_vm`: the procedure against a real `ComputeManagementClient`;
- `RESUME`: it as a VM action (vmimage/providers/vm_action.py), and `Resume`, the Pulumi
  dynamic resource recording that it ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from vmimage.azure.client import describe
from vmimage.providers.restart import READY, status_reader, wait_until_ready
from vmimage.providers.vm_action import (
    BASE_BUNDLE,
    RETRY_METHODS,
    VmAction,
    VmActionError,
    VmActionProvider,
    VmActionResource,
    VmArgs,
    reporter,
)

__all__ = ["RESUME", "Resume", "ResumeArgs", "ResumeError", "ResumeProvider", "resume_vm"]

BUNDLE = (*BASE_BUNDLE, "vmimage.providers.restart", __name__)
#: A start of an evicted VM: the power states ARM starts from.
STARTABLE = ("deallocated", "stopped")


class ResumeError(VmActionError):
    """The VM could not be started, or its agent did not come back in time."""


def resume_vm(client: Any, resource_group: str, vm_name: str, *, timeout_s: float = 900.0,
              poll_s: float = 15.0, sleep: Callable[[float], None] = time.sleep,
              clock: Callable[[], float] = time.monotonic,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Start `vm_name` unless it runs already (someone started it since), then wait until
    its agent is Ready. Returns {"vmName", "powerState", "agentStatus"}."""
    from azure.core.exceptions import HttpResponseError

    report = reporter(vm_name, clock, progress)
    read = status_reader(client, resource_group, vm_name, ResumeError)
    before = read()
    if before.power == "running" and before.agent == READY:
        report("running already")
        return {"vmName": vm_name, "powerState": before.power, "agentStatus": "Ready"}
    if before.power in STARTABLE:
        report(f"starting the {before.power} VM")
        try:
            client.virtual_machines.begin_start(
                resource_group, vm_name, retry_on_methods=RETRY_METHODS).result()
        except HttpResponseError as err:
            # Spot capacity may not be back yet (SkuNotAvailable, OverconstrainedAllocation).
            raise ResumeError(
                f"start of the evicted Spot VM {vm_name!r} failed: {describe(err)}. Spot "
                "capacity may not be back yet: run again later, or set spot: false") from err
    report("waiting for the guest agent")
    return wait_until_ready(read, before, vm_name=vm_name, timeout_s=timeout_s, poll_s=poll_s,
                            sleep=sleep, clock=clock, report=report, after="started",
                            error=ResumeError)


def _run(client: Any, props: dict[str, Any], **how: Any) -> dict[str, Any]:
    return resume_vm(client, props["resourceGroupName"], props["vmName"], **how)


RESUME = VmAction(name="resume", inputs=("evictedAt",), outputs=("powerState", "agentStatus"),
                  done_at="resumedAt", run=_run, replaces=("evictedAt",))
RESUME_INPUTS = RESUME.all_inputs


class ResumeProvider(VmActionProvider):
    """What the engine's provider host runs for `Resume`."""

    action = RESUME
    bundle = BUNDLE


@dataclass(kw_only=True)
class ResumeArgs(VmArgs):
    """Inputs of `Resume`: the VM, and which eviction it resumes from."""

    evicted_at: pulumi.Input[str]
    """When the program found the VM evicted: a new value is a new start."""


class Resume(VmActionResource, module="vmimage", name="Resume"):
    """The evicted build VM, started once, with its guest agent Ready again."""

    provider = ResumeProvider
    power_state: pulumi.Output[str]
    agent_status: pulumi.Output[str]
    resumed_at: pulumi.Output[str]
