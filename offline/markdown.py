"""The plan as a pull-request comment: `python -m offline up ... --markdown FILE`.

What a reviewer needs to say yes or no, in GitHub-flavoured Markdown: the stages with their
resources and simulated times, the change summary against a prior state, the estimated wall
time on Azure and its critical path, warnings and policy findings, and a Mermaid diagram of
the dependency graph. Everything is sorted by stable keys (never by registration order,
which follows thread timing), so the same config always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from offline.engine import Registration
from offline.report import (
    STAGES,
    _custom_leaves,
    critical_path,
    duration,
    makespan,
    parent_type,
    stage_of,
    stage_spans,
)
from offline.runner import ProgramRun
from vmimage.policy.rules import Violation
from vmimage.vocabulary import VIRTUAL_MACHINE

ACTION_ORDER = ("create", "update", "replace", "delete", "same")
ACTION_SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}
FOLD_ROWS = 20  # stage tables longer than this are folded into <details>


def render_markdown(
    run: ProgramRun,
    *,
    changes: Sequence[Mapping[str, Any]] | None = None,
    violations: Sequence[Violation] = (),
    warnings: Sequence[str] = (),
    stack: str | None = None,
) -> str:
    """The whole report. `changes` are `{"urn", "action", "properties"}` from a state
    file (None: no prior state); `warnings` are the spec's (vmimage.spec.models.warnings)."""
    customs = sorted((r for r in run.registrations if r.custom), key=_order)
    name = stack or _stack_of(run)
    parts = [
        f"# vmimage plan: `{name}`",
        "",
        _summary(run, customs, changes, violations),
        "",
    ]
    if run.failures or run.error:
        parts += _failures(run)
    parts += _stages(run, customs)
    parts += _changes(changes)
    parts += _critical_path(run)
    parts += _warnings(warnings, violations)
    parts += _diagram(run, customs)
    return "\n".join(parts).rstrip("\n") + "\n"


# -- sections ---------------------------------------------------------------------------------


def _summary(
    run: ProgramRun,
    customs: list[Registration],
    changes: Sequence[Mapping[str, Any]] | None,
    violations: Sequence[Violation],
) -> str:
    per_stage = {s.stage: s.resources for s in stage_spans(run)}
    counts = " · ".join(f"{n} {stage}" for stage, n in per_stage.items())
    line = f"**{len(customs)} resources** ({counts}) · estimated wall time on Azure " \
           f"**{duration(makespan(run))}**"
    if changes is not None:
        line += " · " + _action_counts(changes)
    mandatory = sum(1 for v in violations if v.enforcement == "mandatory")
    advisory = len(violations) - mandatory
    line += f" · policy: {mandatory} mandatory, {advisory} advisory"
    if run.failures or run.error:
        line = "**Failed.** " + line
    return line


def _failures(run: ProgramRun) -> list[str]:
    out = ["## Failed", ""]
    for f in sorted(run.failures, key=lambda f: f.urn):
        out.append(f"- simulated Azure refused `{f.type}` `{f.name}`: "
                   f"**{_cell(f.code)}** {_cell(f.message)}")
    if run.error and not run.failures:
        out.append(f"- the program failed: {_cell(run.error)}")
    return [*out, ""]


def _stages(run: ProgramRun, customs: list[Registration]) -> list[str]:
    out = ["## Stages", ""]
    spans = {s.stage: s for s in stage_spans(run)}
    out += ["| stage | start | end | resources |", "|---|--:|--:|--:|"]
    for stage in STAGES:
        if stage in spans:
            span = spans[stage]
            out.append(f"| {stage} | {duration(span.start_s)} | {duration(span.end_s)} "
                       f"| {span.resources} |")
    out.append("")
    for stage in STAGES:
        regs = [r for r in customs if stage_of(r) == stage]
        if not regs:
            continue
        span = spans[stage]
        heading = f"{stage} · {duration(span.start_s)} → {duration(span.end_s)} · {len(regs)}"
        table = ["| type | name | Azure name | start | end |", "|---|---|---|--:|--:|"]
        table += [
            f"| `{_short_type(r.type)}` | `{r.name}` | {_code(r.azure_name)} "
            f"| {duration(r.start_s)} | {duration(r.end_s)} |"
            for r in regs
        ]
        if len(regs) > FOLD_ROWS:
            out += [f"<details><summary>{heading}</summary>", "", *table, "", "</details>", ""]
        else:
            out += [f"### {heading}", "", *table, ""]
    return out


