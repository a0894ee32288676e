"""One `up`: load the state, run the program, plan deletes, check what must not be lost,
carry out the deletes, save the state. The CLI prints what this returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.arm import ArmError, SimulatedArm
from offline.changes import (
    Change,
    delete_order,
    make_differ,
    protected_losses,
    summarize,
)
from offline.engine import Failure, Operation, PriorResource
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
) -> UpResult:
    """One run. `marketplace`: images the simulated Azure knows beyond its catalog;
    `tenant`: adds what exists before the pipeline (offline/arm/tenancy.py).
    `policy`: the pack's rules; a mandatory violation refuses the run, as it refuses a
    `pulumi up`, and nothing is saved. With `state_path`, the state is locked for the run."""
    if state_path is None:
        return _up(stack, None, latency=latency, faults=faults, program=program,
                   marketplace=marketplace, policy=policy, tenant=tenant)
    with state_lock(state_path) as path:
        return _up(stack, path, latency=latency, faults=faults, program=program,
                   marketplace=marketplace, policy=policy, tenant=tenant)


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
) -> UpResult:
    state = load_state(state_path, stack.name) if state_path else None
    arm = SimulatedArm(latency, faults)
    arm.marketplace.update(marketplace or {})
    prior: dict[str, PriorResource] = {}
    if state is not None:
        state.restore_arm(arm)
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
    changes = summarize(result.registrations, prior, finished=finished)
    outcome = UpResult(result, changes, violations=violations)
    outcome.blocked = protected_losses(changes, prior)
    if outcome.blocked or refused:
        return outcome  # nothing is saved: the state on disk is untouched
    done = [r for r in result.registrations if r.id or not r.custom]
    completed = {r.urn for r in done} | {r.aliased_from for r in done if r.aliased_from}
    if finished:
        _delete(result, changes, prior)
        kept: list[PriorResource] = []
    else:
        # A failed or killed run keeps what it did; what it did not reach stays as it was.
        kept = [p for urn, p in prior.items() if urn not in completed]
    # The next run starts when everything this one set in motion has happened.
    end = max([o.end_s for o in result.operations] + [arm.latest_time()])
    assert state_path is not None
    save_state(state_path, state, result.registrations, arm, kept=kept, now=end)
    outcome.saved = True
    return outcome


def _delete(result: ProgramRun, changes: list[Change], prior: dict[str, PriorResource]) -> None:
    """Deletes run after every create (Pulumi deletes last, so successors exist first),
    dependents before what they depend on."""
    regs = {r.urn: r for r in result.registrations}
    doomed = [c.urn for c in changes if c.action == "delete"]
    # A replacement under a new Azure name leaves its predecessor to delete.
    doomed += [c.prior_urn for c in changes
               if c.action == "replace" and not regs[c.urn].delete_before_replace
               and regs[c.urn].id.lower() != prior[c.prior_urn].id.lower()]
    start = max((o.end_s for o in result.operations), default=0.0)
    for wave in delete_order(doomed, prior):
        wave_end = start
        for urn in wave:
            old = prior[urn]
            if old.deleted_with in doomed:
                continue  # deletedWith: the engine leaves it to its owner's delete
            if old.type.startswith(DYNAMIC_PREFIX) or old.id.lower() not in result.arm.resources:
                continue  # nothing in Azure to delete (a VM action's delete is a no-op)
            try:
                duration = result.arm.delete(old.id, start)
            except ArmError as err:
                result.failures.append(Failure(urn, old.type, urn.rsplit("::", 1)[-1],
                                               err.code, err.message))
                return
            result.operations.append(Operation(urn, "delete", start, start + duration))
            wave_end = max(wave_end, start + duration)
        start = wave_end
