"""`vmimage-plan`: the pull-request plan from a real `pulumi preview --json`.

    pulumi preview --json --show-sames --stack dev > preview.json
    vmimage-plan --preview-json preview.json --markdown plan.md

The Markdown is the offline runner's (`python -m offline up --markdown`): image versions,
clone groups, every change with its values, and the dependency graph; it has no
simulated times. Without `--show-sames` Pulumi leaves unchanged resources out, and the
summaries can only say what changes.

The document is Pulumi's `PreviewDigest`, which `pulumi preview --json` prints once the
preview is done (pulumi/pulumi v3.259.0: pkg/display/json.go holds the types,
pkg/backend/display/json.go `ShowPreviewDigest` fills them):

    {"config": {"<ns:key>": "<value>", ...},           # secrets "[secret]"
     "steps": [{"op": "create" | "update" | "replace" | "delete" | "same" | ...,
                "urn": "...", "provider": "<provider reference>",
                "oldState": <apitype.ResourceV3>, "newState": <apitype.ResourceV3>,
                "diffReasons": ["<top-level key>", ...],
                "replaceReasons": ["<top-level key>", ...],
                "detailedDiff": {"<property path>": {"kind": "add" | "add-replace" |
                                 "delete" | "delete-replace" | "update" |
                                 "update-replace", "inputDiff": true}} | null}],
     "diagnostics": [{"urn": "...", "message": "...", "severity": "warning" | ...}],
     "duration": <nanoseconds>, "changeSummary": {"create": 3, "same": 20, ...}}

A ResourceV3 (sdk/go/common/apitype/core.go) carries `urn`, `custom`, `id`, `type`,
`inputs`, `outputs`, `parent`, `protect`, `dependencies`, `provider`,
`propertyDependencies` and more. Secrets in it are the string "[secret]"
(`MassageSecrets`); older CLIs wrote Pulumi's secret object (the signature key
4dabf18193072939515e22adb298388d), shown as `[secret]` as well. A value the preview
cannot know yet is the string 04da6b54-80e4-46f7-96ec-b56ff0331ba9, shown `[unknown]`.
Only logical steps are listed for a replacement ("replace"; the create-replacement and
delete-replaced halves only with `--show-replacement-steps`, and then folded into it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.changes import ValueDiff, parse_path, plain, pulumi_path, value_at
from offline.plan.mermaid import diagram
from offline.plan.model import PlanItem, PlanView, stack_of
from offline.plan.render import plan_sections
from offline.plan.summaries import action_counts
from offline.plan.values import _cell, _code
from offline.report import STAGES, duration
from offline.urns import urn_type
from vmimage.vocabulary import DYNAMIC_PROVIDER_KEY, STACK

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

#: What each step's operation is to a reviewer; operations not here are left out (the
#: halves of a replacement, discards of read resources).
ACTION_OF = {
    "same": "same", "create": "create", "update": "update", "replace": "replace",
    "delete": "delete", "import": "create", "read": "same", "refresh": "same",
    "create-replacement": "replace", "import-replacement": "replace",
}
PROVIDER_PREFIX = "pulumi:providers:"


class PreviewError(Exception):
    """The input is not a `pulumi preview --json` document; the message says why."""


@dataclass(frozen=True)
class Preview:
    steps: list[Mapping[str, Any]]
    diagnostics: list[Mapping[str, Any]] = field(default_factory=list)
    change_summary: Mapping[str, int] = field(default_factory=dict)
    duration_ns: int | None = None


# -- reading ----------------------------------------------------------------------------------


def read_preview(text: str) -> Preview:
    """The preview in `text`; PreviewError when it is not one."""
    document = _json(text)
    if not isinstance(document, dict) or not ({"steps", "changeSummary"} & set(document)):
        raise PreviewError("not a `pulumi preview --json` document: expected an object with "
                           "\"steps\" and \"changeSummary\"")
    steps = document.get("steps")
    steps = [] if steps is None else steps
    if not isinstance(steps, list):
        raise PreviewError("\"steps\" is not a list")
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("op"), str) \
                or not isinstance(step.get("urn"), str):
            raise PreviewError(f"steps[{index}]: expected an object with \"op\" and \"urn\"")
        for key in ("oldState", "newState"):
            if step.get(key) is not None and not isinstance(step[key], dict):
                raise PreviewError(f"steps[{index}].{key}: expected an object")
    diagnostics = document.get("diagnostics") or []
    summary = document.get("changeSummary") or {}
    return Preview(
        steps=steps,
        diagnostics=[d for d in diagnostics if isinstance(d, dict)]
        if isinstance(diagnostics, list) else [],
        change_summary={str(k): int(v) for k, v in summary.items() if isinstance(v, int)}
        if isinstance(summary, dict) else {},
        duration_ns=document.get("duration") if isinstance(document.get("duration"), int)
        else None,
    )


def _json(text: str) -> Any:
    """The JSON document; a line of noise before it (a CLI notice on stdout) is skipped."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        start = text.find("\n{")
        if start >= 0:
            try:
                return json.loads(text[start + 1:])
            except json.JSONDecodeError:
                pass
        raise PreviewError(f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
                           ) from None


def preview_items(preview: Preview) -> list[PlanItem]:
    """The resources of the preview as plan items; the stack and providers are left out."""
    items: dict[str, PlanItem] = {}
    for step in preview.steps:
        item = step_item(step)
        # With --show-replacement-steps a replacement is three steps: the logical one wins.
        if item is not None and (item.urn not in items or step.get("op") == "replace"):
            items[item.urn] = item
    return list(items.values())


def step_item(step: Mapping[str, Any]) -> PlanItem | None:
    action = ACTION_OF.get(str(step.get("op")))
    new, old = step.get("newState") or None, step.get("oldState") or None
    state = new or old
    urn = str(step.get("urn"))
    type_ = str((state or {}).get("type") or urn_type(urn))
    if action is None or type_ == STACK or type_.startswith(PROVIDER_PREFIX):
        return None
    diff = step_diff(step) if action in ("update", "replace") else ()
    reasons = tuple(pulumi_path(parse_path(str(r))) for r in step.get("replaceReasons") or ())
    if action == "replace" and not reasons:
        reasons = tuple(d.path for d in diff if d.replaces)
    return PlanItem(
        urn=urn, type=type_, action=action, custom=bool((state or {}).get("custom", True)),
        parent=(state or {}).get("parent") or None,
        dependencies=tuple(str(d) for d in (state or {}).get("dependencies") or ()),
        inputs=_inputs(new) if new is not None and action != "delete" else None,
        old=_inputs(old) if old is not None else None,
        diff=diff, replace_reasons=reasons if action == "replace" else (),
        properties=tuple(str(k) for k in step.get("diffReasons") or ()),
        azure_name=_output_name(new) or _output_name(old),
    )


def _inputs(state: Mapping[str, Any]) -> dict[str, Any]:
    inputs = state.get("inputs") or {}
    return {k: plain(v) for k, v in inputs.items() if k != DYNAMIC_PROVIDER_KEY}


def _output_name(state: Mapping[str, Any] | None) -> str | None:
    name = plain(((state or {}).get("outputs") or {}).get("name"))
    return name if isinstance(name, str) and not name.startswith("[") else None


def step_diff(step: Mapping[str, Any]) -> tuple[ValueDiff, ...]:
    """The values that change: per path of the detailed diff, or else per top-level key
    the provider reported (`diffReasons`)."""
    old, new = step.get("oldState") or {}, step.get("newState") or {}
    detailed = step.get("detailedDiff")
    if isinstance(detailed, dict) and detailed:
        found = [_path_diff(path, kind, old, new) for path, kind in detailed.items()]
        return tuple(sorted(found, key=lambda d: d.path))
    forcing = {str(k) for k in step.get("replaceReasons") or ()}
    return tuple(
        ValueDiff(pulumi_path([str(key)]), plain((old.get("inputs") or {}).get(key)),
                  plain((new.get("inputs") or {}).get(key)), str(key) in forcing)
        for key in sorted(step.get("diffReasons") or ()))


def _path_diff(path: str, diff: Any, old: Mapping[str, Any],
               new: Mapping[str, Any]) -> ValueDiff:
    kind = str(diff.get("kind", "update")) if isinstance(diff, dict) else "update"
    parts = parse_path(path)
    # inputDiff false: the provider compared the old *state* (outputs) with the new inputs.
    input_diff = not isinstance(diff, dict) or diff.get("inputDiff", True)
    bags = [old.get("inputs"), old.get("outputs")]
    before = next((value_at(b, parts) for b in (bags if input_diff else bags[::-1])
                   if value_at(b, parts) is not None), None)
    return ValueDiff(
        pulumi_path(parts),
        None if kind.startswith("add") else plain(before),
        None if kind.startswith("delete") else plain(value_at(new.get("inputs"), parts)),
        kind.endswith("-replace"),
    )


def lists_unchanged(preview: Preview) -> bool:
    """Whether unchanged resources are in the steps (`--show-sames`), or there are none;
    the root stack is always listed, providers only with --show-sames."""
    listed = sum(1 for s in preview.steps if s.get("op") == "same")
    return listed >= preview.change_summary.get("same", 0) or any(
        s.get("op") == "same" and _type_of(s) not in (STACK, "") for s in preview.steps)


def _type_of(step: Mapping[str, Any]) -> str:
    state = step.get("newState") or step.get("oldState") or {}
    return str(state.get("type") or urn_type(str(step.get("urn"))))


# -- rendering --------------------------------------------------------------------------------


def render_preview(preview: Preview, *, stack: str | None = None) -> str:
    """The plan's Markdown, as the offline runner writes it (without simulated times)."""
    complete = lists_unchanged(preview)
    view = PlanView(preview_items(preview), complete=complete)
    name = stack or stack_of(str(s.get("urn")) for s in preview.steps) or "preview"
    errors = _diagnostics(preview, "error")
    parts = [f"# vmimage plan: `{name}`", "", _summary(view, preview, failed=bool(errors)), ""]
    if errors:
        parts += ["## Failed", "", *(f"- {line}" for line in errors), ""]
    if not complete:
        parts += [f"> Unchanged resources are not listed in this preview (Pulumi counts "
                  f"{preview.change_summary.get('same', 0)}, providers and the stack "
                  "included): run `pulumi preview --json --show-sames` for whole "
                  "summaries.", ""]
    parts += plan_sections(view)
    parts += _warnings(_diagnostics(preview, "warning"))
    parts += diagram(view)
    return "\n".join(parts).rstrip("\n") + "\n"


def _summary(view: PlanView, preview: Preview, *, failed: bool) -> str:
    present = [i for i in view.customs if i.action != "delete"]
    per_stage = {stage: sum(1 for i in present if view.stage(i) == stage) for stage in STAGES}
    counts = " · ".join(f"{n} {stage}" for stage, n in per_stage.items() if n)
    took = f" in {duration(preview.duration_ns / 1e9)}" if preview.duration_ns else ""
    line = (f"**{len(present)} resources** ({counts or 'none'}) · "
            f"{action_counts(i.action for i in view.customs)} · from `pulumi preview`{took}")
    return "**Failed.** " + line if failed else line


def _diagnostics(preview: Preview, severity: str) -> list[str]:
    found = []
    for d in preview.diagnostics:
        if d.get("severity") != severity:
            continue
        where = str(d.get("urn") or "").rsplit("::", 1)[-1]
        message = _cell(str(d.get("message") or ""))
        found.append(f"{_code(where)}: {message}" if where else message)
    return sorted(found)


def _warnings(warnings: Sequence[str]) -> list[str]:
    return ["## Warnings", "", *([f"- {w}" for w in warnings] or ["None."]), ""]


# -- the command ------------------------------------------------------------------------------

EPILOG = """\
examples:
  pulumi preview --json --show-sames --stack dev > preview.json
  vmimage-plan --preview-json preview.json --markdown plan.md
  pulumi preview --json --stack dev | vmimage-plan --preview-json - > plan.md

exit codes:
  0  the plan was written (a preview that reported errors shows them in the plan)
  2  bad input: the file cannot be read, or is not `pulumi preview --json` output
  1  failure: the plan could not be written
"""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="vmimage-plan",
        description="Write the pull-request plan (Markdown: image versions, clone groups, "
        "changes with their values, a Mermaid graph) of a `pulumi preview --json`.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("--preview-json", required=True, metavar="FILE",
                      help="what `pulumi preview --json` printed (- for standard input)")
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
    try:
        text = sys.stdin.read() if args.preview_json == "-" else \
            Path(args.preview_json).read_text(encoding="utf-8")
        markdown = render_preview(read_preview(text), stack=args.stack)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: --preview-json {args.preview_json}: cannot read ({exc})",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except PreviewError as exc:
        print(f"error: --preview-json {args.preview_json}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # never a traceback
        print(f"error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        if args.markdown == "-":
            sys.stdout.write(markdown)
        else:
            Path(args.markdown).write_text(markdown, encoding="utf-8")
    except OSError as exc:
        print(f"error: --markdown {args.markdown}: cannot write ({exc.strerror or exc})",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
