"""One dynamic provider for ARM actions on a VM (generalize, restart, and later others).

Neither pulumi-azure-native nor Terraform's azurerm can POST an action to a VM, so each
action is a Pulumi dynamic resource recording that it ran, once, for one VM. What they
share lives here, once: the provider's by-value packaging (vmimage/providers/bundle.py),
the stack's azure-native credentials, the SDK client with bounded timeouts, preview-safe
Check, the diff that only a different VM replaces, and Update/Read/Delete that never
touch Azure. An action is a `VmAction`: its inputs, its outputs and its procedure
(`run(client, props, ...)`), which the offline simulator runs through the same client.

A module that defines an action is bundled with this one: it imports only the standard
library, pulumi, the Azure SDK (lazily) and the modules before it in its BUNDLE.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import pulumi
import pulumi.dynamic
from pulumi.output import Unknown

from vmimage.azure.auth import CLOUDS, AuthError, AuthSettings, make_credential, resolve_settings
from vmimage.azure.client import (
    TRANSPORT,
    ArmUnreachable,
    blob_endpoint,
    check_credential,
    configured,
    endpoints,
    make_blob_service,
    make_compute_client,
    unreachable,
)
from vmimage.providers.bundle import reduce_by_value
from vmimage.vocabulary import UNKNOWN_STRING

#: What every bundle of a VM action starts with (dependencies first); an action's module
#: adds what it needs and itself.
BASE_BUNDLE = ("vmimage.vocabulary", "vmimage.providers.bundle", "vmimage.azure.auth",
               "vmimage.azure.client", "vmimage.providers.vm_action")

#: Inputs every VM action has: which VM, and how to reach its ARM.
VM_INPUTS = ("resourceGroupName", "vmName", "vmId", "vmUniqueId", "location",
             "subscriptionId", "environment")
#: A different VM is a new action: another ARM id, or the same name recreated (a new
#: unique id behind the same ARM id).
REPLACE_KEYS = ("vmId", "vmUniqueId")
#: VM actions' POSTs (deallocate, generalize, restart, start) are idempotent, so any
#: retryable status may be retried on them. azure-core retries a POST only on 500/503/504
#: or with Retry-After; this per-request method list extends that to 408, 502 and a bare 429.
RETRY_METHODS = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"})
#: How often an action reads the VM while it waits (seconds; default 15): set in the
#: provider host's environment to poll faster or slower.
POLL_ENV = "VMIMAGE_POLL_SECONDS"


def reporter(vm_name: str, clock: Callable[[], float],
             progress: Callable[[str], None] | None) -> Callable[[str], None]:
    """Progress lines of an action: the VM, what happens, the seconds since it began."""
    started = clock()

    def report(what: str) -> None:
        if progress is not None:
            progress(f"{vm_name}: {what} ({clock() - started:.0f}s)")
    return report


def poll_interval(env: dict[str, str] | os._Environ[str] = os.environ) -> float:
    try:
        value = float(env.get(POLL_ENV, "15"))
    except ValueError:
        return 15.0
    return value if 0 < value <= 300 else 15.0


class VmActionError(Exception):
    """The action failed; the message names the VM, what happened and what to do."""


@dataclass(frozen=True)
class VmAction:
    """One kind of ARM action on a VM."""

    name: str
    """Its name in messages ("generalize")."""
    inputs: tuple[str, ...]
    """Its own inputs (wire names), beyond VM_INPUTS."""
    outputs: tuple[str, ...]
    """What `run` reports; kept as they were when an update changes only inputs."""
    done_at: str
    """The output that records when it ran ("generalizedAt")."""
    run: Callable[..., dict[str, Any]]
    """`run(client, props, *, sleep, clock, progress)`: the procedure; returns `outputs`
    but `done_at`. Reads before it acts, so a run cut short converges when run again."""
    required: tuple[str, ...] = ("resourceGroupName", "vmName", "vmId")
    """Inputs that must be non-empty strings (once known)."""
    check: Callable[[dict[str, Any]], list[tuple[str, str]]] = field(
        default=lambda _news: [])
    """Problems of the action's own inputs: (property, reason)."""
    replaces: tuple[str, ...] = ()
    """Own inputs whose change is a new action (beyond a different VM)."""
    storage: bool = False
    """`run` also takes `storage` (account URL -> BlobServiceClient, as the same
    credential) and `blob_endpoint` (account name -> its blob service URL)."""
    subscriptions: bool = False
    """`run` also takes `client_for` (subscription -> ComputeManagementClient, as the same
    credential and cloud): for what it acts on outside the VM's subscription."""

    @property
    def all_inputs(self) -> tuple[str, ...]:
        return VM_INPUTS + self.inputs


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


