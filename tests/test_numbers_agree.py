"""Every number the offline runner prints agrees with the resources it describes, on
every example stack, on a first run, a version bump and a retirement:

- the summary line's total is the sum of its per-action counts, and equals the resources
  of the run (those still registered, plus those it deleted);
- the stage table's resources add up to the registered custom resources;
- every deleted resource is in the tree, marked deleted;
- the Markdown plan's heading counts add up to its total, and each stage's heading gives
  its rows' count, first start and last end.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import STACK_TENANTS, STACKS
from rich.console import Console

from offline.cli import main

SUMMARY = re.compile(r"^stack \S+: (\d+) resources (?:created|\(([^)]*)\)) in simulated Azure",
                     re.M)


def _stack_file(tmp: Path, name: str, config: dict[str, Any]) -> Path:
    path = tmp / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False), encoding="utf-8")
    return path


def _bumped(config: dict[str, Any]) -> dict[str, Any]:
    """A new patch version built on the newest one, and every pinned clone group on it."""
    pipeline = config["vmimage:pipeline"]
    last = pipeline["builds"][-1]
    major, minor, _ = (int(p) for p in str(last["version"]).split("."))
    new = f"{major}.{minor + 1}.0"
    size = next(b["size"] for b in reversed(pipeline["builds"]) if "size" in b)
    pipeline["builds"].append({"version": new, "from": {"version": str(last["version"])},
                               "size": size})
    for clone in pipeline.get("clones", []):
        if clone.get("version", "latest") != "latest":
            clone["version"] = new
    return config


def _retired(config: dict[str, Any]) -> dict[str, Any]:
    """The build the bump started from is retired (its build VM goes)."""
    config["vmimage:pipeline"]["builds"][-2]["retired"] = True
    return config


def _run(stack_file: Path, tmp: Path, tag: str, extra: list[str]) -> tuple[str, dict, str]:
    report, plan = tmp / f"{tag}.json", tmp / f"{tag}.md"
    out = io.StringIO()
    code = main(["up", "--stack-file", str(stack_file), "--state", str(tmp / "state.json"),
                 "--report-json", str(report), "--markdown", str(plan), "--no-progress",
                 *extra], console=Console(file=out, width=250, highlight=False))
    text = out.getvalue()
    assert code == 0, text
    return text, json.loads(report.read_text()), plan.read_text()


def _check_terminal(text: str, report: dict) -> None:
    match = SUMMARY.search(text)
    assert match, text[-2000:]
    total = int(match[1])
    counts = dict((action, int(n)) for n, action in
                  (part.split() for part in (match[2] or f"{total} create").split(", ")))
    assert sum(counts.values()) == total, match[0]
    customs = [r for r in report["resources"] if r["state"] != "component"]
    assert total == len(customs) + counts.get("delete", 0), match[0]
    stages = text[text.index("Stages (simulated time)"):text.index("VM states")]
    stage_counts = [int(n) for n in re.findall(r"│\s*(\d+|—)\s*│\s*$", stages, re.M)
                    if n != "—"]
    assert sum(stage_counts) == len(customs), stages
    deleted_in_tree = len(re.findall(r"  deleted$", text, re.M))
    assert deleted_in_tree == counts.get("delete", 0)


def _check_plan(plan: str) -> None:
    heading = re.search(r"^\*\*(\d+) resources\*\* \(([^)]*)\)", plan, re.M)
    assert heading, plan[:500]
    assert sum(int(part.split()[0]) for part in heading[2].split(" · ")) == int(heading[1])
    # Each stage: a `### heading` or a folded `<summary>`, then its table.
    stage_sections = re.findall(r"(?:### |<summary>)(\w+) · (\S+) → (\S+) · (\d+)(?:</summary>)?"
                                r"\n\n(.*?)\n\n", plan, re.S)
    assert stage_sections, "no stage sections in the plan"
    for _stage, start, end, count, table in stage_sections:
        rows = [line for line in table.splitlines() if line.startswith("| `")]
        assert len(rows) == int(count)
        times = [re.findall(r"\| (\S+) \| (\S+) \|$", row)[0] for row in rows]
        assert start == min(times, key=_seconds)[0] and end == max(
            (t[1] for t in times), key=_seconds)


def _seconds(value: Any) -> int:
    text = value[0] if isinstance(value, tuple) else value
    hours = re.search(r"(\d+)h", text)
    minutes, seconds = re.search(r"(\d+)m(\d+)s", text).groups()
    return (int(hours[1]) if hours else 0) * 3600 + int(minutes) * 60 + int(seconds)


@pytest.mark.parametrize("stack", sorted(p.name.split(".")[1] for p in
                                         STACKS.glob("Pulumi.*.yaml")))
def test_numbers_agree_on_first_run_bump_and_retire(stack, tmp_path):
    config = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())["config"]
    extra = STACK_TENANTS.get(stack, [])
    for tag, change in (("first", lambda c: c), ("bump", _bumped), ("retire", _retired)):
        config = change(config)
        text, report, plan = _run(_stack_file(tmp_path, stack, config), tmp_path, tag, extra)
        _check_terminal(text, report)
        _check_plan(plan)
    assert "deleted" in text  # the retirement deleted the build VM and its parts
