"""The PR-comment plan (`--markdown FILE`): stable bytes, stages, changes, critical path,
warnings, and a Mermaid graph grouped by image version and stage that keeps every
dependency (but the resource group's, and the foundation's as one edge per group) and
folds clone groups. Values and summaries: tests/test_plan_values.py; the preview JSON
path and the Mermaid parser: tests/test_preview_plan.py."""

from __future__ import annotations

import difflib
import io
import json
import re
from pathlib import Path

import pytest
from conftest import load_pipeline, run_offline, stack_config
from rich.console import Console

from offline.cli import main
from offline.plan.render import render_markdown
from offline.report import duration
from vmimage.policy.rules import Violation

#: The stages a plan shows, in the order a pipeline runs them; written out here, not read
#: from the code under test (the seal's time is a row of the stage table, not a heading).
PIPELINE_ORDER = ["foundation", "build", "customize", "generalize", "capture", "clone"]

NODE = re.compile(r'^\s+(n\d+)\["(.*)"\]$', re.MULTILINE)
EDGE = re.compile(r"^\s+(n\d+) --> (n\d+)$", re.MULTILINE)
GROUP_EDGE = re.compile(r"^\s+(\w+) --> (\w+)$", re.MULTILINE)
RESOURCE_GROUP = "azure-native:resources:ResourceGroup"


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), console=Console(file=out, width=200, highlight=False))
    return code, out.getvalue()


def up(tmp_path, name: str, *argv: str) -> tuple[str, dict]:
    md, report = tmp_path / f"{name}.md", tmp_path / f"{name}.json"
    code, text = cli("up", *argv, "--quiet", "--markdown", str(md), "--report-json", str(report))
    assert code == 0, text
    return md.read_text(encoding="utf-8"), json.loads(report.read_text())


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    return up(tmp_path_factory.mktemp("md"), "dev", "--stack", "dev")


def mermaid(markdown: str) -> str:
    match = re.search(r"```mermaid\n(.*?)```", markdown, re.DOTALL)
    assert match, "no mermaid block"
    return match.group(1)


def node_ids(block: str) -> dict[str, str]:
    """Node label (unescaped) -> id."""
    def unescape(label: str) -> str:
        return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)
    return {unescape(label): node for node, label in NODE.findall(block)}


def node_of(resource: dict, labels: dict[str, str]) -> str:
    if "$vmimage:index:CloneSet$" in resource["urn"]:
        (node,) = [n for label, n in labels.items() if label.startswith("CloneSet ")]
        return node
    if not resource["azureName"]:  # a VM action: its type (one of each per version here)
        return labels[resource["type"].rsplit(":", 1)[-1]]
    wanted = resource["azureName"]
    (node,) = [n for label, n in labels.items() if label.endswith(f"<br/>{wanted}")]
    return node


def groups_of(block: str) -> dict[str, str]:
    """Node id -> the top-level subgraph it sits in."""
    found: dict[str, str] = {}
    stack: list[str] = []
    for line in block.splitlines():
        opened = re.match(r"\s*subgraph (\w+)\[", line)
        if opened:
            stack.append(opened.group(1))
        elif line.strip() == "end":
            stack.pop()
        elif (node := NODE.match(line)) and stack:
            found[node.group(1)] = stack[0]
    return found