def _action_counts(changes: Sequence[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for change in changes:
        action = str(change.get("action", "?"))
        counts[action] = counts.get(action, 0) + 1
    keys = sorted(counts, key=lambda a: (ACTION_ORDER.index(a) if a in ACTION_ORDER
                                         else len(ACTION_ORDER), a))
    return ", ".join(f"{counts[a]} to {a}" if a != "same" else f"{counts[a]} unchanged"
                     for a in keys) or "no changes"


def _changes(changes: Sequence[Mapping[str, Any]] | None) -> list[str]:
    out = ["## Changes", ""]
    if changes is None:
        return [*out, "No prior state: every resource is created (run with `--state FILE` "
                "to see the changes against a previous run).", ""]
    out += [_action_counts(changes), ""]
    changed = [c for c in changes if c.get("action") != "same"]
    if not changed:
        return [*out, "Nothing to change.", ""]
    out += ["| | action | type | name | properties |", "|---|---|---|---|---|"]
    for c in sorted(changed, key=lambda c: (_action_rank(c), str(c.get("urn")))):
        urn = str(c.get("urn", ""))
        props = ", ".join(_code(p) for p in sorted(c.get("properties") or []))
        action = str(c.get("action"))
        out.append(f"| `{ACTION_SYMBOL.get(action, '?')}` | {action} "
                   f"| {_code(_short_type(_urn_type(urn)))} | {_code(urn.rsplit('::', 1)[-1])} "
                   f"| {props} |")
    return [*out, ""]


def _action_rank(change: Mapping[str, Any]) -> int:
    action = change.get("action")
    return ACTION_ORDER.index(action) if action in ACTION_ORDER else len(ACTION_ORDER)


def _critical_path(run: ProgramRun) -> list[str]:
    by_urn = {r.urn: r for r in run.registrations}
    out = ["## Critical path", "",
           f"Estimated wall time on Azure: **{duration(makespan(run))}**, along:", ""]
    for i, urn in enumerate(critical_path(run), start=1):
        r = by_urn[urn]
        who = f" ({_code(r.azure_name)})" if r.azure_name else ""
        out.append(f"{i}. {stage_of(r)}: `{_short_type(r.type)}` `{r.name}`{who} — "
                   f"{duration(r.end_s - r.start_s)} ({duration(r.start_s)} → "
                   f"{duration(r.end_s)})")
    return [*out, ""]


def _warnings(warnings: Sequence[str], violations: Sequence[Violation]) -> list[str]:
    out = ["## Warnings", ""]
    if not warnings and not violations:
        return [*out, "None.", ""]
    out += [f"- {_cell(w)}" for w in warnings]
    if warnings:
        out.append("")
    if violations:
        out += ["### Policy", "",
                "| policy | enforcement | resource | message |", "|---|---|---|---|"]
        for v in sorted(violations, key=lambda v: (v.enforcement != "mandatory", v.policy,
                                                   v.urn, v.message)):
            level = "**mandatory**" if v.enforcement == "mandatory" else "advisory"
            out.append(f"| `{v.policy}` | {level} | {_code(v.urn.rsplit('::', 1)[-1])} "
                       f"| {_cell(v.message)} |")
        out.append("")
    return out


# -- the Mermaid diagram ------------------------------------------------------------------


@dataclass
class _Node:
    id: str
    stage: str
    label: str


def _diagram(run: ProgramRun, customs: list[Registration]) -> list[str]:
    by_urn = {r.urn: r for r in run.registrations}
    key_of = {r.urn: _node_key(r) for r in customs}
    members: dict[str, list[Registration]] = {}
    for r in customs:
        members.setdefault(key_of[r.urn], []).append(r)
    # Node ids follow the stable resource order, so they never depend on thread timing.
    nodes: dict[str, _Node] = {}
    for r in customs:
        key = key_of[r.urn]
        if key not in nodes:
            nodes[key] = _Node(f"n{len(nodes) + 1}", stage_of(r), _label(key, members[key]))
    edges: set[tuple[int, int]] = set()
    for r in customs:
        for dep in r.dependencies:
            for leaf in _custom_leaves(dep, by_urn):
                a, b = nodes[key_of[leaf.urn]], nodes[key_of[r.urn]]
                if a is not b:
                    edges.add((int(a.id[1:]), int(b.id[1:])))
    out = ["## Dependency graph", "", "```mermaid", "flowchart LR"]
    for stage in STAGES:
        in_stage = [n for n in nodes.values() if n.stage == stage]
        if not in_stage:
            continue
        out.append(f'  subgraph s_{stage}["{stage}"]')
        out += [f'    {n.id}["{n.label}"]' for n in in_stage]
        out.append("  end")
    out += [f"  n{a} --> n{b}" for a, b in sorted(edges)]
    return [*out, "```", ""]


def _node_key(reg: Registration) -> str:
    """Resources of one CloneSet share a node; everything else is its own."""
    if parent_type(reg.parent).endswith(":CloneSet") and reg.parent:
        return reg.parent
    return reg.urn


def _label(key: str, regs: list[Registration]) -> str:
    if len(regs) == 1 and regs[0].urn == key:
        r = regs[0]
        text = f"{_short_type(r.type)}<br/>{r.azure_name or r.name}"
        return _escape_label(text)
    vms = [r for r in regs if r.type == VIRTUAL_MACHINE]
    group = _clone_group(vms) or key.rsplit("::", 1)[-1]
    what = f"{len(vms)} VMs" if vms else f"{len(regs)} resources"
    return _escape_label(f"CloneSet<br/>{group} × {what}")


def _clone_group(vms: list[Registration]) -> str | None:
    for vm in vms:
        tags = vm.inputs.get("tags")
        if isinstance(tags, dict) and isinstance(tags.get("vmimage-clone-group"), str):
            return tags["vmimage-clone-group"]
    return None


_MERMAID_UNSAFE = set('"#&<>|[]{}();`\\')


def _escape_label(text: str) -> str:
    """Mermaid entity codes for characters that end or confuse a quoted label; `<br/>`
    line breaks are kept."""
    lines = text.split("<br/>")
    return "<br/>".join(
        "".join(f"#{ord(ch)};" if ch in _MERMAID_UNSAFE else ch for ch in line)
        for line in lines
    )


# -- helpers ------------------------------------------------------------------------------


def _order(reg: Registration) -> tuple[int, float, float, str]:
    stage = stage_of(reg)
    return (STAGES.index(stage), reg.start_s, reg.end_s, reg.urn)


def _stack_of(run: ProgramRun) -> str:
    for reg in run.registrations:
        if reg.urn.startswith("urn:pulumi:"):
            return reg.urn.split("::", 1)[0].removeprefix("urn:pulumi:")
    return "offline"


def _urn_type(urn: str) -> str:
    parts = urn.split("::")
    return parts[2].split("$")[-1] if len(parts) > 3 else ""


def _short_type(type_: str) -> str:
    """'azure-native:compute:VirtualMachine' -> 'compute:VirtualMachine'."""
    if type_.startswith("pulumi-python:dynamic/"):
        return type_.removeprefix("pulumi-python:dynamic/")
    return type_.split(":", 1)[1] if type_.count(":") >= 2 else type_


def _code(text: str | None) -> str:
    # GitHub splits table cells at '|' even inside a code span, unless escaped.
    if not text:
        return "—"
    escaped = text.replace("|", "\\|")
    return f"`{escaped}`"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell or list item: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")
