"""The bridge between Pulumi's mocks and the simulated ARM.

`SimulatorMonitor` stands where the Pulumi engine's resource monitor would: it sees each
registration exactly as the engine would (type, name, parent, dependencies, options,
inputs with secrets still marked) and hands custom resources to `SimulatedArm`, at the
simulated time their dependencies allow. Nothing in `components/` knows it exists.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pulumi
from google.protobuf import empty_pb2
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime.proto import callback_pb2, callback_pb2_grpc, resource_pb2

from offline.arm import INVOKES, SUBSCRIPTION_ID, ArmError, SimulatedArm
from offline.arm.vm_rest import SimulatedClock, simulated_client
from offline.pulumi_host import (
    Aliases,
    EngineMonitor,
    InvokeFailure,
    resolve,
    with_ignored_changes,
)
from offline.secrets import secret_paths, unwrap
from vmimage.azure.reads import AzureReads
from vmimage.azure.sku_cache import sku_cache
from vmimage.vocabulary import (
    DYNAMIC_PREFIX,
    DYNAMIC_PROVIDER_KEY,
    SEAL_CHECKS_COMMAND,
    SEAL_COMMAND,
    STACK,
    VIRTUAL_MACHINE,
)


@dataclass
class Operation:
    resource: str  # urn
    op: str
    start_s: float
    end_s: float


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    dependencies: list[str]
    protect: bool
    inputs: dict[str, Any]  # as registered: secrets still wrapped
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    azure_name: str | None = None
    start_s: float = 0.0
    end_s: float = 0.0
    state: str = "created"
    action: str = "create"
    changed: list[str] = field(default_factory=list)  # properties that differ from state
    ignore_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    deleted_with: str = ""  # urn whose delete takes this one with it (the engine skips it)
    #: The previous run's URN of this resource when it differs (found through an alias).
    aliased_from: str | None = None

    @property
    def secret_paths(self) -> list[str]:
        return secret_paths(self.inputs)


@dataclass
class Failure:
    urn: str
    type: str
    name: str
    code: str
    message: str


@dataclass
class PriorResource:
    """A resource from the last run's state: what the engine would diff against."""

    urn: str
    type: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    protect: bool
    dependencies: list[str] = field(default_factory=list)
    parent: str | None = None
    custom: bool = True
    deleted_with: str = ""
    #: Marked for deletion: a replaced resource whose successor exists, not yet deleted
    #: (Pulumi's checkpoint keeps it as `delete: true`; the next update deletes it).
    delete: bool = False


@dataclass
class PendingOperation:
    """An operation the engine started and never saw end (a killed run): the resource
    may exist in Azure without being in state. Pulumi's checkpoint keeps it in
    `pending_operations` (type creating, updating, deleting)."""

    urn: str
    type: str
    operation: str  # "creating" | "updating" | "deleting"


# Decides what to do with a registration when a prior state exists:
# returns ("same" | "update" | "replace" | "create", changed property names).
DiffFn = Callable[[Registration, PriorResource | None], tuple[str, list[str]]]


