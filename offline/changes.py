"""The change summary: what a run does to the resources of the last one, as a preview
shows it (create, update, replace, delete, same), which properties force it, and the
values that change (old -> new, secrets shown as `[secret]`).

Replacement follows `IMMUTABLE_PROPERTIES`, the table the simulator uses to refuse
PropertyChangeNotAllowed, plus the names that make up a resource's ARM id.

Property paths are written as Pulumi writes them (`PropertyPath.String()` in
sdk/go/common/resource/properties_path.go): `a.b[0].c`, and a key that is not a plain
identifier quoted, `tags["vmimage-version"]`; so a plan reads the same whether it came
from this simulator or from `pulumi preview --json` (offline/preview_plan.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from offline.arm import IMMUTABLE_PROPERTIES
from offline.engine import PriorResource, Registration
from offline.secrets import redact
from offline.state import SEALED_PREFIX, seal
from vmimage.vocabulary import (
    REDACTED_SECRET,
    RESOURCE_REFERENCE_SIG,
    SECRET_SIG,
    SECRET_SIG_KEY,
    UNKNOWN_VALUES,
)

ACTIONS = ("create", "update", "replace", "delete", "same")
#: Longer values are shortened when shown (an ARM id keeps its last segments).
SHOWN_MAX = 64
UNKNOWN_SHOWN = "[unknown]"

PathPart = str | int


@dataclass(frozen=True)
class ValueDiff:
    """One changed property: its path, the value before and after (as shown: secrets
    `[secret]`; None when absent), and whether the change forces a replacement."""

    path: str
    old: Any
    new: Any
    replaces: bool = False

    def as_json(self) -> dict[str, Any]:
        found = {"path": self.path, "old": self.old, "new": self.new}
        return {**found, "replaces": True} if self.replaces else found


@dataclass(frozen=True)
class Change:
    urn: str
    action: str
    properties: tuple[str, ...] = ()
    was: str | None = None  # the previous run's URN, when an alias matched it
    #: What changes, value by value (update, replace).
    diff: tuple[ValueDiff, ...] = ()
    #: A deleted resource's last inputs (secrets shown as `[secret]`), parent and
    #: dependencies: what a plan says about something that is going away.
    old: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    parent: str | None = None
    dependencies: tuple[str, ...] = ()

    @property
    def prior_urn(self) -> str:
        """The key of this resource in the previous run's state."""
        return self.was or self.urn

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"urn": self.urn, "action": self.action,
                                 "properties": list(self.properties)}
        if self.was:
            found["aliasedFrom"] = self.was
        if self.diff:
            found["diff"] = [d.as_json() for d in self.diff]
        if self.old is not None:
            found |= {"old": dict(self.old), "parent": self.parent,
                      "dependencies": list(self.dependencies)}
        return found


def leaf_differences(old: Any, new: Any, prefix: tuple[PathPart, ...] = ()) -> list[str]:
    """Paths where two property bags differ, as Pulumi writes them (`a.b[0].c`,
    `tags["a[x]"]`): unambiguous whatever a key holds."""
    if isinstance(old, dict) and isinstance(new, dict) and not _is_marker(old, new):
        return [p for key in sorted(set(old) | set(new))
                for p in leaf_differences(old.get(key), new.get(key), (*prefix, key))]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [p for i, (a, b) in enumerate(zip(old, new, strict=True))
                for p in leaf_differences(a, b, (*prefix, i))]
    return [] if old == new else [pulumi_path(prefix) or "."]


def _is_marker(old: dict[str, Any], new: dict[str, Any]) -> bool:
    # Secret markers compare as whole values, never by their inner fields.
    return SECRET_SIG_KEY in old or SECRET_SIG_KEY in new


def forces_replacement(resource_type: str, path: str | Sequence[PathPart]) -> bool:
    """A changed name that is part of the ARM id, or an immutable property."""
    parts = parse_path(path) if isinstance(path, str) else list(path)
    top = parts[0] if parts and isinstance(parts[0], str) else ""
    if top.endswith("Name") or top == "location":
        return True
    return any(_within(parts, parse_path(immutable))
               for immutable in IMMUTABLE_PROPERTIES.get(resource_type, ()))


def make_differ(key: str):  # noqa: ANN201 - returns the engine's DiffFn
    def differ(reg: Registration, prior: PriorResource | None) -> tuple[str, list[str]]:
        if prior is None or prior.type != reg.type:
            return "create", []
        ignored = [parse_path(i) for i in reg.ignore_changes]
        changed = [
            path for path in leaf_differences(prior.inputs, seal(reg.inputs, key))
            if not any(_within(parse_path(path), i) for i in ignored)
        ]
        if not changed:
            return "same", []
        forcing = [p for p in changed if forces_replacement(reg.type, p)]
        return ("replace", forcing) if forcing else ("update", changed)

    return differ


