"""The plan as Markdown: the whole report of an offline run (summary, failures, stages,
critical path, warnings and policy), and the sections every plan shows (image versions,
clone groups, changes with their values) whatever it was read from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from offline.engine import Registration
from offline.escape.markdown import ABSENT, code, row, text
from offline.plan.mermaid import diagram
from offline.plan.model import ACTION_ORDER, PlanItem, PlanView, plan_items, stack_of
from offline.plan.summaries import action_counts, clone_groups, image_versions
from offline.plan.values import details
from offline.report import STAGES, critical_path, duration, makespan, stage_of, stage_spans
from offline.runner import ProgramRun
from vmimage.policy.rules import Violation
from vmimage.vocabulary import DYNAMIC_PREFIX

ACTION_SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}
FOLD_ROWS = 20  # tables longer than this are folded into <details>


def render_markdown(
    run: ProgramRun,
    *,
    changes: Sequence[Mapping[str, Any]] | None = None,
    violations: Sequence[Violation] = (),
    warnings: Sequence[str] = (),
    stack: str | None = None,
) -> str:
    """The whole report of an offline run. `changes` are `Change.as_json()` (at least
    `{"urn", "action", "properties"}`) from a state file (None: no prior state); `warnings`
    are the spec's (vmimage.config.models.warnings)."""
    view = PlanView(plan_items(run, changes))
    customs = sorted((r for r in run.registrations if r.custom), key=_order)
    parts = [
        f"# vmimage plan: {code(stack or _stack_of(run), table=False)}",
        "",
        _summary(run, customs, view if changes is not None else None, violations),
        "",
    ]
    if run.failures or run.error:
        parts += _failures(run)
    parts += plan_sections(view, changes_known=changes is not None)
    parts += _stages(run, customs)
    parts += _critical_path(run)
    parts += _warnings(warnings, violations)
    parts += diagram(view)
    return "\n".join(parts).rstrip("\n") + "\n"


def plan_sections(view: PlanView, *, changes_known: bool = True) -> list[str]:
    """What every plan shows, whatever it was read from: the image versions, the clone
    groups and the changes with their values."""
    return [*_image_versions(view), *_clone_groups(view), *_changes(view, changes_known)]


# -- sections ---------------------------------------------------------------------------------


def _summary(
    run: ProgramRun,
    customs: list[Registration],
    view: PlanView | None,
    violations: Sequence[Violation],
) -> str:
    per_stage = {s.stage: s.resources for s in stage_spans(run)}
    counts = " · ".join(f"{n} {stage}" for stage, n in per_stage.items() if n)
    line = f"**{len(customs)} resources** ({counts}) · estimated wall time on Azure " \
           f"**{duration(makespan(run))}**"
    if view is not None:
        line += " · " + action_counts(i.action for i in view.customs)
    mandatory = sum(1 for v in violations if v.enforcement == "mandatory")
    advisory = len(violations) - mandatory
    line += f" · policy: {mandatory} mandatory, {advisory} advisory"
    if run.failures or run.error:
        line = "**Failed.** " + line
    return line


def _failures(run: ProgramRun) -> list[str]:
    out = ["## Failed", ""]
    for f in sorted(run.failures, key=lambda f: f.urn):
        out.append(f"- simulated Azure refused {code(f.type, table=False)} "
                   f"{code(f.name, table=False)}: **{text(f.code)}** {text(f.message)}")
    if run.error and not run.failures:
        out.append(f"- the program failed: {text(run.error)}")
    return [*out, ""]


def _stages(run: ProgramRun, customs: list[Registration]) -> list[str]:
    out = ["## Stages", ""]
    spans = {s.stage: s for s in stage_spans(run)}
    out += ["| stage | start | end | resources |", "|---|--:|--:|--:|"]
    for stage in STAGES:
        if stage in spans:
            span = spans[stage]
            out.append(f"| {stage} | {duration(span.start_s)} | {duration(span.end_s)} "
                       f"| {span.resources or '—'} |")
    out.append("")
    for stage in STAGES:
        regs = [r for r in customs if stage_of(r) == stage]
        if not regs:
            continue
        # The heading's times are its rows' (the stage table's may be narrower: the
        # Generalize step's seal belongs to the deprovision stage).
        start, end = min(r.start_s for r in regs), max(r.end_s for r in regs)
        heading = f"{stage} · {duration(start)} → {duration(end)} · {len(regs)}"
        table = ["| type | name | Azure name | start | end |", "|---|---|---|--:|--:|"]
        table += [row([code(_short_type(r.type)), code(r.name), code(r.azure_name),
                       duration(r.start_s), duration(r.end_s)]) for r in regs]
        out += _folded(heading, table, heading_level=3)
    return out


def _critical_path(run: ProgramRun) -> list[str]:
    by_urn = {r.urn: r for r in run.registrations}
    out = ["## Critical path", "",
           f"Estimated wall time on Azure: **{duration(makespan(run))}**, along:", ""]
    for i, urn in enumerate(critical_path(run), start=1):
        r = by_urn[urn]
        who = f" ({code(r.azure_name, table=False)})" if r.azure_name else ""
        out.append(f"{i}. {stage_of(r)}: {code(_short_type(r.type), table=False)} "
                   f"{code(r.name, table=False)}{who} — "
                   f"{duration(r.end_s - r.start_s)} ({duration(r.start_s)} → "
                   f"{duration(r.end_s)})")
    return [*out, ""]


