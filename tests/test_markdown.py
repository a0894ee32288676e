"""The PR-comment plan (`--markdown FILE`): stable bytes, stages, changes, critical path,
warnings, and a Mermaid graph that holds every cross-stage edge and folds clone groups."""

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
from offline.markdown import _escape_label, render_markdown
from offline.report import duration
from vmimage.policy.rules import Violation

#: The stages a plan shows, in the order a pipeline runs them; written out here, not read
#: from the code under test (the seal's time is a row of the stage table, not a heading).
PIPELINE_ORDER = ["foundation", "build", "customize", "generalize", "capture", "clone"]

NODE = re.compile(r'^\s+(n\d+)\["(.*)"\]$', re.MULTILINE)
EDGE = re.compile(r"^\s+(n\d+) --> (n\d+)$", re.MULTILINE)


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
    if "$vmimage:index:CloneSet$" in resource["urn"] or resource["parent"] and \
            resource["parent"].split("::")[2].endswith(":CloneSet"):
        (node,) = [n for label, n in labels.items() if label.startswith("CloneSet<br/>")]
        return node
    wanted = resource["azureName"] or resource["name"]
    (node,) = [n for label, n in labels.items() if label.endswith(f"<br/>{wanted}")]
    return node


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


def test_mermaid_holds_every_cross_stage_edge(dev):
    markdown, report = dev
    block = mermaid(markdown)
    assert block.startswith("flowchart LR\n")
    subgraphs = re.findall(r'^\s*subgraph s_(\w+)\["', block, re.MULTILINE)
    assert subgraphs == PIPELINE_ORDER
    labels = node_ids(block)
    edges = set(EDGE.findall(block))
    by_urn = {r["urn"]: r for r in report["resources"]}
    checked = 0
    for r in report["resources"]:
        for dep_urn in r["dependsOn"]:
            dep = by_urn.get(dep_urn)
            if r["state"] == "component" or dep is None or dep["state"] == "component":
                continue
            if dep["stage"] != r["stage"]:
                assert (node_of(dep, labels), node_of(r, labels)) in edges, (dep_urn, r["urn"])
                checked += 1
    assert checked >= 10
    assert len(set(labels.values())) == len(labels)  # ids unique


def test_clone_groups_fold_into_one_node(tmp_path):
    markdown, _ = up(tmp_path, "five", "--stack", "dev", "--set", "clones[0].count=5")
    block = mermaid(markdown)
    labels = node_ids(block)
    assert [label for label in labels if "CloneSet" in label] == ["CloneSet<br/>web × 5 VMs"]
    assert "web-1-0-0-00" not in block  # no clone VM or NIC node of its own
    assert len(labels) == 14  # as many nodes as with 3 clones


def test_changes_table_from_a_state_file(tmp_path):
    state = tmp_path / "state.json"
    cli("up", "--stack", "dev", "--quiet", "--state", str(state))
    markdown, _ = up(tmp_path, "second", "--stack", "dev", "--state", str(state),
                     "--set", "clones[0].count=4")
    section = markdown.split("## Changes", 1)[1].split("\n## ", 1)[0]
    assert "2 to create" in section and "unchanged" in section
    assert "| `+` | create | `compute:VirtualMachine` | `vmimage-clones-web-3` |" in section
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
           "| `storageProfile.imageReference.id` |" in markdown
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


def test_labels_are_escaped():
    label = _escape_label('CloneSet<br/>a "b" [c] <d> #e')
    assert '"' not in label and "[" not in label and "<d>" not in label
    assert label.startswith("CloneSet<br/>a ")


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
