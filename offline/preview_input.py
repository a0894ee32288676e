"""What `vmimage-plan` reads, checked up front: `pulumi preview --json` (a PreviewDigest)
and, optionally, the engine's event log (`--event-log FILE`, one EngineEvent per line),
each turned into typed values or refused with one line naming the key paths at fault.

Any input ends in those values or a `PreviewError`: the text is bounded in size
(`MAX_BYTES`), nesting (`MAX_DEPTH`) and numbers (integers of at most `MAX_INT_DIGITS`
digits, floats finite), so nothing later recurses, overflows or meets a wrong type.

The shapes are Pulumi's (pulumi/pulumi v3.259.0):

- pkg/display/json.go `PreviewDigest` {config, steps, diagnostics, duration,
  changeSummary, maybeCorrupt}, every field `omitempty`: a preview that fails before any
  step has neither `steps` nor `changeSummary`. `PreviewStep` {op, urn, provider,
  oldState, newState, diffReasons, replaceReasons, detailedDiff}; `PropertyDiff`
  {kind, inputDiff}; `PreviewDiagnostic` {urn, prefix, message, severity}.
- sdk/go/common/apitype/core.go `ResourceV3` for oldState/newState.
- sdk/go/common/apitype/events.go `EngineEvent` {sequence, timestamp, and one of
  diagnosticEvent, policyEvent, ...}; `PolicyEvent` {resourceUrn, message, color,
  policyName, policyPackName, policyPackVersion, policyPackVersionTag, enforcementLevel,
  severity}; `DiagnosticEvent` {urn, prefix, message, color, severity, streamID,
  ephemeral}. pkg/backend/display/display.go `logJSONEvent` writes them, one per line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vmimage.policy.rules import Violation

MAX_BYTES = 64 * 1024 * 1024  # the largest preview or event log read
MAX_DEPTH = 64  # nesting of objects and lists; Pulumi's own for our resources is < 20
MAX_INT_DIGITS = 30  # Go writes float64s: no integer it prints is longer
MAX_PROBLEMS = 5  # problems named in the one error line; the rest are counted

#: Colour directives (`<{%fg 1%}>`, diag/colors) and ANSI codes in engine messages.
_COLOURS = re.compile(r"<\{%[^%]*%\}>|\x1b\[[0-9;]*[A-Za-z]")
_DIGEST_KEYS = frozenset({"config", "steps", "diagnostics", "duration", "changeSummary",
                          "maybeCorrupt"})


class PreviewError(Exception):
    """The input is not what `pulumi preview` writes; the message (one line) says why."""


@dataclass(frozen=True)
class PropertyDiff:
    kind: str  # add | add-replace | delete | delete-replace | update | update-replace
    input_diff: bool


@dataclass(frozen=True)
class ResourceState:
    """The parts of an `apitype.ResourceV3` the plan reads."""

    urn: str
    type: str
    custom: bool
    id: str = ""
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    inputs: Mapping[str, Any] | None = None
    outputs: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Step:
    op: str
    urn: str
    provider: str = ""
    old: ResourceState | None = None
    new: ResourceState | None = None
    diff_reasons: tuple[str, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    detailed_diff: Mapping[str, PropertyDiff] | None = None


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # error | warning | info | info#err
    message: str
    urn: str = ""


@dataclass(frozen=True)
class Preview:
    steps: tuple[Step, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    change_summary: Mapping[str, int] | None = None
    duration_ns: int | None = None

    @property
    def stopped_early(self) -> bool:
        """No step and no summary: the preview failed before it got to any resource."""
        return not self.steps and self.change_summary is None


@dataclass(frozen=True)
class EventLog:
    violations: tuple[Violation, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()


# -- bounded JSON ------------------------------------------------------------------------------


def load_json(text: str) -> Any:
    """One JSON value, bounded; a line of noise before it (a CLI notice) is skipped."""
    _check_size(text)
    try:
        return _loads(text)
    except PreviewError as exc:
        start = text.find("\n{")
        if start < 0 or not str(exc).startswith("not JSON"):
            raise
        return _loads(text[start + 1:])


def load_json_lines(text: str) -> list[tuple[int, Any]]:
    """Every non-blank line's JSON value, with its line number."""
    _check_size(text)
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                found.append((number, _loads(line)))
            except PreviewError as exc:
                raise PreviewError(f"line {number}: {exc}") from None
    return found