def summarize(
    registrations: Iterable[Registration], prior: dict[str, PriorResource],
    *, finished: bool = True, pending_deletes: Sequence[PriorResource] = (),
) -> list[Change]:
    """Every resource of this run and the last, in a stable order (by URN), with the
    values that change. A run that did not finish deletes nothing: what it did not reach
    is not listed. `pending_deletes`: replaced resources an earlier run left marked for
    deletion, deleted by this one."""
    changes = [_change_of(r, prior) for r in registrations if r.custom]
    seen = {c.prior_urn for c in changes}
    if finished:
        changes += [_deleted(p) for urn, p in prior.items() if p.custom and urn not in seen]
        changes += [_deleted(p) for p in pending_deletes]
    return sorted(changes, key=lambda c: c.urn)


def _change_of(reg: Registration, prior: dict[str, PriorResource]) -> Change:
    action = reg.action if prior else "create"
    before = prior.get(reg.aliased_from or reg.urn)
    diff: tuple[ValueDiff, ...] = ()
    if action in ("update", "replace") and before is not None:
        diff = registration_diff(reg.type, before.inputs, reg.inputs, reg.changed)
    return Change(reg.urn, action, tuple(reg.changed), reg.aliased_from, diff=diff)


def _deleted(prior: PriorResource) -> Change:
    return Change(prior.urn, "delete", old=redact(prior.inputs), parent=prior.parent,
                  dependencies=tuple(prior.dependencies))


def registration_diff(
    resource_type: str, old: Mapping[str, Any], new: Mapping[str, Any],
    changed: Sequence[str] = (),
) -> tuple[ValueDiff, ...]:
    """The values that differ between two property bags, as shown (secrets redacted).
    `changed`: the differ's paths, which see a changed secret that the redacted
    values cannot; each one not covered by a shown value is listed as `[secret]`."""
    def forcing(parts: Sequence[PathPart]) -> bool:
        return forces_replacement(resource_type, parts)

    found = list(value_diffs(redact(dict(old)), redact(dict(new)), forcing))
    covered = [parse_path(d.path) for d in found]
    for path in changed:
        parts = parse_path(path)
        if not any(_within(c, parts) or _within(parts, c) for c in covered):
            found.append(ValueDiff(pulumi_path(parts), REDACTED_SECRET, REDACTED_SECRET,
                                   forcing(parts)))
    return tuple(sorted(found, key=lambda d: d.path))


def value_diffs(
    old: Any, new: Any, forcing: Callable[[Sequence[PathPart]], bool] = lambda _: False,
    prefix: tuple[PathPart, ...] = (),
) -> list[ValueDiff]:
    """Leaf by leaf, where two shown property bags differ; lists element by element
    (an added element is old None, a removed one new None), secret markers whole."""
    if isinstance(old, dict) and isinstance(new, dict) and not _is_marker(old, new):
        return [d for key in sorted(set(old) | set(new))
                for d in value_diffs(old.get(key), new.get(key), forcing, (*prefix, key))]
    if isinstance(old, list) and isinstance(new, list):
        return [d for i in range(max(len(old), len(new)))
                for d in value_diffs(_item(old, i), _item(new, i), forcing, (*prefix, i))]
    if old == new:
        return []
    return [ValueDiff(pulumi_path(prefix) or ".", old, new, forcing(prefix))]


def _item(values: list[Any], index: int) -> Any:
    return values[index] if index < len(values) else None


def _within(parts: Sequence[PathPart], outer: Sequence[PathPart]) -> bool:
    return list(parts[:len(outer)]) == list(outer)


# -- property paths -------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_]+")
#: An index `[0]`, a quoted key `["k"]`, or a bare key: any run of characters but `.`
#: `"` and a `[` that opens an index or a quoted key, so a dotted `tags.a[x]` (as
#: azure-native keys its detailed diff) keeps `a[x]` whole.
_PATH_TOKEN = re.compile(r'\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\.?((?:[^.\["]|\[(?!\d+\]|"))+)')


