"""Generalize a build VM on Azure: seal the guest, deallocate, flag it generalized.

Neither Terraform azurerm nor pulumi-azure-native can generalize a VM (users shell out to
`az vm generalize`), so this file owns that step:

- `generalize_vm`: the convergent procedure against a real `ComputeManagementClient`;
- `GENERALIZE`: it as a VM action (vmimage/providers/vm_action.py), and `Generalize`, the
  Pulumi dynamic resource recording that it ran, once, for one VM.

Every step reads the VM's state before acting, so a run that dies anywhere (say between
deallocate and generalize) converges when run again, and an already generalized VM costs
one GET and zero POSTs. See docs/generalize.md for RBAC actions, timings and pitfalls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from vmimage.azure.client import arm_code, describe, retry_after
from vmimage.providers.guest_seal import Seal, SealError, seal_guest
from vmimage.providers.vm_action import (
    BASE_BUNDLE,
    RETRY_METHODS,
    VmAction,
    VmActionError,
    VmActionProvider,
    VmActionResource,
    VmArgs,
    is_unknown,
    reporter,
)

__all__ = [
    "GENERALIZE",
    "Generalize",
    "GeneralizeArgs",
    "GeneralizeError",
    "GeneralizeProvider",
    "generalize_vm",
]

#: The modules the provider host needs, dependencies first (vmimage/providers/bundle.py).
BUNDLE = (*BASE_BUNDLE, "vmimage.providers.guest_seal", __name__)

#: ARM error codes of a 409 that only means "another operation holds the VM right now".
#: OperationNotAllowed (e.g. generalize on a running VM) is *not* here: waiting won't fix it.
_TRANSIENT_CONFLICTS = frozenset({
    "conflict", "retryableerror", "operationpreempted", "anotheroperationinprogress",
})
_CONFLICT_ATTEMPTS = 6
_CONFLICT_BACKOFF_MAX_S = 120.0


class GeneralizeError(VmActionError):
    """The VM could not be generalized; the message names the VM, phase and next step."""


# ----- the procedure ---------------------------------------------------------------------

def _states(client: Any, resource_group: str, vm_name: str) -> tuple[str, str]:
    """(power, os) from the instance view, lower-case words. No OSState status means ARM
    never flagged the VM: Azure calls that OS state "specialized"."""
    view = client.virtual_machines.instance_view(resource_group, vm_name)
    power, os_state = "unknown", "specialized"
    for status in view.statuses or []:
        code = (status.code or "").lower()
        if code.startswith("powerstate/"):
            power = code.split("/", 1)[1]
        elif code.startswith("osstate/"):
            os_state = code.split("/", 1)[1]
    return power, os_state


def generalize_vm(client: Any, resource_group: str, vm_name: str, *,
                  seal: Seal | None, location: str = "", poll_s: float = 15.0,
                  sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.monotonic,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Bring `vm_name` to PowerState/deallocated + OSState/generalized, idempotently.

    1. already generalized → return at once (zero POSTs);
    2. `seal`: seal the guest and wait until it powered itself off
       (vmimage/providers/guest_seal.py); on failure or timeout raise without touching the VM,
       since deallocating a VM whose guest was not sealed would capture a broken image.
       None: the guest was sealed by other means; go on;
    3. deallocate unless already deallocated (LRO polled to the end; failure stops here);
    4. generalize, then confirm OSState/generalized from a fresh instance view.

    Every step reads first, so a run cut short anywhere converges when run again.
    Returns {"vmName", "powerState", "osState", "posts", "elapsedSeconds"}.
    """
    from azure.core.exceptions import HttpResponseError

    started = clock()
    posts = 0
    report = reporter(vm_name, clock, progress)

    def elapsed() -> float:
        return clock() - started

    def read() -> tuple[str, str]:
        try:
            return _states(client, resource_group, vm_name)
        except HttpResponseError as err:
            raise GeneralizeError(
                f"cannot read the instance view of VM {vm_name!r} in {resource_group!r}: "
                f"{describe(err)}") from err

    def result(power: str, os_state: str) -> dict[str, Any]:
        return {"vmName": vm_name, "powerState": power, "osState": os_state,
                "posts": posts, "elapsedSeconds": round(elapsed(), 3)}

    def safe_read() -> tuple[str, str]:
        try:
            return _states(client, resource_group, vm_name)
        except HttpResponseError:
            return "unknown", "unknown"

    def post_with_conflicts(action: str, call: Callable[[], None],
                            done: Callable[[str, str], bool]) -> None:
        """Send one mutating POST; on a transient 409 wait, re-read and retry (bounded).

        Why here and not in azure-core's RetryPolicy: a 409 is only transient for some
        ARM codes (Conflict, RetryableError, OperationPreempted) and never for others
        (OperationNotAllowed, PropertyChangeNotAllowed); RetryPolicy sees status codes,
        not bodies, and retrying every 409 on every request of the client would hide real
        errors. And after a conflict the right move is to re-read the VM first: the
        operation we collided with may have done our work (someone else deallocated).
        """
        nonlocal posts
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            posts += 1
            try:
                call()
                return
            except HttpResponseError as err:
                transient = (getattr(err, "status_code", None) == 409
                             and arm_code(err).lower() in _TRANSIENT_CONFLICTS)
                if not transient or attempt == _CONFLICT_ATTEMPTS:
                    power, os_state = safe_read()
                    raise GeneralizeError(
                        f"{action} of VM {vm_name!r} in {resource_group!r} failed "
                        f"(HTTP {getattr(err, 'status_code', '?')}, {describe(err)}); "
                        f"power state {power}, OS state {os_state}"
                        + ("; not generalizing" if action == "deallocate" else "")
                    ) from err
                delay = retry_after(err) or min(poll_s * 2 ** (attempt - 1),
                                                _CONFLICT_BACKOFF_MAX_S)
                report(f"{action}: conflict ({arm_code(err)}), retrying in {delay:.0f}s")
                sleep(delay)
                if done(*read()):
                    return

    power, os_state = read()
    report(f"power state {power}, OS state {os_state}")
    if os_state == "generalized":
        report("already generalized, nothing to do")
        return result(power, os_state)

    if seal is not None:
        try:
            # Raw reads: while waiting, a transient failure is the seal's to ride out.
            seal_guest(client, resource_group, vm_name, seal, location=location,
                       read_power=lambda: _states(client, resource_group, vm_name)[0],
                       sleep=sleep, clock=clock, poll_s=poll_s, report=report)
        except SealError as err:
            raise GeneralizeError(str(err)) from None
        power, os_state = read()

    if power != "deallocated":
        report("deallocating")
        post_with_conflicts(
            "deallocate",
            lambda: client.virtual_machines.begin_deallocate(
                resource_group, vm_name, retry_on_methods=RETRY_METHODS).result(),
            lambda p, _o: p == "deallocated")
        report("deallocated")

    report("generalizing")
    post_with_conflicts(
        "generalize",
        lambda: client.virtual_machines.generalize(
            resource_group, vm_name, retry_on_methods=RETRY_METHODS),
        lambda _p, o: o == "generalized")
    power, os_state = read()
    if os_state != "generalized":
        raise GeneralizeError(
            f"ARM accepted generalize for VM {vm_name!r} but its instance view shows OS "
            f"state {os_state} (power state {power}); run again to retry")
    report(f"generalized ({power})")
    return result(power, os_state)


