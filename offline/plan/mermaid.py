"""The plan's Mermaid diagram: resources grouped by image version and stage (a clone
group as one node), coloured by change, with the dependencies that no longer path
stands for left out."""

from __future__ import annotations

from dataclasses import dataclass

from offline.escape.mermaid import ident, label, unique
from offline.plan.model import PlanItem, PlanView, azure_name
from offline.plan.summaries import clone_count, image_versions
from offline.plan.values import old_new
from offline.report import STAGES
from vmimage.vocabulary import (
    GROUP_TAG,
    RESOURCE_GROUP,
    ROLE_TAG,
    SCALE_SET,
    VERSION_TAG,
    VIRTUAL_MACHINE,
)

#: Stages of one image version, in the order they run.
VERSION_STAGES = ("build", "customize", "deprovision", "generalize", "capture")
CLASS_STYLES = {
    "create": "fill:#dafbe1,stroke:#1a7f37,color:#0d1117",
    "update": "fill:#fff8c5,stroke:#9a6700,color:#0d1117",
    "replace": "fill:#ffe2cc,stroke:#bc4c00,color:#0d1117",
    "delete": "fill:#ffebe9,stroke:#cf222e,color:#0d1117,stroke-dasharray:4 3",
    "same": "fill:#f6f8fa,stroke:#8c959f,color:#57606a",
}
FOUNDATION, CLONES = "foundation", "clones"
LEGEND = ("Green: create · yellow: update · orange: replace · red, dashed: delete · grey: "
          "unchanged. Resources of one clone group are one node. Edges from the resource "
          "group are left out, and one arrow from *foundation* stands for every dependency "
          "on the network and the gallery.")


@dataclass
class _Node:
    id: str
    group: str  # the top-level subgraph: foundation, an image version, clones
    stage: str
    label: str
    action: str


def diagram(view: PlanView) -> list[str]:
    nodes, key_of = _nodes(view)
    node_edges, group_edges = _edges(view, nodes, key_of)
    out = ["## Dependency graph", "", "```mermaid", "flowchart TB"]
    out += [f"  classDef {action} {style}" for action, style in CLASS_STYLES.items()]
    out += _subgraphs(view, list(nodes.values()))
    out += [f"  {a} --> {b}" for a, b in sorted(group_edges)]
    out += [f"  n{a} --> n{b}" for a, b in sorted(node_edges)]
    for action in CLASS_STYLES:
        ids = [n.id for n in nodes.values() if n.action == action]
        if ids:
            out.append(f"  class {','.join(ids)} {action}")
    return [*out, "```", "", LEGEND, ""]


def _node_key(item: PlanItem) -> str:
    """Resources of one clone group share a node; everything else is its own."""
    group = item.tag(GROUP_TAG)
    return f"{CLONES}:{group}" if group and item.tag(ROLE_TAG) == "clone" else item.urn


def _place(view: PlanView, item: PlanItem, ids: dict[str, str]) -> tuple[str, str]:
    """(top-level subgraph, stage) of a resource; `ids`: each image version's subgraph."""
    stage = view.stage(item)
    if stage == "clone" or item.tag(ROLE_TAG) == "clone":
        return CLONES, "clone"
    version = view.version(item)
    if version is not None and stage in VERSION_STAGES:
        return ids.get(version) or version_id(version), stage
    return FOUNDATION, "foundation"


def version_id(version: str) -> str:
    """The subgraph id of an image version (`v1_2_0`); versions that map onto one id are
    told apart by `_version_ids`."""
    return ident("v", version)


def _version_ids(view: PlanView) -> dict[str, str]:
    """Image version -> its subgraph id, one id each (`1.0.0` and `1_0_0` would both be
    `v1_0_0` otherwise)."""
    versions = [v.version for v in image_versions(view)]
    return dict(zip(versions, unique(version_id(v) for v in versions), strict=True))