def pulumi_path(parts: Sequence[PathPart]) -> str:
    """A path as Pulumi prints it: `a.b[0]`, keys other than [A-Za-z0-9_]+ as `["k"]`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            escaped = part.replace('"', '\\"')
            out += f'["{escaped}"]'
    return out


def dotted_path(parts: Sequence[PathPart]) -> str:
    """A path as azure-native keys its detailed diff ('a.b[0].c', keys unquoted)."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_path(path: str) -> list[PathPart]:
    """Either form, Pulumi's (`tags["a-b"]`) or dotted (`a.b[0].c`), as its parts."""
    parts: list[PathPart] = []
    for index, quoted, key in _PATH_TOKEN.findall(path):
        if index:
            parts.append(int(index))
        elif key:
            parts.append(key)
        else:
            parts.append(quoted.replace('\\"', '"'))
    return parts


def value_at(bag: Any, parts: Sequence[PathPart]) -> Any:
    """The value at a path, or None where there is none."""
    for part in parts:
        if isinstance(part, int) and isinstance(bag, list) and part < len(bag):
            bag = bag[part]
        elif isinstance(part, str) and isinstance(bag, dict):
            bag = bag.get(part)
        else:
            return None
    return bag


# -- values as a reviewer sees them -----------------------------------------------------------


def is_secret(value: Any) -> bool:
    """A secret however it arrives: Pulumi's marker object, `[secret]` as `pulumi preview
    --json` prints one, or a value sealed in an offline state."""
    if isinstance(value, dict):
        # the same signature key marks assets, archives and resource references
        return value.get(SECRET_SIG_KEY) == SECRET_SIG
    return isinstance(value, str) and (value == REDACTED_SECRET
                                       or value.startswith(SEALED_PREFIX))


def plain(value: Any) -> Any:
    """A value fit to show or serialize: secrets `[secret]`, unknowns `[unknown]`."""
    if is_secret(value):
        return REDACTED_SECRET
    if isinstance(value, dict) and value.get(SECRET_SIG_KEY) == RESOURCE_REFERENCE_SIG:
        return plain(value.get("id") or value.get("urn"))  # what the provider receives
    if isinstance(value, str) and value in UNKNOWN_VALUES:
        return UNKNOWN_SHOWN
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire carries every number as a double
    return value


def shown(value: Any, limit: int = SHOWN_MAX) -> str:
    """One short line for a value: secrets `[secret]`, unknowns `[unknown]`, absent `—`,
    a script as its size and digest, an ARM id by its last segments, JSON for the rest."""
    value = plain(value)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _shown_text(value, limit)
    if isinstance(value, int | float):
        return str(value)
    return _shorten(json.dumps(value, sort_keys=True, separators=(", ", ": "),
                               ensure_ascii=False), limit)


def _shown_text(text: str, limit: int) -> str:
    if "\n" in text.strip():
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        return f"<script: {len(text.splitlines())} lines, sha256 {digest}>"
    if text.startswith("/subscriptions/") and len(text) > limit:
        return short_arm_id(text)
    url = re.fullmatch(r"(https?://[^/]+)/.*/([^/]+)", text)
    if url and len(text) > limit:  # a blob's URL: its account and its name
        return _shorten(f"{url[1]}/…/{url[2]}", limit)
    return _shorten(text, limit)


def short_arm_id(arm_id: str, segments: int = 4) -> str:
    """'/subscriptions/…/galleries/g/images/i/versions/1.0.0' -> '…/images/i/versions/1.0.0'."""
    parts = arm_id.strip("/").split("/")
    return "…/" + "/".join(parts[-segments:]) if len(parts) > segments else arm_id


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def counts(changes: Iterable[Change]) -> dict[str, int]:
    tally = dict.fromkeys(ACTIONS, 0)
    for change in changes:
        tally[change.action] += 1
    return tally


def protected_losses(changes: Iterable[Change], prior: dict[str, PriorResource]) -> list[Change]:
    """Deletes and replacements of protected resources: Pulumi refuses both."""
    return [c for c in changes if c.action in ("delete", "replace")
            and c.prior_urn in prior and prior[c.prior_urn].protect]


def delete_order(doomed: Sequence[PriorResource]) -> list[list[PriorResource]]:
    """Waves of deletes, dependents first (a VM before the NIC it leases). A URN may be
    doomed twice (a predecessor pending delete and a live resource), as in Pulumi's
    snapshot; each is deleted on its own."""
    remaining = list(doomed)
    waves: list[list[PriorResource]] = []
    while remaining:
        wave = [r for r in remaining
                if not any(r.urn in other.dependencies for other in remaining if other is not r)]
        if not wave:  # a cycle cannot happen in a Pulumi graph; be safe anyway
            wave = list(remaining)
        waves.append(sorted(wave, key=lambda r: (r.urn, r.id)))
        remaining = [r for r in remaining if not any(r is w for w in wave)]
    return waves