# ----- the VM action and its Pulumi dynamic resource ----------------------------------------

_OWN_INPUTS = ("os", "sealScript", "sealChecks", "timeoutSeconds")

def seal_of(props: dict[str, Any]) -> Seal:
    """The guest seal a Generalize resource asks for."""
    return Seal(os=str(props["os"]), script=str(props["sealScript"]),
                checks=props.get("sealChecks") or None,
                timeout_s=float(props.get("timeoutSeconds") or 3600.0))


def _run(client: Any, props: dict[str, Any], **how: Any) -> dict[str, Any]:
    return generalize_vm(client, props["resourceGroupName"], props["vmName"],
                         seal=seal_of(props), location=str(props.get("location") or ""), **how)


def _check(news: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    timeout = news.get("timeoutSeconds")
    if not is_unknown(timeout) and (not isinstance(timeout, int | float) or timeout <= 0):
        found.append(("timeoutSeconds", "timeoutSeconds must be a positive number"))
    if news.get("os") not in ("linux", "windows"):
        found.append(("os", "os must be linux or windows"))
    return found


GENERALIZE = VmAction(name="generalize", inputs=_OWN_INPUTS,
                      outputs=("powerState", "osState"), done_at="generalizedAt", run=_run,
                      required=("resourceGroupName", "vmName", "vmId", "sealScript"),
                      check=_check)
#: Its inputs; only a change of the VM (its id, its unique id) is a new generalization.
GENERALIZE_INPUTS = GENERALIZE.all_inputs


class GeneralizeProvider(VmActionProvider):
    """What the engine's provider host runs for `Generalize`."""

    action = GENERALIZE
    bundle = BUNDLE


@dataclass(kw_only=True)
class GeneralizeArgs(VmArgs):
    """Inputs of `Generalize`: the VM, and how to seal its guest."""

    os: str
    """linux or windows: how the guest is sealed (vmimage/providers/guest_seal.py)."""
    seal_script: str
    """The seal run command's script: deprovision (Linux) or sysprep (Windows)."""
    seal_checks: str | None = None
    """Windows: checks run synchronously before sysprep starts."""
    timeout_seconds: float = 3600.0
    """How long the guest may take to power off once sealed, before the step fails
    (without deallocating)."""


class Generalize(VmActionResource, module="vmimage", name="Generalize"):
    """The build VM, deallocated and flagged generalized. Runs once per VM id."""

    provider = GeneralizeProvider
    power_state: pulumi.Output[str]
    """PowerState word after the step: "deallocated"."""
    os_state: pulumi.Output[str]
    """OSState word after the step: "generalized"."""
    generalized_at: pulumi.Output[str]
    """ISO 8601 UTC time at which the step completed."""
    vm_id: pulumi.Output[str]
    """ARM id of the generalized VM (feed this to the image version's source)."""

    def __init__(self, name: str, args: GeneralizeArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, args, opts)