def reachable(edges: set[tuple[str, str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for a, b in edges:
            if a == node and b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def test_two_runs_of_the_same_config_give_the_same_bytes(tmp_path, dev):
    again, _ = up(tmp_path, "again", "--stack", "dev")
    diff = "".join(difflib.unified_diff(dev[0].splitlines(True), again.splitlines(True)))
    assert again == dev[0], diff
    assert again.endswith("\n") and not again.endswith("\n\n")


def test_title_summary_and_stages(dev):
    markdown, report = dev
    assert markdown.startswith("# vmimage plan: `dev`\n")
    customs = [r for r in report["resources"] if r["state"] != "component"]
    assert f"**{len(customs)} resources**" in markdown
    assert f"estimated wall time on Azure **{duration(report['makespan_s'])}**" in markdown
    headings = re.findall(r"^### (\w+) · ", markdown, re.MULTILINE)
    # every stage with resources, in pipeline order (the seal is the Generalize step's:
    # its times are in the stage table, its resource under generalize)
    assert headings == PIPELINE_ORDER
    assert "| deprovision | " in markdown
    for r in customs:  # every resource listed in its stage, with its Azure name
        assert f"| `{r['name']}` | " in markdown
        if r["azureName"]:
            assert f"`{r['azureName']}`" in markdown


def test_critical_path_and_no_prior_state(dev):
    markdown, report = dev
    section = markdown.split("## Critical path", 1)[1].split("\n## ", 1)[0]
    items = re.findall(r"^\d+\. .*`([^`]+)`", section, re.MULTILINE)
    names = [urn.rsplit("::", 1)[-1] for urn in report["criticalPath"]]
    assert len(re.findall(r"^\d+\. ", section, re.MULTILINE)) == len(names)
    for name in names:
        assert f"`{name}`" in section
    assert items
    assert "No prior state" in markdown


def test_mermaid_groups_by_version_and_stage(dev):
    block = mermaid(dev[0])
    assert block.startswith("flowchart TB\n")
    top = re.findall(r'^  subgraph (\w+)\["([^"]*)"\]', block, re.MULTILINE)
    assert top == [("foundation", "foundation"), ("v1_0_0", "image 1.0.0 · new"),
                   ("clones", "clones")]
    stages = re.findall(r'^    subgraph v1_0_0_(\w+)\["', block, re.MULTILINE)
    assert stages == ["build", "customize", "generalize", "capture"]
    for action in ("create", "update", "replace", "delete", "same"):
        assert re.search(rf"^  classDef {action} fill:", block, re.MULTILINE)
    classes = re.findall(r"^  class ([\w,]+) (\w+)$", block, re.MULTILINE)
    assert classes == [(",".join(f"n{i}" for i in range(1, 15)), "create")]


def test_mermaid_keeps_every_dependency_but_the_resource_groups(dev):
    markdown, report = dev
    block = mermaid(markdown)
    labels = node_ids(block)
    assert len(set(labels.values())) == len(labels)  # ids unique
    group_of = groups_of(block)
    edges = set(EDGE.findall(block))
    group_edges = {e for e in GROUP_EDGE.findall(block) if not e[0].startswith("n")}
    by_urn = {r["urn"]: r for r in report["resources"]}
    (rg,) = [r for r in report["resources"] if r["type"] == RESOURCE_GROUP]
    assert not [e for e in edges if node_of(rg, labels) in e]  # no fan from the group
    checked = 0
    for r in report["resources"]:
        for dep_urn in r["dependsOn"]:
            dep = by_urn.get(dep_urn)
            if r["state"] == "component" or dep is None or dep["state"] == "component" \
                    or dep["type"] == RESOURCE_GROUP:
                continue
            a, b = node_of(dep, labels), node_of(r, labels)
            if a == b:
                continue
            if group_of[a] == "foundation" and group_of[b] != "foundation":
                assert ("foundation", group_of[b]) in group_edges, (dep_urn, r["urn"])
            else:  # an edge, or a path of them (the graph is transitively reduced)
                assert b in reachable(edges, a), (dep_urn, r["urn"])
            checked += 1
    assert checked >= 15
    assert group_edges == {("foundation", "v1_0_0"), ("foundation", "clones")}


def test_mermaid_has_no_redundant_edges(dev):
    edges = set(EDGE.findall(mermaid(dev[0])))
    for a, b in edges:
        assert b not in reachable(edges - {(a, b)}, a), (a, b)


def test_clone_groups_fold_into_one_node(tmp_path):
    markdown, _ = up(tmp_path, "five", "--stack", "dev", "--set", "clones[0].count=5")
    block = mermaid(markdown)
    labels = node_ids(block)
    assert [label for label in labels if "CloneSet" in label] == [
        "CloneSet web<br/>5 VMs · 1.0.0"]
    assert "web-1-0-0-00" not in block  # no clone VM or NIC node of its own
    assert len(labels) == 14  # as many nodes as with 3 clones


def test_changes_table_from_a_state_file(tmp_path):
    state = tmp_path / "state.json"
    cli("up", "--stack", "dev", "--quiet", "--state", str(state))
    markdown, _ = up(tmp_path, "second", "--stack", "dev", "--state", str(state),
                     "--set", "clones[0].count=4")
    section = markdown.split("## Changes", 1)[1].split("\n## ", 1)[0]
    assert "2 to create" in section and "unchanged" in section
    assert "| `+` | create | `compute:VirtualMachine` | `vmimage-clones-web-3` " \
           "| Azure name `web-1-0-0-003` · size `Standard_B2s` · image " \
           "`…/images/web-ubuntu/versions/1.0.0` · version `1.0.0` · role `clone` |" in section
    assert "`vmimage-clones-web-0`" not in section  # unchanged rows are counted, not listed


def test_changes_rendered_from_a_list():
    run = run_offline(stack_config("dev"))
    changes = [
        {"urn": "urn:pulumi:dev::vmimage::a$azure-native:compute:VirtualMachine::vm-1",
         "action": "replace", "properties": ["storageProfile.imageReference.id"]},
        {"urn": "urn:pulumi:dev::vmimage::a$azure-native:network:Subnet::sub",
         "action": "same", "properties": []},
    ]
    markdown = render_markdown(run, changes=changes)
    assert "1 to replace, 1 unchanged" in markdown
    assert "| `+-` | replace | `compute:VirtualMachine` | `vm-1` " \
           "| **replaced**: `storageProfile.imageReference.id` cannot change in place |" \
           in markdown
    assert "`sub`" not in markdown.split("## Changes", 1)[1].split("\n## ", 1)[0]


def test_warnings_and_policy_findings():
    pipeline = load_pipeline("win")
    run = run_offline(stack_config("win", pipeline))
    violation = Violation("no-public-ip-on-clones", "mandatory", "urn:x::y::nic|0", "a | b")
    markdown = render_markdown(
        run, warnings=["builds[0].dataDisks[0].caching: ReadWrite loses writes"],
        violations=[violation],
    )
    section = markdown.split("## Warnings", 1)[1].split("\n## ", 1)[0]
    assert "- builds[0].dataDisks[0].caching: ReadWrite loses writes" in section
    assert "| `no-public-ip-on-clones` | **mandatory** | `nic\\|0` | a \\| b |" in section
    assert "# vmimage plan: `win`" in markdown
    assert "policy: 1 mandatory, 0 advisory" in markdown


def test_duration_format():
    assert duration(0) == "0m00s"
    assert duration(454) == "7m34s"
    assert duration(3720) == "1h02m"
    assert duration(3600 * 25 + 60) == "25h01m"


def test_a_change_known_only_by_its_paths_still_reads():
    """A change list without values (an older report's) shows the changed paths."""
    run = run_offline(stack_config("dev"))
    urn = "urn:pulumi:dev::vmimage::a$azure-native:network:NetworkSecurityGroup::nsg"
    markdown = render_markdown(run, changes=[
        {"urn": urn, "action": "update", "properties": ["securityRules[0].priority",
                                                        "tags.vmimage-role"]}])
    assert "| `~` | update | `network:NetworkSecurityGroup` | `nsg` " \
           '| `securityRules[0].priority`, `tags["vmimage-role"]` |' in markdown


def test_same_bytes_across_processes_with_different_hash_seeds(tmp_path):
    """Set and dict orders change with PYTHONHASHSEED; the plan must not."""
    import os
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "4242"):
        target = tmp_path / f"plan-{seed}.md"
        done = subprocess.run(
            [sys.executable, "-m", "offline", "up", "--stack", "dev", "--quiet",
             "--set", "clones[0].count=5", "--markdown", str(target)],
            cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True,
            env={**os.environ, "PYTHONHASHSEED": seed}, check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
