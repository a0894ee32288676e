"""The change summary: what a run does to the resources of the last one, as a preview
shows it (create, update, replace, delete, same), and which properties force it.

Replacement follows `IMMUTABLE_PROPERTIES`, the table the simulator uses to refuse
PropertyChangeNotAllowed, plus the names that make up a resource's ARM id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from offline.arm import IMMUTABLE_PROPERTIES
from offline.engine import PriorResource, Registration
from offline.state import seal
from vmimage.vocabulary import SECRET_SIG_KEY

ACTIONS = ("create", "update", "replace", "delete", "same")


@dataclass(frozen=True)
class Change:
    urn: str
    action: str
    properties: tuple[str, ...] = ()
    was: str | None = None  # the previous run's URN, when an alias matched it

    @property
    def prior_urn(self) -> str:
        """The key of this resource in the previous run's state."""
        return self.was or self.urn

    def as_json(self) -> dict[str, Any]:
        found = {"urn": self.urn, "action": self.action, "properties": list(self.properties)}
        return {**found, "aliasedFrom": self.was} if self.was else found


def leaf_differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two property bags differ ('a.b[0].c')."""
    if isinstance(old, dict) and isinstance(new, dict) and not _is_marker(old, new):
        paths: list[str] = []
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else key
            paths += leaf_differences(old.get(key), new.get(key), path)
        return paths
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [p for i, (a, b) in enumerate(zip(old, new, strict=True))
                for p in leaf_differences(a, b, f"{prefix}[{i}]")]
    return [] if old == new else [prefix or "."]


def _is_marker(old: dict[str, Any], new: dict[str, Any]) -> bool:
    # Secret markers compare as whole values, never by their inner fields.
    return SECRET_SIG_KEY in old or SECRET_SIG_KEY in new


def forces_replacement(resource_type: str, path: str) -> bool:
    """A changed name that is part of the ARM id, or an immutable property."""
    top = path.split(".", 1)[0].split("[", 1)[0]
    if top.endswith("Name") or top == "location":
        return True
    return any(
        path == immutable or path.startswith(immutable + ".") or path.startswith(immutable + "[")
        for immutable in IMMUTABLE_PROPERTIES.get(resource_type, ())
    )


def make_differ(key: str):  # noqa: ANN201 - returns the engine's DiffFn
    def differ(reg: Registration, prior: PriorResource | None) -> tuple[str, list[str]]:
        if prior is None or prior.type != reg.type:
            return "create", []
        changed = [
            path for path in leaf_differences(prior.inputs, seal(reg.inputs, key))
            if not any(path == i or path.startswith((i + ".", i + "["))
                       for i in reg.ignore_changes)
        ]
        if not changed:
            return "same", []
        forcing = [p for p in changed if forces_replacement(reg.type, p)]
        return ("replace", forcing) if forcing else ("update", changed)

    return differ


def summarize(
    registrations: Iterable[Registration], prior: dict[str, PriorResource],
    *, finished: bool = True,
) -> list[Change]:
    """Every resource of this run and the last, in a stable order (by URN). A run that
    did not finish deletes nothing: what it did not reach is not listed."""
    changes = [
        Change(r.urn, r.action if prior else "create", tuple(r.changed), r.aliased_from)
        for r in registrations if r.custom
    ]
    seen = {c.prior_urn for c in changes}
    if finished:
        changes += [Change(urn, "delete") for urn, p in prior.items()
                    if p.custom and urn not in seen]
    return sorted(changes, key=lambda c: c.urn)


def counts(changes: Iterable[Change]) -> dict[str, int]:
    tally = dict.fromkeys(ACTIONS, 0)
    for change in changes:
        tally[change.action] += 1
    return tally


def protected_losses(changes: Iterable[Change], prior: dict[str, PriorResource]) -> list[Change]:
    """Deletes and replacements of protected resources: Pulumi refuses both."""
    return [c for c in changes if c.action in ("delete", "replace")
            and c.prior_urn in prior and prior[c.prior_urn].protect]


def delete_order(urns: Iterable[str], prior: dict[str, PriorResource]) -> list[list[str]]:
    """Waves of deletes, dependents first (a VM before the NIC it leases)."""
    remaining = set(urns)
    waves: list[list[str]] = []
    while remaining:
        wave = sorted(
            u for u in remaining
            if not any(u in prior[other].dependencies for other in remaining if other != u)
        )
        if not wave:  # a cycle cannot happen in a Pulumi graph; be safe anyway
            wave = sorted(remaining)
        waves.append(wave)
        remaining -= set(wave)
    return waves

