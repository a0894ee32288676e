"""`vmimage lineage`: the tree of a stack's versions, what each was built on (a marketplace
version, a parent version, a VHD, another image) and which clone groups run it, so "which
clones run on base X?" has an answer. Pure over the spec and what Azure holds of the
stack's image (`AzureView`: each version's tags, vmimage/config/provenance.py).

A captured version says what its tags recorded; one not built yet, what config says it
will be built on (a marketplace `latest` is resolved only when it is built); a version
Azure holds that config no longer names is shown from its tags alone. Step digests are
the `provenance` stack output's only: they are no tags (Azure allows 50 a resource)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vmimage.azure import naming
from vmimage.config.fingerprint import Capture
from vmimage.config.models import PipelineSpec
from vmimage.config.provenance import recorded, version_provenance
from vmimage.daytwo.outdated import AzureView
from vmimage.vocabulary import COMMIT_TAG, FINGERPRINT_TAG, RELEASE_TAG, SOURCE_TAG

CAPTURED, NOT_BUILT, AZURE_ONLY = "captured", "not built", "in Azure only"
_PARENT = "version:"


@dataclass(frozen=True)
class CloneRef:
    name: str
    kind: str
    count: int

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "count": self.count}


def clone_list(clones: tuple[CloneRef, ...] | list[CloneRef]) -> str:
    """`web (vm x3), pool (vmss x2)`, or `none`."""
    return ", ".join(f"{c.name} ({c.kind} x{c.count})" for c in clones) or "none"


@dataclass(frozen=True)
class Node:
    version: str
    state: str
    provenance: Mapping[str, Any]
    """As the `provenance` stack output says it (vmimage/config/provenance.py): the
    fingerprint, source, commit and release (None: not known)."""
    parent: str | None
    """The version it was built on, when it was built on one of this image's."""
    clones: tuple[CloneRef, ...]
    children: tuple[str, ...]

    @property
    def source(self) -> str:
        return str(self.provenance.get("source") or "unknown")

    def as_json(self) -> dict[str, Any]:
        return {"version": self.version, "state": self.state, **self.provenance,
                "parent": self.parent,
                "clones": [c.as_json() for c in self.clones],
                "children": list(self.children)}


def lineage(spec: PipelineSpec, azure: AzureView) -> list[Node]:
    """Every version of config and of Azure, oldest first."""
    found: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for version, tags in azure.versions.items():
        if naming.parse_version(version) is not None:
            found[version] = (AZURE_ONLY, {
                "configFingerprint": tags.get(FINGERPRINT_TAG),
                "source": tags.get(SOURCE_TAG), "commit": tags.get(COMMIT_TAG),
                "release": tags.get(RELEASE_TAG), "stepDigests": None})
    for build in spec.builds:
        held = azure.versions.get(build.version)
        capture = Capture(build.version, captured=held is not None,
                          fingerprint=(held or {}).get(FINGERPRINT_TAG),
                          provenance=recorded(held or {}))
        found[build.version] = (CAPTURED if held is not None else NOT_BUILT,
                                version_provenance(spec, build, capture))
    clones: dict[str, list[CloneRef]] = {}
    for clone in spec.clones:
        runs = spec.resolve_version(clone.version)
        if runs is not None:
            clones.setdefault(runs, []).append(CloneRef(clone.name, clone.kind,
                                                           clone.count))
    parents = {v: parent_of(str(p.get("source") or "")) for v, (_, p) in found.items()}
    order = sorted(found, key=naming.version_key)
    return [Node(v, found[v][0], found[v][1], parents[v], tuple(clones.get(v, [])),
                 tuple(c for c in order if parents[c] == v))
            for v in order]


def parent_of(source: str) -> str | None:
    return source[len(_PARENT):] if source.startswith(_PARENT) else None


def built_on(nodes: list[Node], base: str) -> list[Node]:
    """The versions built on `base`, oldest first: those whose source, or an ancestor's,
    is `base` or starts with it at a `:` (Azure's names compare case-insensitively), and
    the version `base` names itself (`1.0.0` or `version:1.0.0`) with its descendants.
    `marketplace:Canonical:ubuntu-24_04-lts:server` matches every version of that SKU."""
    wanted = base.strip().casefold()
    by_version = {n.version: n for n in nodes}

    def matches(node: Node) -> bool:
        source = node.source.casefold()
        return (node.version.casefold() in (wanted, wanted.removeprefix(_PARENT))
                or source == wanted or source.startswith(wanted + ":"))

    def on_base(node: Node, seen: frozenset[str] = frozenset()) -> bool:
        if matches(node):
            return True
        parent = by_version.get(node.parent or "")
        return (parent is not None and parent.version not in seen
                and on_base(parent, seen | {node.version}))

    return [n for n in nodes if on_base(n)]


def clones_of(nodes: list[Node]) -> list[CloneRef]:
    """Every clone group that runs one of `nodes`, in their order."""
    return [clone for node in nodes for clone in node.clones]


def roots(nodes: list[Node]) -> list[Node]:
    known = {n.version for n in nodes}
    return [n for n in nodes if n.parent is None or n.parent not in known]


def tree_lines(nodes: list[Node]) -> list[tuple[int, str]]:
    """(indent, line) for each line of the tree: a child under its parent."""
    by_version = {n.version: n for n in nodes}
    lines: list[tuple[int, str]] = []
    seen: set[str] = set()

    def walk(node: Node, depth: int) -> None:
        if node.version in seen:  # tags that loop: each version once
            return
        seen.add(node.version)
        at = depth * 4
        lines.append((at, f"{node.version}  ({node.state})"))
        lines.append((at + 2, f"source: {node.source}"))
        commit, release = node.provenance.get("commit"), node.provenance.get("release")
        if commit or release:
            lines.append((at + 2, f"built by: commit {str(commit or 'unknown')[:12]}, "
                                  f"vmimage {release or 'unknown'}"))
        lines.append((at + 2, f"clones: {clone_list(node.clones)}"))
        for child in node.children:
            walk(by_version[child], depth + 1)

    for root in roots(nodes) + nodes:  # then any that recorded tags put in a loop
        walk(root, 0)
    return lines


def as_json(stack: str, nodes: list[Node], base: str | None = None) -> str:
    found: dict[str, Any] = {"stack": stack, "versions": [n.as_json() for n in nodes]}
    if base is not None:
        found = {"stack": stack, "base": base, "versions": found["versions"],
                 "clones": [c.as_json() for c in clones_of(nodes)]}
    return json.dumps(found, indent=2)