def _warnings(warnings: Sequence[str], violations: Sequence[Violation]) -> list[str]:
    out = ["## Warnings", ""]
    if not warnings and not violations:
        return [*out, "None.", ""]
    out += [f"- {text(w)}" for w in warnings]
    if warnings:
        out.append("")
    return out + policy_section(violations)


def policy_section(violations: Sequence[Violation]) -> list[str]:
    """The policy violations as a table, mandatory first (none: nothing)."""
    if not violations:
        return []
    out = ["### Policy", "",
           "| policy | enforcement | resource | message |", "|---|---|---|---|"]
    for v in sorted(violations, key=lambda v: (v.enforcement != "mandatory", v.policy,
                                               v.urn, v.message)):
        level = "**mandatory**" if v.enforcement == "mandatory" else "advisory"
        out.append(row([code(v.policy), level, code(v.urn.rsplit("::", 1)[-1]),
                        text(v.message)]))
    return [*out, ""]


def _image_versions(view: PlanView) -> list[str]:
    versions = image_versions(view)
    out = ["## Image versions", ""]
    if not versions:
        return [*out, "None.", ""]
    out += ["| version | status | source | regions × replicas | data disks | steps |",
            "|---|---|---|---|---|---|"]
    for v in versions:
        status = f"**{v.status}**" if v.changed else v.status
        if v.revoked is not None:
            status += f"<br/>**revoked: {text(v.revoked)}**"
            if v.must_move:
                status += "<br/>clone groups to move: " + ", ".join(code(g) for g in v.must_move)
        status += "".join(f"<br/>{text(line)}" for line in v.lifecycle)
        steps = "<br/>".join(f"{i}. {s}" for i, s in enumerate(v.steps, start=1)) or "—"
        out.append(row([code(v.version), status, v.source, text(v.regions),
                        "<br/>".join(text(d) for d in v.disks) or "—", steps]))
    if not view.complete:
        out += ["", "Unchanged resources are not in this preview: what they hold shows as "
                "—; `pulumi preview --json --show-sames` lists them."]
    return [*out, ""]


def _clone_groups(view: PlanView) -> list[str]:
    groups = clone_groups(view)
    out = ["## Clone groups", ""]
    if not groups:
        return [*out, "None.", ""]
    # The bootstrap column (userData / customData digests) only when some group has one.
    bootstrap = any(g.bootstrap for g in groups)
    out += ["| group | kind | size | count | version | rollout |"
            + (" bootstrap |" if bootstrap else "") + " change |",
            "|---|---|---|--:|---|---|" + ("---|" if bootstrap else "") + "---|"]
    out += [row([code(g.group), g.kind, g.size, g.count, g.version, text(g.rollout),
                 *([g.bootstrap or ABSENT] if bootstrap else []), g.status]) for g in groups]
    return [*out, ""]


# -- changes, with their values ---------------------------------------------------------------


def _changes(view: PlanView, known: bool) -> list[str]:
    out = ["## Changes", ""]
    rows = [i for i in view.customs if i.action != "same"]
    if not known:
        out += ["No prior state: every resource is created (run with `--state FILE` "
                "to see the changes against a previous run).", ""]
        return out + _folded(f"{len(rows)} to create", _change_table(view, rows),
                             heading_level=3)
    out += [action_counts(i.action for i in view.customs), ""]
    if not rows:
        return [*out, "Nothing to change.", ""]
    others = [i for i in rows if i.action != "create"]
    creates = [i for i in rows if i.action == "create"]
    if others:
        out += [*_change_table(view, others), ""]
    if creates:
        out += _folded(f"{len(creates)} to create", _change_table(view, creates),
                       heading_level=3)
    return out


def _change_table(view: PlanView, items: list[PlanItem]) -> list[str]:
    """One row per resource: by action, then in pipeline order."""
    def order(item: PlanItem) -> tuple[int, int, str]:
        stage = view.stage(item)
        return _action_rank(item.action), STAGES.index(stage) if stage in STAGES else 0, \
            item.urn

    table = ["| | action | type | name | what changes |", "|---|---|---|---|---|"]
    for item in sorted(items, key=order):
        table.append(row([code(ACTION_SYMBOL.get(item.action, "?")), text(item.action),
                          code(_short_type(item.type)), code(item.name), details(item)]))
    return table


def _action_rank(action: str) -> int:
    return ACTION_ORDER.index(action) if action in ACTION_ORDER else len(ACTION_ORDER)


# -- helpers ----------------------------------------------------------------------------------


def _folded(summary: str, table: list[str], *, heading_level: int = 0) -> list[str]:
    """A table under a heading, or folded into <details> when it is long."""
    if len(table) - 2 > FOLD_ROWS or not heading_level:
        return [f"<details><summary>{summary}</summary>", "", *table, "", "</details>", ""]
    return [f"{'#' * heading_level} {summary}", "", *table, ""]


def _order(reg: Registration) -> tuple[int, float, float, str]:
    stage = stage_of(reg)
    return (STAGES.index(stage), reg.start_s, reg.end_s, reg.urn)


def _stack_of(run: ProgramRun) -> str:
    return stack_of(r.urn for r in run.registrations) or "offline"


def _short_type(type_: str) -> str:
    """'azure-native:compute:VirtualMachine' -> 'compute:VirtualMachine'."""
    if type_.startswith(DYNAMIC_PREFIX):
        return type_.removeprefix(DYNAMIC_PREFIX)
    return type_.split(":", 1)[1] if type_.count(":") >= 2 else type_