def _nodes(view: PlanView) -> tuple[dict[str, _Node], dict[str, str]]:
    members: dict[str, list[PlanItem]] = {}
    for item in view.customs:
        members.setdefault(_node_key(item), []).append(item)
    ids = _version_ids(view)
    placed = {key: _place(view, items[0], ids) for key, items in members.items()}
    rank_of = {group: i for i, group in enumerate(ids.values())}

    def order(key: str) -> tuple[int, int, int, str]:
        group, stage = placed[key]
        rank = 0 if group == FOUNDATION else 2 if group == CLONES else 1
        stage_rank = STAGES.index(stage) if stage in STAGES else len(STAGES)
        return rank, rank_of.get(group, 0), stage_rank, key

    nodes: dict[str, _Node] = {}
    for key in sorted(members, key=order):
        group, stage = placed[key]
        nodes[key] = _Node(f"n{len(nodes) + 1}", group, stage, _label(key, members[key]),
                           _node_action(members[key]))
    key_of = {item.urn: _node_key(item) for item in view.customs}
    return nodes, key_of


def _edges(view: PlanView, nodes: dict[str, _Node],
           key_of: dict[str, str]) -> tuple[set[tuple[int, int]], set[tuple[str, str]]]:
    """Dependencies between nodes, less those on the resource group; every dependency of
    an image version or a clone group on the foundation is one edge from the foundation."""
    edges: set[tuple[int, int]] = set()
    groups: set[tuple[str, str]] = set()
    for item in view.customs:
        if item.action == "delete":
            continue  # what is going away waits for nothing
        for dep in view.deps(item):
            if dep.type == RESOURCE_GROUP:
                continue
            a, b = nodes[key_of[dep.urn]], nodes[key_of[item.urn]]
            if a is b:
                continue
            if a.group == FOUNDATION and b.group != FOUNDATION:
                groups.add((FOUNDATION, b.group))
            else:
                edges.add((int(a.id[1:]), int(b.id[1:])))
    return transitive_reduction(edges), groups


def transitive_reduction(edges: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """The edges no longer path stands for: a -> c goes when a -> b -> ... -> c exists."""
    after: dict[int, set[int]] = {}
    for a, b in edges:
        after.setdefault(a, set()).add(b)

    def reachable(start: int, skip: tuple[int, int]) -> set[int]:
        seen: set[int] = set()
        todo = [b for b in after.get(start, ()) if (start, b) != skip]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo += after.get(node, ())
        return seen

    return {(a, b) for a, b in edges if b not in reachable(a, (a, b))}


def _subgraphs(view: PlanView, nodes: list[_Node]) -> list[str]:
    ids = _version_ids(view)
    titles = {ids[v.version]: label(f"image {v.version} · {v.status}")
              for v in image_versions(view)}
    out: list[str] = []
    for group in dict.fromkeys(n.group for n in nodes):
        members = [n for n in nodes if n.group == group]
        out.append(f'  subgraph {group}["{titles.get(group) or label(group)}"]')
        if group == FOUNDATION:
            out.append("    direction LR")
        if group in titles:
            for stage in dict.fromkeys(n.stage for n in members):
                out.append(f'    subgraph {group}_{stage}["{stage}"]')
                out += [f'      {n.id}["{n.label}"]' for n in members if n.stage == stage]
                out.append("    end")
        else:
            out += [f'    {n.id}["{n.label}"]' for n in members]
        out.append("  end")
    return out


def _node_action(items: list[PlanItem]) -> str:
    actions = {i.action for i in items}
    if len(actions) == 1:
        return actions.pop()
    if actions <= {"same", "update"}:
        return "update"
    return "replace"  # a group that gains, loses or swaps members


def _label(key: str, items: list[PlanItem]) -> str:
    if not key.startswith(f"{CLONES}:"):
        item = items[0]
        name = azure_name(item)  # none: a VM action, told apart by where it sits
        return label(_type_name(item.type), name) if name else label(_type_name(item.type))
    vms = [i for i in items if i.type in (VIRTUAL_MACHINE, SCALE_SET)]
    group = key.split(":", 1)[1]
    scale_set = any(i.type == SCALE_SET for i in vms)
    count = clone_count(vms, scale_set, markdown=False)
    version = old_new(vms, (("tags", VERSION_TAG),), show=str, strong=False)
    if scale_set:
        return label(f"ScaleSet {group}", f"{count} instances · {version}")
    return label(f"CloneSet {group}", f"{count} VMs · {version}")


def _type_name(type_: str) -> str:
    """'azure-native:compute:VirtualMachine' -> 'VirtualMachine', shorter where long."""
    name = type_.rsplit(":", 1)[-1]
    return {"VirtualMachineRunCommandByVirtualMachine": "RunCommand",
            "VirtualMachineScaleSet": "ScaleSet"}.get(name, name)
