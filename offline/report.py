"""What a run produced, as data: stages, critical path, and the report JSON."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from offline.engine import WAIT_FOR_POWER_OFF, Registration
from offline.runner import ProgramRun
from offline.secrets import unwrap
from vmimage.vocabulary import (
    CAPTURED_IMAGE_TYPES,
    GENERALIZE,
    RESTART,
    ROLE_TAG,
    RUN_COMMAND,
    STEP_DEPROVISION,
    STEP_TAG,
    VIRTUAL_MACHINE,
)

STAGES = ("foundation", "build", "customize", "deprovision", "generalize", "capture", "clone")
#: The Generalize step spans two stages: sealing the guest, then ARM's deallocate and
#: generalize. Its operations say which (offline/engine.py names them).
OP_STAGES = {"seal-checks": "deprovision", "seal": "deprovision",
             WAIT_FOR_POWER_OFF: "deprovision", "deallocate": "generalize",
             "generalize": "generalize"}


def parent_type(urn: str | None) -> str:
    """The type of a resource's direct parent, read from its URN's type chain."""
    if not urn:
        return ""
    return urn.split("::")[2].split("$")[-1]


def stage_of(reg: Registration) -> str:
    """A resource's stage, from what it is: its type, and the tags the program gives it
    (`vmimage-step` on run commands, `vmimage-role` on VMs and NICs)."""
    if reg.type == GENERALIZE:
        return "generalize"
    if reg.type == RESTART:
        return "customize"  # a restart sits between customize steps
    if reg.type in CAPTURED_IMAGE_TYPES:
        return "capture"
    tags = unwrap(reg.inputs).get("tags") or {}
    if reg.type == RUN_COMMAND:
        return "deprovision" if tags.get(STEP_TAG) == STEP_DEPROVISION else "customize"
    role = tags.get(ROLE_TAG)
    if role in ("build", "clone"):
        return role
    return "foundation"


@dataclass(frozen=True)
class StageSpan:
    stage: str
    start_s: float
    end_s: float
    #: Resources whose stage this is (`stage_of`), so the stages add up to the run's
    #: resources; the seal's stage has none of its own (it is the Generalize step's work).
    resources: int


def stage_spans(run: ProgramRun) -> list[StageSpan]:
    """When each stage ran: its resources' creates, and for the Generalize step each of
    its operations in the stage it belongs to."""
    spans: dict[str, list[tuple[float, float, str]]] = {stage: [] for stage in STAGES}
    by_urn = {r.urn: r for r in run.registrations}
    for reg in run.registrations:
        if reg.custom and reg.type != GENERALIZE:
            spans[stage_of(reg)].append((reg.start_s, reg.end_s, reg.urn))
    for op in run.operations:
        owner = by_urn.get(op.resource)
        if owner is not None and owner.type == GENERALIZE and op.op in OP_STAGES:
            spans[OP_STAGES[op.op]].append((op.start_s, op.end_s, op.resource))
    for reg in run.registrations:  # a Generalize that made no call (recorded, unchanged)
        if reg.type == GENERALIZE and not any(urn == reg.urn for s in spans.values()
                                                   for _, _, urn in s):
            spans["generalize"].append((reg.start_s, reg.end_s, reg.urn))
    homes = Counter(stage_of(reg) for reg in run.registrations if reg.custom)
    return [StageSpan(stage, min(t[0] for t in items), max(t[1] for t in items),
                      homes[stage])
            for stage, items in spans.items() if items]


def makespan(run: ProgramRun) -> float:
    return max((r.end_s for r in run.registrations if r.custom), default=0.0)


def critical_path(run: ProgramRun) -> list[str]:
    """The chain of custom resources, each waiting on the one before, that ends last."""
    by_urn = {r.urn: r for r in run.registrations}
    customs = [r for r in run.registrations if r.custom]
    if not customs:
        return []
    # Ties (N clones ending together) go to the first URN: registration order follows
    # thread timing, and the path must not.
    current = min(customs, key=lambda r: (-r.end_s, r.urn))
    path = [current.urn]
    while True:
        feeders = [d for u in current.dependencies for d in _custom_leaves(u, by_urn)]
        waited = [d for d in feeders if abs(d.end_s - current.start_s) < 1e-6 and d.end_s > 0]
        if not waited:
            break
        current = max(waited, key=lambda r: (r.end_s - r.start_s, r.urn))
        path.append(current.urn)
    return list(reversed(path))


def _custom_leaves(urn: str, by_urn: dict[str, Registration]) -> list[Registration]:
    reg = by_urn.get(urn)
    if reg is None:
        return []
    if reg.custom:
        return [reg]
    return [leaf for child in by_urn.values() if child.parent == urn
            for leaf in _custom_leaves(child.urn, by_urn)]


def report_json(run: ProgramRun, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "azureName": r.azure_name,
                "parent": r.parent,
                "dependsOn": r.dependencies,
                "state": r.state if r.custom else "component",
                "stage": stage_of(r) if r.custom else None,
                "protect": r.protect,
            }
            for r in run.registrations
        ],
        "operations": [
            {"resource": o.resource, "op": o.op, "start_s": o.start_s, "end_s": o.end_s}
            for o in sorted(run.operations, key=lambda o: (o.start_s, o.end_s, o.resource, o.op))
        ],
        "makespan_s": makespan(run),
        "criticalPath": critical_path(run),
        "outputs": run.outputs,
        "azureReads": run.azure_reads,
        # What the program said through pulumi.log.warn (e.g. a failed build's policy).
        "warnings": run.warnings,
        **(extra or {}),
    }


def vm_states(run: ProgramRun) -> list[tuple[str, str, str]]:
    """(Azure name, PowerState, OSState) of every VM, build VMs first."""
    rows = []
    for reg in run.registrations:
        if reg.type == VIRTUAL_MACHINE and reg.id.lower() in run.arm.vms:
            power, os_state = run.arm.vms[reg.id.lower()].final()
            rows.append((stage_of(reg), reg.azure_name or reg.name, power, os_state))
    rows.sort(key=lambda row: (row[0] != "build", row[1]))
    return [(name, power, os_state) for _, name, power, os_state in rows]


def duration(seconds: float) -> str:
    """'7m34s' below an hour, '1h02m' from an hour on."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
