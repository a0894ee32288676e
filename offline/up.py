"""One `up`: load the state, run the program, plan deletes, check what must not be lost,
carry out the deletes, save the state. The CLI prints what this returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.arm import ArmError, SimulatedArm, SimulatedCrash
from offline.changes import (
    Change,
    delete_order,
    make_differ,
    protected_losses,
    summarize,
)
from offline.engine import Failure, Operation, PendingOperation, PriorResource
from offline.latency import LatencyModel
from offline.marketplace import CatalogImage
from offline.runner import ProgramRun, StackConfig, run
from offline.state import load_state, save_state, state_lock
from vmimage.policy.rules import Violation
from vmimage.vocabulary import DYNAMIC_PREFIX


@dataclass
class UpResult:
    run: ProgramRun
    changes: list[Change] | None = None  # None without --state
    blocked: list[Change] = field(default_factory=list)  # protected deletes/replaces
    config_problems: list[str] = field(default_factory=list)  # refused by the program
    violations: list[Violation] = field(default_factory=list)  # the policy pack's findings
    saved: bool = False

    @property
    def ok(self) -> bool:
        return not (self.run.failures or self.run.error or self.blocked or self.config_problems)


def up(
    stack: StackConfig,
    *,
    latency: LatencyModel | None = None,
    faults: Any | None = None,
    state_path: Path | None = None,
    program: Path | None = None,
    marketplace: dict[tuple[str, str, str], CatalogImage] | None = None,
    policy: Callable[[ProgramRun], list[Violation]] | None = None,
    tenant: Callable[[SimulatedArm], None] | None = None,
    refresh: bool = False,
) -> UpResult:
    """One run. `marketplace`: images the simulated Azure knows beyond its catalog;
    `tenant`: adds what exists before the pipeline (offline/arm/tenancy.py).
    `policy`: the pack's rules; a mandatory violation refuses the run, as it refuses a
    `pulumi up`, and nothing is saved. With `state_path`, the state is locked for the run.
    `refresh`: first drop from the state what Azure no longer has (`pulumi up --refresh`)."""
    if state_path is None:
        return _up(stack, None, latency=latency, faults=faults, program=program,
                   marketplace=marketplace, policy=policy, tenant=tenant, refresh=refresh)
    with state_lock(state_path) as path:
        return _up(stack, path, latency=latency, faults=faults, program=program,
                   marketplace=marketplace, policy=policy, tenant=tenant, refresh=refresh)


def _up(
    stack: StackConfig,
    state_path: Path | None,
    *,
    latency: LatencyModel | None,
    faults: Any | None,
    program: Path | None,
    marketplace: dict[tuple[str, str, str], CatalogImage] | None,
    policy: Callable[[ProgramRun], list[Violation]] | None,
    tenant: Callable[[SimulatedArm], None] | None,
    refresh: bool = False,
) -> UpResult:
    state = load_state(state_path, stack.name) if state_path else None
    arm = SimulatedArm(latency, faults)
    arm.marketplace.update(marketplace or {})
    prior: dict[str, PriorResource] = {}
    if state is not None:
        state.restore_arm(arm)
        if refresh:
            state.resources = refreshed(state.resources, arm)
        prior = state.resources
    if tenant is not None:
        tenant(arm)
    kwargs = {"program": program} if program else {}
    result = run(stack, arm, prior=prior,
                 diff=make_differ(state.key) if state else None, **kwargs)
    if result.config_problems:
        # Refused by the program before it registered anything (e.g. a captured build
        # that changed): like a config error, nothing happened and nothing is saved.
        return UpResult(result, config_problems=result.config_problems)
    finished = not (result.failures or result.error)
    violations = policy(result) if policy is not None and finished else []
    refused = any(v.enforcement == "mandatory" for v in violations)
    if state is None:
        return UpResult(result, violations=violations)
    if state.pending_operations:
        result.warnings.append(pending_operations_warning(state.pending_operations))
    changes = summarize(result.registrations, prior, finished=finished,
                        pending_deletes=state.pending_deletes)
    outcome = UpResult(result, changes, violations=violations)
    outcome.blocked = protected_losses(changes, prior)
    if outcome.blocked or refused:
        return outcome  # nothing is saved: the state on disk is untouched
    done = [r for r in result.registrations if r.id or not r.custom]
    completed = {r.urn for r in done} | {r.aliased_from for r in done if r.aliased_from}
    regs = {r.urn: r for r in result.registrations}
    # A replacement made under a new Azure name leaves its predecessor to delete; until
    # that delete is done, the predecessor is kept marked for deletion, as Pulumi's
    # checkpoint keeps it (`delete: true`), so a run killed in between orphans nothing.
    replaced = [prior[c.prior_urn] for c in changes
                if c.action == "replace" and regs[c.urn].id
                and not regs[c.urn].delete_before_replace
                and regs[c.urn].id.lower() != prior[c.prior_urn].id.lower()]
    pending = [*state.pending_deletes, *replaced]
    if finished:
        registered = {r.aliased_from or r.urn for r in result.registrations if r.custom}
        doomed = [p for urn, p in prior.items() if p.custom and urn not in registered]
        left = _delete(result, [*pending, *doomed])
        kept = [p for p in left if any(p is d for d in doomed)]
        pending = [p for p in left if not any(p is d for d in doomed)]
    else:
        # A failed or killed run keeps what it did; what it did not reach stays as it was.
        kept = [p for urn, p in prior.items() if urn not in completed]
    # Pulumi carries pending creates over until a refresh resolves them; here a later
    # run's PUT of the same name adopts what the killed one made, so one whose resource
    # this run completed is resolved.
    operations = [*[o for o in state.pending_operations if o.urn not in completed],
                  *result.pending_operations]
    # The next run starts when everything this one set in motion has happened.
    end = max([o.end_s for o in result.operations] + [arm.latest_time()])
    assert state_path is not None
    save_state(state_path, state, result.registrations, arm, kept=kept,
               pending_deletes=pending, pending_operations=operations, now=end)
    outcome.saved = True
    return outcome


def pending_operations_warning(operations: list[PendingOperation]) -> str:
    """What the engine says before an update that finds pending operations
    (deploymentExecutor.printPendingOperationsWarning)."""
    listed = "".join(f"\n  * {o.urn}, interrupted while {o.operation}" for o in operations)
    return (f"Attempting to deploy or update resources with {len(operations)} pending "
            f"operations from previous deployment.{listed}")


def _delete(result: ProgramRun, doomed: list[PriorResource]) -> list[PriorResource]:
    """Deletes run after every create (Pulumi deletes last, so successors exist first),
    dependents before what they depend on. Returns what is left to delete when a delete
    fails or the run is killed among them (`crash-after` counts deletes too)."""
    left = list(doomed)
    urns = {p.urn for p in doomed}
    faults = result.arm.faults
    start = max((o.end_s for o in result.operations), default=0.0)
    for wave in delete_order(doomed):
        wave_end = start
        for old in wave:
            if old.deleted_with in urns or old.type.startswith(DYNAMIC_PREFIX) \
                    or old.id.lower() not in result.arm.resources:
                # deletedWith: the engine leaves it to its owner's delete; a VM action's
                # delete is a no-op; nothing in Azure to delete.
                left.remove(old)
                continue
            name = old.urn.rsplit("::", 1)[-1]
            try:
                duration = result.arm.delete(old.id, start)
            except ArmError as err:
                result.failures.append(Failure(old.urn, old.type, name, err.code, err.message))
                return left
            left.remove(old)
            result.operations.append(Operation(old.urn, "delete", start, start + duration))
            wave_end = max(wave_end, start + duration)
            if faults is not None:
                try:
                    faults.after_operation(len(result.operations))
                except SimulatedCrash as crash:
                    result.error = str(crash)
                    return left
        start = wave_end
    return left


def refreshed(prior: dict[str, PriorResource], arm: SimulatedArm) -> dict[str, PriorResource]:
    """The state after a refresh: a resource Azure no longer has (a Read answered 404) is
    dropped, so the update creates it again (pulumi/pulumi `RefreshStep`: a read that
    finds nothing removes the resource). A VM action's record is kept: its provider's
    read returns what state holds (vmimage/providers/vm_action.py)."""
    def gone(resource: PriorResource) -> bool:
        live = arm.resources.get(resource.id.lower())
        return resource.custom and not resource.type.startswith(DYNAMIC_PREFIX) and (
            live is None or live.deleted_at is not None)

    return {urn: p for urn, p in prior.items() if not gone(p)}
