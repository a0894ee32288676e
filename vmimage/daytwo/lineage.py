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
                "clones": [{"name": c.name, "kind": c.kind, "count": c.count}
                           for c in self.clones],
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
        runs = ", ".join(f"{c.name} ({c.kind} x{c.count})" for c in node.clones)
        lines.append((at + 2, f"clones: {runs or 'none'}"))
        for child in node.children:
            walk(by_version[child], depth + 1)

    for root in roots(nodes) + nodes:  # then any that recorded tags put in a loop
        walk(root, 0)
    return lines


def as_json(stack: str, nodes: list[Node]) -> str:
    return json.dumps({"stack": stack, "versions": [n.as_json() for n in nodes]}, indent=2)
