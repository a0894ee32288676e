"""`vmimage-plan`: the pull-request plan from a real `pulumi preview --json`.

    pulumi preview --json --show-sames --stack dev > preview.json
    vmimage-plan --preview-json preview.json --markdown plan.md

The Markdown is the offline runner's (`python -m offline up --markdown`): image versions,
clone groups, every change with its values, and the dependency graph; it has no
simulated times. Without `--show-sames` Pulumi leaves unchanged resources out, and the
summaries can only say what changes.

What the preview gives (offline/preview_input.py reads and checks it, citing Pulumi's
structs): per step its op, URN, old and new state (`apitype.ResourceV3`: inputs, outputs,
parent, dependencies; secrets "[secret]", unknowns 04da6b54-80e4-46f7-96ec-b56ff0331ba9),
and the provider's Diff answer. azure-native answers with a detailed diff keyed by dotted
paths (`tags.vmimage-version`), replaceReasons the full paths that force a replace, and
diffReasons the paths' first segments (provider/pkg/provider/diff.go). The Python dynamic
provider (our VM actions) answers with `replaces` (top-level keys) only: no diffReasons,
detailedDiff null (sdk/python/lib/pulumi/dynamic/__main__.py `Diff`), so their values
come from old inputs against new; the serialized provider (`__provider`) is never shown.
Policy violations are not in that JSON (pkg/backend/display/json.go `ShowPreviewDigest`
skips policy events): they come from the engine's event log (`--event-log`), with its
diagnostics. Only logical steps are listed for a replacement ("replace"; the halves only
with `--show-replacement-steps`, and then folded into it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from offline.changes import ValueDiff, parse_path, plain, pulumi_path, value_at, value_diffs
from offline.escape.markdown import code, text
from offline.escape.terminal import visible
from offline.plan.mermaid import diagram
from offline.plan.model import PlanItem, PlanView, stack_of
from offline.plan.render import plan_sections, policy_section
from offline.plan.summaries import action_counts
from offline.preview_input import (
    MAX_BYTES,
    Diagnostic,
    EventLog,
    Preview,
    PreviewError,
    PropertyDiff,
    ResourceState,
    Step,
    read_event_log,
    read_preview,
)
from offline.report import STAGES, duration
from offline.urns import urn_type
from vmimage.policy.rules import Violation
from vmimage.vocabulary import DYNAMIC_PROVIDER_KEY, STACK

__all__ = ["PreviewError", "main", "read_event_log", "read_preview", "render_preview"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

#: What each step's operation is to a reviewer; operations not here are left out (the
#: halves of a replacement, discards of read resources).
ACTION_OF = {
    "same": "same", "create": "create", "update": "update", "replace": "replace",
    "delete": "delete", "import": "create", "read": "same", "refresh": "same",
    "create-replacement": "replace", "import-replacement": "replace",
}
PROVIDER_PREFIX = "pulumi:providers:"
#: How a dynamic resource's serialized provider is shown: never its content.
PROVIDER_CODE, PROVIDER_CODE_CHANGED = "[provider code]", "[provider code, changed]"


# -- steps as plan items ----------------------------------------------------------------------


def preview_items(preview: Preview) -> list[PlanItem]:
    """The resources of the preview as plan items; the stack and providers are left out."""
    items: dict[str, PlanItem] = {}
    for step in preview.steps:
        item = step_item(step)
        # With --show-replacement-steps a replacement is three steps: the logical one wins.
        if item is not None and (item.urn not in items or step.op == "replace"):
            items[item.urn] = item
    return list(items.values())


def step_item(step: Step) -> PlanItem | None:
    action = ACTION_OF.get(step.op)
    state = step.new or step.old
    type_ = (state.type if state else "") or urn_type(step.urn)
    if action is None or type_ == STACK or type_.startswith(PROVIDER_PREFIX):
        return None
    diff = step_diff(step) if action in ("update", "replace") else ()
    reasons = tuple(dict.fromkeys(pulumi_path(parse_path(r)) for r in step.replace_reasons))
    if action == "replace" and not reasons:
        reasons = tuple(d.path for d in diff if d.replaces)
    return PlanItem(
        urn=step.urn, type=type_, action=action, custom=state.custom if state else True,
        parent=state.parent if state else None,
        dependencies=state.dependencies if state else (),
        inputs=_inputs(step.new) if step.new is not None and action != "delete" else None,
        old=_inputs(step.old) if step.old is not None else None,
        diff=diff, replace_reasons=reasons if action == "replace" else (),
        properties=tuple(dict.fromkeys(step.diff_reasons)),
        azure_name=_output_name(step.new) or _output_name(step.old),
    )


def _inputs(state: ResourceState) -> dict[str, Any]:
    return {k: plain(v) for k, v in (state.inputs or {}).items() if k != DYNAMIC_PROVIDER_KEY}


def _output_name(state: ResourceState | None) -> str | None:
    name = plain((state.outputs or {}).get("name")) if state is not None else None
    return name if isinstance(name, str) and not name.startswith("[") else None


def step_diff(step: Step) -> tuple[ValueDiff, ...]:
    """The values that change: per path of the detailed diff; else (a provider that
    reports no detailed diff, as Python dynamic providers do) old inputs against new."""
    old, new = step.old, step.new
    if step.detailed_diff:
        found = [_path_diff(path, kind, old, new) for path, kind in step.detailed_diff.items()]
        return tuple(sorted(found, key=lambda d: d.path))
    return input_diff(step)


def input_diff(step: Step) -> tuple[ValueDiff, ...]:
    """Old inputs against new, leaf by leaf; a change of a top-level key the provider
    names in `replaceReasons` forces the replace. A dynamic resource's serialized provider
    is never shown, and counts only when it alone differs (its code changed)."""
    old = dict((step.old.inputs if step.old else None) or {})
    new = dict((step.new.inputs if step.new else None) or {})
    old_code, new_code = old.pop(DYNAMIC_PROVIDER_KEY, None), new.pop(DYNAMIC_PROVIDER_KEY, None)
    forcing = {parse_path(r)[0] for r in step.replace_reasons if parse_path(r)}
    found = value_diffs(plain(old), plain(new), lambda parts: bool(parts) and parts[0] in forcing)
    if not found and _code_changed(old_code, new_code):
        found = [ValueDiff(DYNAMIC_PROVIDER_KEY, PROVIDER_CODE, PROVIDER_CODE_CHANGED,
                           DYNAMIC_PROVIDER_KEY in forcing)]
    if not found:  # nothing to compare: the keys the provider named, as they are
        found = [ValueDiff(pulumi_path(parts), plain(value_at(old, parts)),
                           plain(value_at(new, parts)), parts[0] in forcing)
                 for parts in _paths(step.diff_reasons or step.replace_reasons)]
    return tuple(sorted(found, key=lambda d: d.path))


def _code_changed(old: Any, new: Any) -> bool:
    """Whether a serialized provider visibly differs: "[secret]" or unknown on either
    side hides it (Pulumi writes a secret provider as "[secret]")."""
    shown = plain(old), plain(new)
    return None not in shown and shown[0] != shown[1] and not any(
        isinstance(v, str) and v.startswith("[") for v in shown)


def _paths(keys: Iterable[str]) -> list[list[Any]]:
    parsed = (parse_path(k) for k in dict.fromkeys(keys) if k != DYNAMIC_PROVIDER_KEY)
    return [p for p in parsed if p]


def _path_diff(path: str, diff: PropertyDiff, old: ResourceState | None,
               new: ResourceState | None) -> ValueDiff:
    parts = parse_path(path)
    # inputDiff false: the provider compared the old *state* (outputs) with the new inputs.
    bags = [old.inputs, old.outputs] if old is not None else []
    before = next((value_at(b, parts) for b in (bags if diff.input_diff else bags[::-1])
                   if value_at(b, parts) is not None), None)
    return ValueDiff(
        pulumi_path(parts),
        None if diff.kind.startswith("add") else plain(before),
        None if diff.kind.startswith("delete") else
        plain(value_at(new.inputs if new is not None else None, parts)),
        diff.kind.endswith("-replace"),
    )


def lists_unchanged(preview: Preview) -> bool:
    """Whether unchanged resources are in the steps (`--show-sames`), or there are none;
    the root stack is always listed, providers only with --show-sames."""
    listed = sum(1 for s in preview.steps if s.op == "same")
    return listed >= (preview.change_summary or {}).get("same", 0) or any(
        s.op == "same" and _type_of(s) not in (STACK, "") for s in preview.steps)


def _type_of(step: Step) -> str:
    state = step.new or step.old
    return (state.type if state else "") or urn_type(step.urn)


# -- rendering --------------------------------------------------------------------------------


def render_preview(preview: Preview, events: EventLog | None = None, *,
                   stack: str | None = None) -> str:
    """The plan's Markdown, as the offline runner writes it (without simulated times);
    with the event log, its policy violations and diagnostics too."""
    events = events or EventLog()
    complete = lists_unchanged(preview)
    view = PlanView(preview_items(preview), complete=complete)
    name = stack or stack_of(s.urn for s in preview.steps) or "preview"
    diagnostics = _merged(preview.diagnostics, events.diagnostics)
    errors = _diagnostics(diagnostics, "error")
    mandatory = [v for v in events.violations if v.enforcement == "mandatory"]
    failed = bool(errors or mandatory or preview.stopped_early)
    parts = [f"# vmimage plan: {code(name, table=False)}", "",
             _summary(view, preview, events.violations, failed=failed), ""]
    if failed:
        parts += ["## Failed", ""]
        if preview.stopped_early:
            parts.append("- the preview stopped before it got to any resource")
        parts += [f"- {line}" for line in errors]
        parts += [f"- policy {code(v.policy, table=False)} (mandatory) refuses "
                  f"{code(v.urn.rsplit('::', 1)[-1], table=False) if v.urn else 'the stack'}"
                  for v in sorted(mandatory, key=lambda v: (v.policy, v.urn))]
        parts.append("")
    if preview.stopped_early:
        parts += _warnings(_diagnostics(diagnostics, "warning"), events.violations)
        return "\n".join(parts).rstrip("\n") + "\n"
    if not complete:
        parts += [f"> Unchanged resources are not listed in this preview (Pulumi counts "
                  f"{(preview.change_summary or {}).get('same', 0)}, providers and the "
                  "stack included): run `pulumi preview --json --show-sames` for whole "
                  "summaries.", ""]
    parts += plan_sections(view)
    parts += _warnings(_diagnostics(diagnostics, "warning"), events.violations)
    parts += diagram(view)
    return "\n".join(parts).rstrip("\n") + "\n"


def _summary(view: PlanView, preview: Preview, violations: Sequence[Violation], *,
             failed: bool) -> str:
    present = [i for i in view.customs if i.action != "delete"]
    per_stage = {stage: sum(1 for i in present if view.stage(i) == stage) for stage in STAGES}
    counts = " · ".join(f"{n} {stage}" for stage, n in per_stage.items() if n)
    took = f" in {duration(preview.duration_ns / 1e9)}" if preview.duration_ns else ""
    line = (f"**{len(present)} resources** ({counts or 'none'}) · "
            f"{action_counts(i.action for i in view.customs)} · from `pulumi preview`{took}")
    if violations:
        mandatory = sum(1 for v in violations if v.enforcement == "mandatory")
        line += f" · policy: {mandatory} mandatory, {len(violations) - mandatory} advisory"
    return "**Failed.** " + line if failed else line


def _merged(*groups: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics of the preview and of the event log, each once."""
    return list(dict.fromkeys(d for group in groups for d in group))


