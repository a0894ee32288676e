"""Gate a rollout batch on a clone's health: wait until the Application Health extension
reports the VM healthy (its instance view's `vmHealth.status.code` is
`HealthState/healthy`), then pause as configured. The next batch depends on every gate of
this one, so it starts only when this batch is healthy; an unhealthy clone stops the
rollout with what the extension last said, leaving the old VMs as they are.

- `wait_healthy`: the procedure against a real `ComputeManagementClient`;
- `HEALTH`: it as a VM action (vmimage/providers/vm_action.py), and `HealthGate`, the
  Pulumi dynamic resource recording that the clone was healthy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from vmimage.azure.client import describe
from vmimage.providers.vm_action import (
    BASE_BUNDLE,
    VmAction,
    VmActionError,
    VmActionProvider,
    VmActionResource,
    VmArgs,
    is_unknown,
    reporter,
)

__all__ = ["HEALTH", "HealthGate", "HealthGateArgs", "HealthGateError", "wait_healthy"]

BUNDLE = (*BASE_BUNDLE, __name__)
HEALTHY = "healthstate/healthy"


class HealthGateError(VmActionError):
    """The clone did not report healthy in time: the rollout stops here."""


def health_state(client: Any, resource_group: str, vm_name: str) -> str:
    """'healthy', 'unhealthy', 'initializing', 'unknown', or 'none' (no report yet)."""
    view = client.virtual_machines.instance_view(resource_group, vm_name)
    status = view.vm_health.status if view.vm_health is not None else None
    code = (status.code or "").lower() if status is not None else ""
    return code.split("/", 1)[1] if code.startswith("healthstate/") else "none"


def wait_healthy(client: Any, resource_group: str, vm_name: str, *, timeout_s: float = 900.0,
                 pause_s: float = 0.0, poll_s: float = 15.0,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Wait until `vm_name` reports healthy, then `pause_s`. Returns {"healthState"}."""
    from azure.core.exceptions import HttpResponseError

    report = reporter(vm_name, clock, progress)
    deadline = clock() + timeout_s
    state = "none"
    while True:
        try:
            state = health_state(client, resource_group, vm_name)
        except HttpResponseError as err:
            raise HealthGateError(f"cannot read the health of VM {vm_name!r}: "
                                  f"{describe(err)}") from err
        if state == HEALTHY.split("/", 1)[1]:
            break
        if clock() >= deadline:
            raise HealthGateError(
                f"VM {vm_name!r} did not report healthy within {timeout_s:.0f}s (the "
                f"Application Health extension says {state}); the rollout stops here and "
                "the old VMs stay. Check the probe (rollout.health) and the new version, then "
                "run again")
        report(f"waiting for healthy ({state})")
        sleep(poll_s)
    report("healthy")
    if pause_s > 0:
        report(f"pausing {pause_s:.0f}s before the next batch")
        sleep(pause_s)
    return {"healthState": "healthy"}


def _run(client: Any, props: dict[str, Any], **how: Any) -> dict[str, Any]:
    return wait_healthy(client, props["resourceGroupName"], props["vmName"],
                        timeout_s=float(props.get("timeoutSeconds") or 900.0),
                        pause_s=float(props.get("pauseSeconds") or 0.0), **how)


def _check(news: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for key, least in (("timeoutSeconds", 1), ("pauseSeconds", 0)):
        value = news.get(key)
        if value is not None and not is_unknown(value) and (
                not isinstance(value, int | float) or value < least):
            found.append((key, f"{key} must be a number of at least {least}"))
    return found


HEALTH = VmAction(name="health", inputs=("timeoutSeconds", "pauseSeconds"),
                  outputs=("healthState",), done_at="healthyAt", run=_run, check=_check)
HEALTH_INPUTS = HEALTH.all_inputs


class HealthGateProvider(VmActionProvider):
    """What the engine's provider host runs for `HealthGate`."""

    action = HEALTH
    bundle = BUNDLE


@dataclass(kw_only=True)
class HealthGateArgs(VmArgs):
    """Inputs of `HealthGate`: the clone, and how long to wait and pause."""

    timeout_seconds: float = 900.0
    pause_seconds: float = 0.0


class HealthGate(VmActionResource, module="vmimage", name="HealthGate"):
    """A clone VM, seen healthy once (and the pause after it)."""

    provider = HealthGateProvider
    health_state: pulumi.Output[str]
    healthy_at: pulumi.Output[str]