def _check_size(text: str) -> None:
    if len(text) > MAX_BYTES:
        raise PreviewError(f"larger than {MAX_BYTES // 2**20} MiB")


def _loads(text: str) -> Any:
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise PreviewError(f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
                           ) from None
    except RecursionError:
        raise PreviewError(f"nested deeper than {MAX_DEPTH} levels") from None
    except _NumberError as exc:
        raise PreviewError(str(exc)) from None
    _check_depth(value)
    return value


class _NumberError(ValueError):
    pass


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _NumberError(f"a number longer than {MAX_INT_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NumberError(f"a number out of range: {text[:20]}")
    return value


def _constant(text: str) -> Any:
    raise _NumberError(f"{text} is not a JSON number")


def _check_depth(value: Any) -> None:
    """Refuses nesting deeper than MAX_DEPTH, without recursing."""
    level: list[tuple[Any, int]] = [(value, 1)]
    while level:
        current, depth = level.pop()
        if isinstance(current, dict | list):
            if depth > MAX_DEPTH:
                raise PreviewError(f"nested deeper than {MAX_DEPTH} levels")
            children = current.values() if isinstance(current, dict) else current
            level.extend((c, depth + 1) for c in children if isinstance(c, dict | list))


# -- shapes ------------------------------------------------------------------------------------


class _Shape:
    """Reads values of an expected type, recording every mismatch with its key path."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, expected: str) -> None:
        self.problems.append(f"{path}: expected {expected}")

    def obj(self, value: Any, path: str) -> Mapping[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(path, "an object")
            return None
        return value

    def text(self, value: Any, path: str, *, required: bool = False) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str):
            self.fail(path, "a string")
            return ""
        return value

    def flag(self, value: Any, path: str) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(path, "true or false")
            return False
        return value

    def texts(self, value: Any, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(path, "a list of strings")
            return ()
        return tuple(self.text(v, f"{path}[{i}]", required=True) for i, v in enumerate(value))

    def raise_if_any(self, what: str) -> None:
        if self.problems:
            shown = self.problems[:MAX_PROBLEMS]
            more = len(self.problems) - len(shown)
            tail = f" (and {more} more)" if more else ""
            raise PreviewError(f"not {what}: " + "; ".join(shown) + tail)


def read_preview(text: str) -> Preview:
    """The preview in `text` (`pulumi preview --json`); PreviewError when it is not one."""
    document = load_json(text)
    what = "a `pulumi preview --json` document"
    if not isinstance(document, dict) or not _DIGEST_KEYS & set(document):
        raise PreviewError(f"not {what}: expected an object with \"steps\" and "
                           "\"changeSummary\" (or, for a preview that failed early, "
                           "\"diagnostics\")")
    shape = _Shape()
    steps = document.get("steps")
    if steps is not None and not isinstance(steps, list):
        shape.fail("steps", "a list")
        steps = None
    preview = Preview(
        steps=tuple(_step(shape, s, f"steps[{i}]") for i, s in enumerate(steps or ())),
        diagnostics=tuple(_diagnostics(shape, document.get("diagnostics"), "diagnostics")),
        change_summary=_summary(shape, document.get("changeSummary")),
        duration_ns=_duration(shape, document.get("duration")),
    )
    shape.raise_if_any(what)
    return preview


def _step(shape: _Shape, value: Any, path: str) -> Step:
    step = shape.obj(value, path)
    if step is None:
        if value is None:
            shape.fail(path, "an object")
        return Step(op="", urn="")
    detailed = step.get("detailedDiff")
    diffs = shape.obj(detailed, f"{path}.detailedDiff")
    return Step(
        op=shape.text(step.get("op"), f"{path}.op", required=True),
        urn=shape.text(step.get("urn"), f"{path}.urn", required=True),
        provider=shape.text(step.get("provider"), f"{path}.provider"),
        old=_state(shape, step.get("oldState"), f"{path}.oldState"),
        new=_state(shape, step.get("newState"), f"{path}.newState"),
        diff_reasons=shape.texts(step.get("diffReasons"), f"{path}.diffReasons"),
        replace_reasons=shape.texts(step.get("replaceReasons"), f"{path}.replaceReasons"),
        detailed_diff=None if diffs is None else {
            str(k): _property_diff(shape, v, f"{path}.detailedDiff[{json.dumps(k)}]")
            for k, v in diffs.items()},
    )


def _property_diff(shape: _Shape, value: Any, path: str) -> PropertyDiff:
    diff = shape.obj(value, path) or {}
    return PropertyDiff(kind=shape.text(diff.get("kind"), f"{path}.kind") or "update",
                        input_diff=shape.flag(diff.get("inputDiff"), f"{path}.inputDiff"))


def _state(shape: _Shape, value: Any, path: str) -> ResourceState | None:
    state = shape.obj(value, path)
    if state is None:
        return None
    custom = state.get("custom")
    return ResourceState(
        urn=shape.text(state.get("urn"), f"{path}.urn"),
        type=shape.text(state.get("type"), f"{path}.type"),
        custom=shape.flag(custom, f"{path}.custom") if custom is not None else True,
        id=shape.text(state.get("id"), f"{path}.id"),
        parent=shape.text(state.get("parent"), f"{path}.parent") or None,
        dependencies=shape.texts(state.get("dependencies"), f"{path}.dependencies"),
        inputs=shape.obj(state.get("inputs"), f"{path}.inputs"),
        outputs=shape.obj(state.get("outputs"), f"{path}.outputs"),
    )


def _diagnostics(shape: _Shape, value: Any, path: str) -> list[Diagnostic]:
    if value is None:
        return []
    if not isinstance(value, list):
        shape.fail(path, "a list")
        return []
    found = []
    for i, item in enumerate(value):
        diag = shape.obj(item, f"{path}[{i}]") or {}
        found.append(Diagnostic(
            severity=shape.text(diag.get("severity"), f"{path}[{i}].severity"),
            message=clean(shape.text(diag.get("prefix"), f"{path}[{i}].prefix")
                          + shape.text(diag.get("message"), f"{path}[{i}].message")),
            urn=shape.text(diag.get("urn"), f"{path}[{i}].urn")))
    return found


def _summary(shape: _Shape, value: Any) -> Mapping[str, int] | None:
    summary = shape.obj(value, "changeSummary")
    if summary is None:
        return None
    found = {}
    for op, count in summary.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            shape.fail(f"changeSummary[{json.dumps(op)}]", "a count")
        else:
            found[str(op)] = count
    return found


def _duration(shape: _Shape, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        shape.fail("duration", "nanoseconds")
        return None
    return value


def clean(message: str) -> str:
    """An engine message without its colour directives and trailing newline."""
    return _COLOURS.sub("", message).strip()


# -- the event log -----------------------------------------------------------------------------


def read_event_log(text: str) -> EventLog:
    """The policy violations and diagnostics of an engine event log (`--event-log`)."""
    shape = _Shape()
    violations: list[Violation] = []
    diagnostics: list[Diagnostic] = []
    for number, event in load_json_lines(text):
        path = f"line {number}"
        record = shape.obj(event, path)
        if record is None:
            continue
        policy = shape.obj(record.get("policyEvent"), f"{path}.policyEvent")
        if policy is not None:
            violations.append(_violation(shape, policy, f"{path}.policyEvent"))
        diag = shape.obj(record.get("diagnosticEvent"), f"{path}.diagnosticEvent")
        if diag is not None and not shape.flag(diag.get("ephemeral"),
                                               f"{path}.diagnosticEvent.ephemeral"):
            diagnostics += _diagnostics(shape, [diag], f"{path}.diagnosticEvent")
    shape.raise_if_any("an engine event log (`pulumi preview --event-log FILE`)")
    return EventLog(tuple(violations), tuple(diagnostics))


def _violation(shape: _Shape, event: Mapping[str, Any], path: str) -> Violation:
    level = shape.text(event.get("enforcementLevel"), f"{path}.enforcementLevel")
    pack = shape.text(event.get("policyPackName"), f"{path}.policyPackName")
    name = shape.text(event.get("policyName"), f"{path}.policyName", required=True)
    return Violation(
        policy=f"{pack}/{name}" if pack else name,
        # "warning" is advisory's older name (apitype.EnforcementLevel)
        enforcement="mandatory" if level == "mandatory" else "advisory",
        urn=shape.text(event.get("resourceUrn"), f"{path}.resourceUrn"),
        message=clean(shape.text(event.get("message"), f"{path}.message")),
    )