def _diagnostics(diagnostics: Iterable[Diagnostic], severity: str) -> list[str]:
    found = []
    for d in diagnostics:
        if d.severity != severity:
            continue
        where = d.urn.rsplit("::", 1)[-1]
        message = text(d.message)
        found.append(f"{code(where, table=False)}: {message}" if where else message)
    return sorted(set(found))


def _warnings(warnings: Sequence[str], violations: Sequence[Violation]) -> list[str]:
    out = ["## Warnings", ""]
    if not warnings and not violations:
        return [*out, "None.", ""]
    out += [f"- {w}" for w in warnings]
    if warnings:
        out.append("")
    return out + policy_section(violations)


# -- the command ------------------------------------------------------------------------------

EPILOG = """\
examples:
  pulumi preview --json --show-sames --stack dev > preview.json
  vmimage-plan --preview-json preview.json --markdown plan.md
  PULUMI_DEBUG_COMMANDS=true pulumi preview --json --policy-pack policy \\
      --event-log events.jsonl --stack dev > preview.json
  vmimage-plan --preview-json preview.json --event-log events.jsonl --markdown plan.md
  pulumi preview --json --stack dev | vmimage-plan --preview-json - > plan.md

`pulumi preview --json` leaves policy violations out; they are in the engine's event
log (`--event-log`, a flag Pulumi lists only with PULUMI_DEBUG_COMMANDS=true).

exit codes:
  0  the plan was written; a preview that failed (errors, a mandatory policy
     violation, or stopped before any resource) is written as a failed plan
  2  bad input: a file cannot be read, or is not what `pulumi preview --json`
     (or `--event-log`) writes; one line on standard error says why
  1  failure: the plan could not be written
"""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="vmimage-plan",
        description="Write the pull-request plan (Markdown: image versions, clone groups, "
        "changes with their values, policy violations, a Mermaid graph) of a "
        "`pulumi preview --json`.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("--preview-json", required=True, metavar="FILE",
                      help="what `pulumi preview --json` printed (- for standard input)")
    root.add_argument("--event-log", metavar="FILE",
                      help="the engine event log of the same preview (`pulumi preview "
                      "--event-log FILE`): its policy violations and diagnostics")
    root.add_argument("--markdown", metavar="FILE", default="-",
                      help="where to write the plan (default: standard output)")
    root.add_argument("--stack", metavar="NAME",
                      help="the stack named in the title (default: read from the URNs)")
    return root


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return EXIT_OK if exc.code in (0, None) else EXIT_BAD_INPUT
    flag, name = "--preview-json", args.preview_json
    try:
        preview = read_preview(_read(name))
        events = None
        if args.event_log is not None:
            flag, name = "--event-log", args.event_log
            events = read_event_log(_read(name))
        markdown = render_preview(preview, events, stack=args.stack)
    except PreviewError as exc:
        print(f"error: {flag} {_one_line(name)}: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # never a traceback
        print(f"error: internal error: {type(exc).__name__}: {_one_line(str(exc))}",
              file=sys.stderr)
        return EXIT_FAILED
    try:
        if args.markdown == "-":
            sys.stdout.write(markdown)
        else:
            Path(args.markdown).write_text(markdown, encoding="utf-8")
    except OSError as exc:
        print(f"error: --markdown {_one_line(args.markdown)}: cannot write "
              f"({_one_line(exc.strerror or str(exc))})", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _read(name: str) -> str:
    """A file's text (- standard input), at most MAX_BYTES; PreviewError when it cannot
    be read."""
    try:
        if name == "-":
            data = _head(sys.stdin.buffer)
        else:
            with Path(name).open("rb") as handle:
                data = _head(handle)
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PreviewError(f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise PreviewError(f"cannot read ({exc.strerror or type(exc).__name__})") from None


def _head(handle: BinaryIO) -> bytes:
    data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise PreviewError(f"larger than {MAX_BYTES // 2**20} MiB")
    return data


def _one_line(text: str) -> str:
    """Text fit for one line of standard error: control characters shown, not obeyed
    (the terminal escaper), and cut at 500 characters."""
    return visible(text)[:500]


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