def subscription_output(vm_id: pulumi.Input[str]) -> pulumi.Output[str | None]:
    """The subscription of a VM, from its ARM id once known (an input of every action)."""
    return pulumi.Output.from_input(vm_id).apply(lambda arm_id: subscription_of(arm_id))


def subscription(props: dict[str, Any], configured_subscription: str | None = None) -> str:
    """The VM's own ARM id names its subscription; the provider's configuration and the
    environment are for callers whose VM id is not an ARM id (tests, mocks)."""
    sub = props.get("subscriptionId") or subscription_of(props.get("vmId")) \
        or configured_subscription or os.environ.get("ARM_SUBSCRIPTION_ID") \
        or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if not sub:
        raise VmActionError(
            "no subscription id: vmId is not an ARM id; set the subscriptionId input, "
            "azure-native:subscriptionId, or ARM_SUBSCRIPTION_ID / AZURE_SUBSCRIPTION_ID")
    return str(sub)


class VmActionProvider(pulumi.dynamic.ResourceProvider):
    """CRUD for one VM action. Stateless: everything comes from the resource's props and
    the stack's `azure-native:*` configuration (credentials, as azure-native reads them).
    A subclass names its `action` and its `bundle`."""

    action: ClassVar[VmAction]
    bundle: ClassVar[tuple[str, ...]]
    # The pickle holds source code and nothing else; no secret to protect.
    serialize_as_secret_always = False

    def __init__(self) -> None:
        self._config: dict[str, Any] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        return reduce_by_value(self.bundle, type(self).__name__)

    def configure(self, req: pulumi.dynamic.ConfigureRequest) -> None:
        # The engine hands dynamic providers the whole stack config, keys with their
        # namespace (pulumi/pulumi#17673, v3.139): azure-native's credentials among them.
        raw = getattr(req.config, "_props", {}) or {}
        self._config = configured(raw)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        # A preview of a new build VM has no VM id yet: unknown values are fine here and
        # checked when they are known (the engine calls Check again during the update).
        failures = [
            pulumi.dynamic.CheckFailure(key, f"{key} must be a non-empty string")
            for key in self.action.required
            if not is_unknown(news.get(key))
            and (not isinstance(news.get(key), str) or not news.get(key))
        ]
        failures += [pulumi.dynamic.CheckFailure(prop, reason)
                     for prop, reason in self.action.check(news)]
        env = news.get("environment")
        if env is not None and not is_unknown(env) and str(env).lower() not in CLOUDS:
            failures.append(pulumi.dynamic.CheckFailure(
                "environment", f"environment must be one of {', '.join(CLOUDS)}"))
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any],
             news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        # An action is tied to one VM: only a different VM (another ARM id, or a VM
        # recreated under the same name) is a new action. Other inputs change in place
        # without Azure. An unknown VM id (a preview that replaces the VM) may be another.
        changed = [k for k in self.action.all_inputs
                   if is_unknown(news.get(k)) or olds.get(k) != news.get(k)]
        replaces = [k for k in (*REPLACE_KEYS, *self.action.replaces) if k in changed]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=replaces,
            stables=[*self.action.outputs, self.action.done_at], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        from azure.core.exceptions import ServiceRequestError

        settings = resolve_settings(self._config, os.environ)
        if props.get("environment"):
            settings = AuthSettings({**settings.values, "environment": props["environment"]})
        endpoint = "Azure Resource Manager"
        try:
            sub = subscription(props, settings.get("subscriptionId"))
            cloud = endpoints(settings.environment)
            endpoint = cloud["resource_manager"]
            credential, how = make_credential(settings, **TRANSPORT)
            # One token first: a missing or wrong credential fails before any VM is touched.
            check_credential(credential, cloud["credential_scopes"], how)
            client = make_compute_client(sub, credential=credential, settings=settings)
            # pulumi.log reaches the CLI from a program; inside the provider host there is
            # no engine connection (pulumi/pulumi#6065) and it falls back to stderr, which
            # the engine shows as the plugin's diagnostics. Good enough for progress lines.
            clients: dict[str, Any] = {}
            if self.action.storage:
                clients["storage"] = lambda url: make_blob_service(url, credential=credential)
                clients["blob_endpoint"] = lambda account: blob_endpoint(
                    account, settings.environment)
            if self.action.subscriptions:
                clients["client_for"] = lambda other: make_compute_client(
                    other, credential=credential, settings=settings)
            outcome = self.action.run(client, props, progress=pulumi.log.info,
                                      poll_s=poll_interval(), **clients)
        except ServiceRequestError as err:
            raise VmActionError(str(unreachable(err, endpoint))) from None
        except (AuthError, ArmUnreachable) as err:
            raise VmActionError(str(err)) from None
        return pulumi.dynamic.CreateResult(id_=str(props["vmId"]),
                                           outs=self.record(props, outcome))

    def record(self, props: dict[str, Any], outcome: dict[str, Any],
               done_at: str | None = None) -> dict[str, Any]:
        """The resource's outputs: its inputs, what the action reported, when it ran."""
        outs = {k: props.get(k) for k in self.action.all_inputs}
        outs.update({k: outcome.get(k) for k in self.action.outputs})
        outs[self.action.done_at] = done_at or datetime.now(UTC).isoformat(timespec="seconds")
        return outs

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        # The record of a one-off event: refresh keeps it. (Re-reading Azure would drop
        # the record once the build VM is deleted after capture, and the next `up` would
        # act on a VM that no longer exists.)
        return pulumi.dynamic.ReadResult(id_=id_, outs=dict(props))

    def update(self, _id: str, olds: dict[str, Any],
               news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        outs = {k: news.get(k) for k in self.action.all_inputs}
        outs.update({k: olds.get(k) for k in (*self.action.outputs, self.action.done_at)})
        return pulumi.dynamic.UpdateResult(outs=outs)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Nothing to undo: an action on a VM happened. Deleting the VM is the BuildVm
        # component's business.
        return None


@dataclass(kw_only=True)
class VmArgs:
    """Which VM an action acts on, and how its ARM is reached (VM_INPUTS): the inputs every
    action's Args dataclass starts with."""

    resource_group_name: pulumi.Input[str]
    """Resource group of the VM."""
    vm_name: pulumi.Input[str]
    """Name of the VM."""
    vm_id: pulumi.Input[str]
    """ARM id of the VM: the data dependency on it, and a replace trigger."""
    location: pulumi.Input[str]
    """Region of the VM (run commands an action sends are created there)."""
    subscription_id: pulumi.Input[str | None] | None = None
    """Subscription of the VM; defaults to the one in `vm_id`, then to
    ARM_SUBSCRIPTION_ID / AZURE_SUBSCRIPTION_ID."""
    environment: pulumi.Input[str] | None = None
    """azure-native:environment: public (default), usgovernment or china."""
    vm_unique_id: pulumi.Input[str] | None = None
    """The VM's unique id (`VirtualMachine.vm_id`): changes when a VM is recreated under
    the same name, which is another VM to act on."""


def snake_case(wire: str) -> str:
    """'resourceGroupName' -> 'resource_group_name'."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in wire)


class VmActionResource(pulumi.dynamic.Resource):
    """A VM action as a Pulumi dynamic resource: the fields of its Args dataclass are its
    inputs, its action's outputs start unknown; camelCase on the wire (and so in state and
    in the provider's props), snake_case on the Python attributes. A subclass names its
    `provider` and its type (`module=`, `name=`)."""

    provider: ClassVar[type[VmActionProvider]]

    def __init__(self, name: str, args: Any,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        action = self.provider.action
        props: dict[str, Any] = {snake_case(k): getattr(args, snake_case(k))
                                 for k in action.all_inputs}
        props.update({snake_case(k): None for k in (*action.outputs, action.done_at)})
        self._wire = {snake_case(k): k for k in (*action.all_inputs, *action.outputs,
                                                 action.done_at)}
        super().__init__(self.provider(), name, props, opts)

    def translate_input_property(self, prop: str) -> str:
        return self._wire.get(prop, prop)

    def translate_output_property(self, prop: str) -> str:
        return snake_case(prop) if prop in self._wire.values() else prop