class SimulatorMonitor(EngineMonitor):
    """The engine's side of the program (offline/pulumi_host.py), recording what the
    engine sees and driving SimulatedArm."""

    def __init__(self, arm: SimulatedArm, *, prior: dict[str, PriorResource] | None = None,
                 diff: DiffFn | None = None) -> None:
        super().__init__(_ArmMocks(self))
        self.arm = arm
        self.prior = prior or {}
        self.diff = diff
        self.registrations: dict[str, Registration] = {}
        self.operations: list[Operation] = []
        self.failures: list[Failure] = []
        self._lock = threading.Lock()  # the SDK calls the monitor from a thread pool
        self._pending: dict[tuple[str, str], Registration] = {}
        # parent urn -> child urns, so a component's readiness is not a scan of everything
        self._children: dict[str, list[str]] = {}
        self._completed_ops = 0
        self._cloud_reads: Any = None
        #: Operations started and not seen to end (by URN): what a crash leaves pending.
        self.pending: dict[str, PendingOperation] = {}
        self._aliases: Aliases | None = None
        #: The program's error hooks by name: where its callbacks server answers them.
        self.error_hooks: dict[str, Any] = {}
        self._hook_clock = SimulatedClock(0.0)  # when a failure's hooks act
        self._hook_urn = ""

    def prior_of(self, reg: Registration) -> PriorResource | None:
        return self.prior.get(reg.aliased_from or reg.urn)

    @property
    def azure_reads(self) -> dict[str, int]:
        """How many reads of Azure the program made, by kind (none when it made none)."""
        return dict(sorted(self._cloud_reads.reads.items())) if self._cloud_reads else {}

    @property
    def cloud_reads(self) -> Any:
        """Azure reads the program makes itself (vmimage/azure/reads.py), answered by
        this ARM through the same SDK code as on Azure, at the start of the run."""
        if self._cloud_reads is None:
            # The user's SKU cache serves the simulator too (under the simulated
            # subscription's id), so a run's reads count as they would against Azure.
            self._cloud_reads = AzureReads(
                simulated_client(self.arm, SimulatedClock(0.0), subscription=SUBSCRIPTION_ID),
                subscription=SUBSCRIPTION_ID,
                cache=sku_cache(os.environ),
                client_for=lambda sub: simulated_client(self.arm, SimulatedClock(0.0),
                                                        subscription=sub))
        return self._cloud_reads

    def provider_subscription(self, provider: str | None) -> str:
        """The subscription a resource is written to: its explicit azure-native
        provider's `subscriptionId` ("<urn>::<id>" names the provider), else the stack's."""
        urn = (provider or "").rsplit("::", 1)[0]
        reg = self.registrations.get(urn)
        configured = reg.inputs.get("subscriptionId") if reg is not None else None
        return str(configured) if configured else SUBSCRIPTION_ID

    def compute_client(self) -> Any:
        """The ComputeManagementClient an error hook acts with (vmimage/azure/reads.py):
        over this ARM, at the moment the failure happened, its calls recorded."""
        return simulated_client(self.arm, self._hook_clock,
                                on_call=self._hook_call_recorder(self._hook_urn))

    # -- error hooks (pulumi/pulumi pkg/resource/deploy/source_eval.go, step.go) -----------
    def RegisterErrorHook(self, request: Any) -> Any:
        """The program registers an error hook: its name, and the token and address of its
        callbacks server (the SDK's real gRPC server, pulumi/runtime/_callbacks.py)."""
        # Not under the lock: the SDK calls this on its event loop, which a registration
        # holding the lock may be waiting on (its failure's hook runs there).
        if request.name in self.error_hooks:
            raise ValueError(f"resource hook already registered for name {request.name!r}")
        self.error_hooks[request.name] = request.callback
        return empty_pb2.Empty()

    def run_error_hooks(self, names: list[str], reg: Registration, request: Any,
                        operation: str, errors: list[str]) -> bool:
        """Call each hook as the engine does (`RunErrorHooks`): an ErrorHookRequest over
        the callbacks server's `Invoke`; retry if any asks to. A hook's own error fails
        the step in place of the resource's, as it does under the engine."""
        retry = False
        for name in names:
            callback = self.error_hooks.get(name)
            if callback is None:
                raise ArmError(500, "ErrorHookFailed", f"error hook {name!r} was not registered")
            hook_request = resource_pb2.ErrorHookRequest(
                urn=reg.urn, id=reg.id, name=reg.name, type=reg.type,
                new_inputs=request.object, failed_operation=operation, errors=errors)
            try:
                with grpc.insecure_channel(callback.target) as channel:
                    answer = callback_pb2_grpc.CallbacksStub(channel).Invoke(
                        callback_pb2.CallbackInvokeRequest(
                            token=callback.token, request=hook_request.SerializeToString()),
                        timeout=ERROR_HOOK_TIMEOUT_S)
            except grpc.RpcError as err:
                # A hook that never answers fails its step, named, rather than the run hanging.
                raise ArmError(500, "ErrorHookFailed", f"error hook {name!r} did not answer "
                               f"within {ERROR_HOOK_TIMEOUT_S:g} s ({err.code().name})"
                               if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED else
                               f"error hook {name!r} failed: {err.details()}") from None
            response = resource_pb2.ErrorHookResponse.FromString(answer.response)
            if response.error:
                raise ArmError(500, "ErrorHookFailed",
                               f"error hook {name!r} failed: {response.error}")
            retry = retry or response.retry
        return retry

    def _hook_call_recorder(self, urn: str) -> Callable[[str, float, float], None]:
        """An error hook's REST calls, recorded as the failed resource's operations."""
        def on_call(op: str, op_start: float, op_end: float) -> None:
            if op not in POLLS:
                self.record(urn, f"on-failure {op}", op_start, op_end)

        return on_call

    # -- timing ---------------------------------------------------------------------------
    def ready_time(self, urns: list[str]) -> float:
        """When every dependency has finished; a component is done when its children are."""
        latest = 0.0
        for urn in urns:
            reg = self.registrations.get(urn)
            if reg is None:
                continue
            if reg.custom:
                latest = max(latest, reg.end_s)
            else:
                children = self._children.get(urn, [])
                latest = max(latest, self.ready_time(children))
        return latest

    def record(self, urn: str, op: str, start: float, end: float) -> None:
        self.operations.append(Operation(urn, op, start, end))
        self._completed_ops += 1
        if self.arm.faults is not None:
            self.arm.faults.after_operation(self._completed_ops)

    # -- the engine's side of RegisterResource ----------------------------------------------
    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        inputs = rpc.deserialize_properties(request.object)
        dependencies = sorted(set(
            [*request.dependencies,
             *(u for deps in request.propertyDependencies.values() for u in deps.urns)]
        ))
        reg = Registration(
            urn=urn, type=request.type, name=request.name, parent=request.parent or None,
            custom=bool(request.custom), dependencies=dependencies, protect=request.protect,
            inputs={k: v for k, v in inputs.items() if k != DYNAMIC_PROVIDER_KEY},
            delete_before_replace=request.deleteBeforeReplace,
            ignore_changes=list(request.ignoreChanges),
            deleted_with=request.deletedWith,
        )
        with self._lock:
            if self._aliases is None:
                self._aliases = Aliases(pulumi.get_stack(), pulumi.get_project(), self.prior)
            old = self._aliases.old_urn(urn, request.type, request.name, reg.parent,
                                        request.aliases)
            reg.aliased_from = old if old not in (None, urn) else None
            self.registrations[urn] = reg
            if reg.parent:
                self._children.setdefault(reg.parent, []).append(urn)
            if not reg.custom:
                return resource_pb2.RegisterResourceResponse(urn=urn)
            errors: list[str] = []  # newest first, as the engine hands them to hooks
            while True:
                self._pending[(request.type, request.name)] = reg
                try:
                    id_, state = self.mocks.new_resource(
                        MockResourceArgs(typ=request.type, name=request.name, inputs=inputs,
                                         provider=request.provider, custom=True)
                    )
                    break
                except ArmError as err:
                    errors.insert(0, str(err))
                    try:
                        again = self._retry(reg, request, err, errors)
                    except ArmError as hook_err:  # fails the step in place of its own error
                        err, again = hook_err, False
                    if not again:
                        reg.state = f"failed: {err.code}"
                        self.failures.append(
                            Failure(urn, reg.type, reg.name, err.code, err.message))
                        raise err from None
        # The engine marks additionalSecretOutputs (e.g. RandomPassword.result) secret in
        # what it returns; Pulumi's mocks do not, so a generated password would go plain.
        secret_outputs = set(request.additionalSecretOutputs)
        returned = {k: rpc.wrap_rpc_secret(v) if k in secret_outputs else v
                    for k, v in state.items()}
        reg.outputs = returned  # what state keeps: secrets still marked
        obj = resolve(rpc.serialize_properties(returned, {}))
        self.resources[urn] = EngineMonitor.ResourceRegistration(urn, id_ or "", state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_ or "", object=obj)

    def _retry(self, reg: Registration, request: Any, err: ArmError,
               errors: list[str]) -> bool:
        """After a failed create or update: the resource's error hooks, called at the
        moment it failed, decide whether it is tried again (at most MAX_HOOK_RETRIES)."""
        names = list(request.hooks.on_error)
        if not names or len(errors) >= MAX_HOOK_RETRIES:
            return False
        operation = "create" if reg.action in ("create", "replace") else "update"
        self._hook_clock.now = reg.start_s + err.after_s
        self._hook_urn = reg.urn
        return self.run_error_hooks(names, reg, request, operation, errors)

    def create(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        """Called (under the lock) for each custom resource: diff against the prior state,
        then run the ARM operation at the time its dependencies allow."""
        reg = self._pending.pop((args.typ, args.name))
        prior = self.prior_of(reg)
        if prior is not None and reg.ignore_changes:
            # What the engine goes on with: the old value of each ignored property.
            reg.inputs = with_ignored_changes(reg.inputs, prior.inputs, reg.ignore_changes)
            args = MockResourceArgs(typ=args.typ, name=args.name, provider=args.provider,
                                    custom=True, inputs=with_ignored_changes(
                                        args.inputs, prior.inputs, reg.ignore_changes))
        if self.diff is not None:
            reg.action, reg.changed = self.diff(reg, prior)
        start = self.ready_time(reg.dependencies)
        reg.start_s = reg.end_s = start
        keeps_outputs = reg.action == "same" or (
            # A VM action's update records new inputs and calls nothing: the action
            # happened once, as recorded (vmimage/providers/vm_action.py).
            reg.type.startswith(DYNAMIC_PREFIX) and reg.action == "update"
        )
        if keeps_outputs and prior is not None:
            # Unchanged: the engine makes no provider call; outputs come from state.
            reg.id, reg.outputs = prior.id, prior.outputs
            reg.azure_name = prior.outputs.get("name")
            reg.state = final_state(self.arm, reg)
            return reg.id, reg.outputs
        if reg.action == "replace" and reg.delete_before_replace and prior is not None:
            # deleteBeforeReplace: the old resource goes first, freeing its name.
            if prior.id.lower() in self.arm.resources:
                deleted_in = self.arm.delete(prior.id, start)
                self.record(reg.urn, "delete", start, start + deleted_in)
                start += deleted_in
                reg.start_s = start
        dynamic = reg.type.startswith(DYNAMIC_PREFIX)
        self.pending[reg.urn] = PendingOperation(
            reg.urn, reg.type, "creating" if reg.action == "create" else "updating")
        self.arm.on_vm_call = self._vm_call_recorder(reg.urn) if dynamic else None
        recorded = len(self.operations)
        try:
            # A dynamic provider is not ARM: only its REST calls meet ARM's faults.
            self.arm.subscription = self.provider_subscription(args.provider)
            outcome = self.arm.put(reg.type, args.inputs, start, provider_retries=not dynamic)
        except ArmError:
            del self.pending[reg.urn]  # refused: the operation ended, nothing was made
            raise
        finally:
            self.arm.on_vm_call = None
            self.arm.subscription = SUBSCRIPTION_ID
        end = start + outcome.duration
        outputs = {**args.inputs, **outcome.outputs, "id": outcome.id}
        if dynamic and len(self.operations) == recorded:
            # Only reads (a restart that was not asked for): the read is its operation.
            self.record(reg.urn, reg.action, start, end)
        if not dynamic:
            # A dynamic resource's operations are its REST calls, recorded as they went.
            outputs.setdefault("name", outcome.name or outcome.id.rsplit("/", 1)[-1])
            self.record(reg.urn, reg.action, start, end)  # a crash here leaves no id:
        reg.id = outcome.id  # the registration did not complete, state skips it
        del self.pending[reg.urn]
        reg.end_s = end
        reg.outputs = outputs
        reg.azure_name = None if dynamic else outputs.get("name")
        reg.state = final_state(self.arm, reg)
        return reg.id, outputs

    def _vm_call_recorder(self, urn: str) -> Callable[[str, float, float], None]:
        """Record a VM action's REST calls as its operations, named for reports; the
        time between the seal and the next call is the wait for the guest to power off."""
        sealed_at: list[float] = []  # when the seal command returned: the wait begins

        def on_call(op: str, op_start: float, op_end: float) -> None:
            if op in POLLS:
                return
            if sealed_at and op_start > sealed_at[0]:
                self.record(urn, WAIT_FOR_POWER_OFF, sealed_at.pop(), op_start)
            name = VM_ACTION_OPS.get(op, op)
            self.record(urn, name, op_start, op_end)
            if name == "seal":
                sealed_at[:] = [op_end]

        return on_call


#: A VM action's REST calls, as its operations are named in reports.
VM_ACTION_OPS = {f"runCommand {SEAL_CHECKS_COMMAND}": "seal-checks",
                 f"runCommand {SEAL_COMMAND}": "seal"}
WAIT_FOR_POWER_OFF = "wait-for-guest-power-off"
POLLS = ("instanceView", "runCommand.get")
#: How often the engine tries an operation its error hooks ask to retry
#: (pulumi/pulumi pkg/resource/deploy/retries.go `maxErrorHookRetries`).
MAX_HOOK_RETRIES = 100
#: How long the offline engine waits for an error hook's answer (wall time): a hook acts
#: on the simulated ARM in simulated time, so seconds; a stuck one fails its step.
ERROR_HOOK_TIMEOUT_S = 120.0


class _ArmMocks(Mocks):
    def __init__(self, monitor: SimulatorMonitor) -> None:
        self.monitor = monitor

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return self.monitor.create(args)

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        """The provider's lookups, answered from the simulated ARM at the start of the run
        (the program reads before it registers anything)."""
        handler = INVOKES.get(args.token)
        if handler is None:  # one that appears is a gap in the simulator
            raise invoke_failure(ArmError(400, "InvokeNotSimulated",
                                          f"no simulated invoke {args.token}"))
        try:
            # (outputs, failures): the mock monitor iterates the failures, so a list.
            return handler(self.monitor.arm, unwrap(dict(args.args)), 0.0), []
        except ArmError as err:
            raise invoke_failure(err) from None


def invoke_failure(err: ArmError) -> InvokeFailure:
    """An ARM refusal as azure-native renders it in an invoke's error (azcore's format)."""
    return InvokeFailure(f"RESPONSE {err.status}: {err.status} {_REASONS.get(err.status, '')}"
                         f"\nERROR CODE: {err.code}\n{err.message}")


_REASONS = {400: "Bad Request", 404: "Not Found", 409: "Conflict"}


def final_state(arm: SimulatedArm, reg: Registration) -> str:
    if reg.type == VIRTUAL_MACHINE and reg.id.lower() in arm.vms:
        power, os_state = arm.vms[reg.id.lower()].final()
        return f"PowerState/{power}, OSState/{os_state}"
    return "succeeded"

