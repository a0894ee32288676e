"""Generalize a build VM on Azure: wait for the guest, deallocate, flag it generalized.

Neither Terraform azurerm nor pulumi-azure-native can generalize a VM (users shell out to
`az vm generalize`), so this file owns that step:

- `generalize_vm`: the convergent procedure against a real `ComputeManagementClient`;
- `Generalize`: a Pulumi dynamic resource recording that it ran, once, for one VM id,
  and `GeneralizeProvider`, what the engine's provider host runs for it.

Every step reads the VM's state before acting, so a run that dies anywhere (say between
deallocate and generalize) converges when run again, and an already generalized VM costs
one GET and zero POSTs. See docs/generalize.md for RBAC actions, timings and pitfalls.

The provider is pickled by value with the modules it needs (vmimage/providers/bundle.py):
this file imports only those, registers no resources at import time, and imports the
Azure SDK lazily (which also keeps imports cheap under Pulumi mocks).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pulumi
import pulumi.dynamic
from pulumi.output import Unknown

from vmimage.azure.auth import CLOUDS, AuthError, AuthSettings, make_credential, resolve_settings
from vmimage.azure.client import (
    TRANSPORT,
    ArmUnreachable,
    arm_code,
    check_credential,
    configured,
    describe,
    endpoints,
    make_compute_client,
    retry_after,
    unreachable,
)
from vmimage.providers.bundle import reduce_by_value
from vmimage.providers.guest_seal import Seal, SealError, seal_guest
from vmimage.vocabulary import UNKNOWN_STRING

__all__ = [
    "Generalize",
    "GeneralizeArgs",
    "GeneralizeError",
    "GeneralizeProvider",
    "generalize_vm",
]

#: The modules the provider host needs, dependencies first (vmimage/providers/bundle.py).
BUNDLE = ("vmimage.vocabulary", "vmimage.providers.bundle", "vmimage.azure.auth",
          "vmimage.azure.client", "vmimage.providers.guest_seal", __name__)

#: ARM error codes of a 409 that only means "another operation holds the VM right now".
#: OperationNotAllowed (e.g. generalize on a running VM) is *not* here: waiting won't fix it.
_TRANSIENT_CONFLICTS = frozenset({
    "conflict", "retryableerror", "operationpreempted", "anotheroperationinprogress",
})
_CONFLICT_ATTEMPTS = 6
_CONFLICT_BACKOFF_MAX_S = 120.0
#: Deallocate and generalize are idempotent, so any retryable status may be retried on
#: these POSTs. azure-core retries a POST only on 500/503/504 or with Retry-After; this
#: per-request method list extends that to 408, 502 and a bare 429.
_RETRY_METHODS = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"})


class GeneralizeError(Exception):
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

    def elapsed() -> float:
        return clock() - started

    def report(phase: str) -> None:
        if progress is not None:
            progress(f"{vm_name}: {phase} ({elapsed():.0f}s)")

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
                resource_group, vm_name, retry_on_methods=_RETRY_METHODS).result(),
            lambda p, _o: p == "deallocated")
        report("deallocated")

    report("generalizing")
    post_with_conflicts(
        "generalize",
        lambda: client.virtual_machines.generalize(
            resource_group, vm_name, retry_on_methods=_RETRY_METHODS),
        lambda _p, o: o == "generalized")
    power, os_state = read()
    if os_state != "generalized":
        raise GeneralizeError(
            f"ARM accepted generalize for VM {vm_name!r} but its instance view shows OS "
            f"state {os_state} (power state {power}); run again to retry")
    report(f"generalized ({power})")
    return result(power, os_state)


# ----- Pulumi dynamic resource -------------------------------------------------------------

#: Its inputs; only a change of the VM (its id, its unique id) is a new generalization.
GENERALIZE_INPUTS = ("resourceGroupName", "vmName", "vmId", "vmUniqueId", "location", "os",
                     "sealScript", "sealChecks", "timeoutSeconds", "subscriptionId",
                     "environment")
#: A different VM is a new generalization: another ARM id, or the same name recreated
#: (a new unique id behind the same ARM id).
_REPLACE_KEYS = ("vmId", "vmUniqueId")
_OUTPUT_KEYS = ("powerState", "osState", "generalizedAt")
_PY_NAMES = {"resourceGroupName": "resource_group_name", "vmName": "vm_name",
             "vmId": "vm_id", "vmUniqueId": "vm_unique_id",
             "sealScript": "seal_script", "sealChecks": "seal_checks",
             "timeoutSeconds": "timeout_seconds", "subscriptionId": "subscription_id",
             "powerState": "power_state", "osState": "os_state",
             "generalizedAt": "generalized_at"}
_WIRE_NAMES = {py: wire for wire, py in _PY_NAMES.items()}
#: The engine's sentinel for a value not known yet (a preview before the VM exists).


def is_unknown(value: object) -> bool:
    """During a preview the engine sends what is not known yet as a sentinel, which the
    provider host hands over as `pulumi.output.Unknown` (or the raw sentinel string)."""
    return isinstance(value, Unknown) or value == UNKNOWN_STRING


def subscription_of(arm_id: object) -> str | None:
    """The subscription in an ARM id (`/subscriptions/<id>/...`), or None."""
    parts = str(arm_id or "").split("/")
    if len(parts) > 2 and parts[0] == "" and parts[1].lower() == "subscriptions" and parts[2]:
        return parts[2]
    return None


def _subscription(props: dict[str, Any], configured_subscription: str | None = None) -> str:
    # The VM's own ARM id names its subscription; the provider's configuration and the
    # environment are for callers whose VM id is not an ARM id (tests, mocks).
    sub = props.get("subscriptionId") or subscription_of(props.get("vmId")) \
        or configured_subscription or os.environ.get("ARM_SUBSCRIPTION_ID") \
        or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if not sub:
        raise GeneralizeError(
            "no subscription id: vmId is not an ARM id; set the subscriptionId input, "
            "azure-native:subscriptionId, or ARM_SUBSCRIPTION_ID / AZURE_SUBSCRIPTION_ID")
    return str(sub)


def seal_of(props: dict[str, Any]) -> Seal:
    """The guest seal a Generalize resource asks for."""
    return Seal(os=str(props["os"]), script=str(props["sealScript"]),
                checks=props.get("sealChecks") or None,
                timeout_s=float(props.get("timeoutSeconds") or 3600.0))


class GeneralizeProvider(pulumi.dynamic.ResourceProvider):
    """CRUD for `Generalize`. Stateless: everything comes from the resource's props and
    the stack's `azure-native:*` configuration (for credentials, as azure-native's)."""

    # The pickle holds source code and nothing else; no secret to protect.
    serialize_as_secret_always = False

    def __init__(self) -> None:
        self._config: dict[str, Any] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        return reduce_by_value(BUNDLE, type(self).__name__)

    def configure(self, req: pulumi.dynamic.ConfigureRequest) -> None:
        # The engine hands dynamic providers the whole stack config, keys with their
        # namespace (pulumi/pulumi#17673, v3.139): azure-native's credentials among them.
        raw = getattr(req.config, "_props", {}) or {}
        self._config = configured(raw)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        # A preview of a new build VM has no VM id yet: unknown values are fine here and
        # checked when they are known (the engine calls Check again during the update).
        failures = []
        for key in ("resourceGroupName", "vmName", "vmId", "sealScript"):
            value = news.get(key)
            if not is_unknown(value) and (not isinstance(value, str) or not value):
                failures.append(pulumi.dynamic.CheckFailure(
                    key, f"{key} must be a non-empty string"))
        timeout = news.get("timeoutSeconds")
        if not is_unknown(timeout) and (not isinstance(timeout, int | float) or timeout <= 0):
            failures.append(pulumi.dynamic.CheckFailure(
                "timeoutSeconds", "timeoutSeconds must be a positive number"))
        if news.get("os") not in ("linux", "windows"):
            failures.append(pulumi.dynamic.CheckFailure("os", "os must be linux or windows"))
        env = news.get("environment")
        if env is not None and not is_unknown(env) and str(env).lower() not in CLOUDS:
            failures.append(pulumi.dynamic.CheckFailure(
                "environment", f"environment must be one of {', '.join(CLOUDS)}"))
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any],
             news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        # Generalizing is irreversible and tied to one VM: only a different VM (another ARM
        # id, or a VM recreated under the same name: a new unique id) is a new
        # generalization. Other inputs (timeout, wait flag) change in place without Azure.
        # An unknown VM id (a preview that replaces the build VM) may be another VM.
        changed = [k for k in GENERALIZE_INPUTS
                   if is_unknown(news.get(k)) or olds.get(k) != news.get(k)]
        replaces = [k for k in _REPLACE_KEYS if k in changed]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=replaces,
                                         stables=list(_OUTPUT_KEYS),
                                         delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        from azure.core.exceptions import ServiceRequestError

        settings = resolve_settings(self._config, os.environ)
        if props.get("environment"):
            settings = AuthSettings({**settings.values, "environment": props["environment"]})
        endpoint = "Azure Resource Manager"
        subscription = _subscription(props, settings.get("subscriptionId"))
        try:
            cloud = endpoints(settings.environment)
            endpoint = cloud["resource_manager"]
            credential, how = make_credential(settings, **TRANSPORT)
            # One token first: a missing or wrong credential fails before any VM is touched.
            check_credential(credential, cloud["credential_scopes"], how)
            client = make_compute_client(subscription, credential=credential,
                                         settings=settings)
            # pulumi.log reaches the CLI from a program; inside the provider host there is
            # no engine connection (pulumi/pulumi#6065) and it falls back to stderr, which
            # the engine shows as the plugin's diagnostics. Good enough for progress lines.
            outcome = generalize_vm(
                client, props["resourceGroupName"], props["vmName"], seal=seal_of(props),
                location=str(props.get("location") or ""), progress=pulumi.log.info)
        except ServiceRequestError as err:
            raise GeneralizeError(str(unreachable(err, endpoint))) from None
        except (AuthError, ArmUnreachable) as err:
            raise GeneralizeError(str(err)) from None
        outs = {k: props.get(k) for k in GENERALIZE_INPUTS}
        outs.update(powerState=outcome["powerState"], osState=outcome["osState"],
                    generalizedAt=datetime.now(UTC).isoformat(timespec="seconds"))
        return pulumi.dynamic.CreateResult(id_=str(props["vmId"]), outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        # The record of a one-off event: refresh keeps it. (Re-reading Azure would drop
        # the record once the build VM is deleted after capture, and the next `up` would
        # try to generalize a VM that no longer exists.)
        return pulumi.dynamic.ReadResult(id_=id_, outs=dict(props))

    def update(self, _id: str, olds: dict[str, Any],
               news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        outs = {k: news.get(k) for k in GENERALIZE_INPUTS}
        outs.update({k: olds.get(k) for k in _OUTPUT_KEYS})
        return pulumi.dynamic.UpdateResult(outs=outs)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Nothing to undo: a generalized VM stays generalized. Deleting the VM is the
        # BuildVm component's business.
        return None


@dataclass
class GeneralizeArgs:
    """Inputs of `Generalize`."""

    resource_group_name: pulumi.Input[str]
    """Resource group of the build VM."""
    vm_name: pulumi.Input[str]
    """Name of the build VM."""
    vm_id: pulumi.Input[str]
    """ARM id of the build VM: the data dependency on it, and a replace trigger."""
    location: pulumi.Input[str]
    """Region of the build VM (its seal run commands are created there)."""
    os: str
    """linux or windows: how the guest is sealed (vmimage/providers/guest_seal.py)."""
    seal_script: str
    """The seal run command's script: deprovision (Linux) or sysprep (Windows)."""
    seal_checks: str | None = None
    """Windows: checks run synchronously before sysprep starts."""
    timeout_seconds: float = 3600.0
    """How long the guest may take to power off once sealed, before the step fails
    (without deallocating)."""
    subscription_id: pulumi.Input[str] | None = None
    """Subscription of the VM; defaults to the one in `vm_id`, then to
    ARM_SUBSCRIPTION_ID / AZURE_SUBSCRIPTION_ID."""
    environment: pulumi.Input[str] | None = None
    """azure-native:environment: public (default), usgovernment or china."""
    vm_unique_id: pulumi.Input[str] | None = None
    """The VM's unique id (`VirtualMachine.vm_id`): changes when a VM is recreated under
    the same name, which must be generalized again."""


class Generalize(pulumi.dynamic.Resource, module="vmimage", name="Generalize"):
    """The build VM, deallocated and flagged generalized. Runs once per VM id."""

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
        # Python names here; translate_input_property puts them on the wire (and so in
        # state and in the provider's props) as camelCase, translate_output_property maps
        # them back onto these attributes.
        props: dict[str, Any] = {
            "resource_group_name": args.resource_group_name,
            "vm_name": args.vm_name,
            "vm_id": args.vm_id,
            "vm_unique_id": args.vm_unique_id,
            "location": args.location,
            "os": args.os,
            "seal_script": args.seal_script,
            "seal_checks": args.seal_checks,
            "timeout_seconds": args.timeout_seconds,
            "subscription_id": args.subscription_id,
            "environment": args.environment,
            "power_state": None,
            "os_state": None,
            "generalized_at": None,
        }
        super().__init__(GeneralizeProvider(), name, props, opts)

    def translate_input_property(self, prop: str) -> str:
        return _WIRE_NAMES.get(prop, prop)

    def translate_output_property(self, prop: str) -> str:
        return _PY_NAMES.get(prop, prop)
