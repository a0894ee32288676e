"""One `up`: load the state, run the program, plan deletes, check what must not be lost,
carry out the deletes, save the state. The CLI prints what this returns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components import naming
from components.spec import PipelineSpec, SpecError
from offline.arm import ArmError, SimulatedArm
from offline.changes import (
    Change,
    delete_order,
    make_differ,
    protected_losses,
    summarize,
)
from offline.engine import GENERALIZE_TYPE, Failure, Operation, PriorResource
from offline.latency import LatencyModel
from offline.runner import ProgramRun, StackConfig, run
from offline.state import load_state, save_state

VERSION_TYPE = "azure-native:compute:GalleryImageVersion"
MANAGED_IMAGE_TYPE = "azure-native:compute:Image"


@dataclass
class UpResult:
    run: ProgramRun
    changes: list[Change] | None = None  # None without --state
    blocked: list[Change] = field(default_factory=list)  # protected deletes/replaces
    config_problems: list[str] = field(default_factory=list)  # found only against state
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
) -> UpResult:
    state = load_state(state_path, stack.name) if state_path else None
    arm = SimulatedArm(latency, faults)
    prior: dict[str, PriorResource] = {}
    if state is not None:
        state.restore_arm(arm)
        prior = state.resources
    try:
        spec: PipelineSpec | None = stack.loaded().spec
    except SpecError:
        spec = None  # the program reports it, exactly as under `pulumi up`
    problems = retired_problems(spec, prior) if state is not None and spec else []
    if problems:
        return UpResult(ProgramRun([], [], [], {}, None, arm), config_problems=problems)
    kwargs = {"program": program} if program else {}
    result = run(stack, arm, prior=prior,
                 diff=make_differ(state.key) if state else None, **kwargs)
    if state is None:
        return UpResult(result)
    changes = summarize(result.registrations, prior,
                        finished=not (result.failures or result.error))
    outcome = UpResult(result, changes)
    outcome.blocked = protected_losses(changes, prior)
    outcome.config_problems = changed_after_capture(spec, changes, prior) if spec else []
    if outcome.blocked or outcome.config_problems:
        return outcome  # nothing is saved: the state on disk is untouched
    completed = {r.urn for r in result.registrations if r.id or not r.custom}
    if not (result.failures or result.error):
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
    doomed += [c.urn for c in changes
               if c.action == "replace" and not regs[c.urn].delete_before_replace
               and regs[c.urn].id.lower() != prior[c.urn].id.lower()]
    start = max((o.end_s for o in result.operations), default=0.0)
    for wave in delete_order(doomed, prior):
        wave_end = start
        for urn in wave:
            old = prior[urn]
            if old.type == GENERALIZE_TYPE or old.id.lower() not in result.arm.resources:
                continue  # nothing in Azure to delete (Generalize's delete is a no-op)
            try:
                duration = result.arm.delete(old.id, start)
            except ArmError as err:
                result.failures.append(Failure(urn, old.type, urn.rsplit("::", 1)[-1],
                                               err.code, err.message))
                return
            result.operations.append(Operation(urn, "delete", start, start + duration))
            wave_end = max(wave_end, start + duration)
        start = wave_end


CAPTURE_NAME = re.compile(r"-v(\d+)-(\d+)-(\d+)-capture-")


def _captured_versions(prior: dict[str, PriorResource]) -> set[str]:
    """Versions whose image (gallery version or managed image) exists in the state."""
    found = set()
    for urn, p in prior.items():
        match = CAPTURE_NAME.search(urn.rsplit("::", 1)[-1])
        if match and p.type in (VERSION_TYPE, MANAGED_IMAGE_TYPE):
            found.add(".".join(match.groups()))
    return found


def retired_problems(spec: PipelineSpec, prior: dict[str, PriorResource]) -> list[str]:
    """A build can only be retired once its image exists: retiring deletes the build VM,
    and an uncaptured build would then be lost."""
    captured = _captured_versions(prior)
    return [
        f"builds[{i}].retired: version {b.version} was never captured (it is not in the "
        "state); run once without retired: true to build and capture it"
        for i, b in enumerate(spec.builds) if b.retired and b.version not in captured
    ]


def changed_after_capture(
    spec: PipelineSpec, changes: list[Change], prior: dict[str, PriorResource]
) -> list[str]:
    """Gallery versions are immutable: a captured build whose scripts, VM or disks change
    would need a recapture that Azure cannot do under the same version number."""
    captured = _captured_versions(prior)
    problems = []
    for i, build in enumerate(spec.builds):
        if build.version not in captured:
            continue
        marker = f"-v{naming.version_slug(build.version)}-"
        touched = [c for c in changes
                   if marker in c.urn.rsplit("::", 1)[-1] and c.action in ("update", "replace")
                   and not _updatable_version_change(c)]
        if touched:
            what = ", ".join(
                f"{c.urn.rsplit('::', 1)[-1]} ({', '.join(c.properties) or c.action})"
                for c in touched[:3]
            )
            problems.append(
                f"builds[{i}]: version {build.version} was already captured and its build "
                f"changed: {what}. Gallery image versions are immutable; give the changed "
                "build a new version number (and keep or retire the old one)"
            )
    return problems


def _updatable_version_change(change: Change) -> bool:
    """Publishing settings Azure lets a version change in place."""
    updatable = ("publishingProfile.endOfLifeDate", "publishingProfile.excludeFromLatest",
                 "publishingProfile.targetRegions")
    return change.action == "update" and all(
        p.startswith(updatable) for p in change.properties
    )
