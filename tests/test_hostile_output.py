"""Every user-controlled string, through every renderer, stays data (issue #22, class
"Markdown/HTML injection").

Hostile strings (backtick runs, pipes, line breaks, raw HTML, links, mentions, issue
references, ESC sequences, bidi overrides, rich markup, Mermaid breakers) are put into
every field a user or a preview controls: tag keys and values, descriptions, step text
quoted by warnings, resource and Azure names, versions, clone group names, regions,
publishers, run command names, diagnostics, policy findings, failures, the stack name.
They reach the Markdown plan of an offline run (a real run of the program with a hostile
but valid stack file), the Markdown plan of a crafted `pulumi preview --json`, the
Mermaid diagram of both (parsed by the real Mermaid, tools/mermaid), and the terminal
(tree, tables, change list, problem lines, policy table).

What must hold: the Markdown, read by a CommonMark + GFM-table parser, has no HTML but the
renderer's own `<br/>` and `<details>`, no link or image, no live mention or issue
reference, no bare URL outside code, every table row as many cells as its header, and
no control, bidi or invisible character anywhere; every hostile value still shows whole
in a code span where it is a value; the Mermaid block holds only the statements the
renderer writes and parses; the terminal shows markup literally and carries no control.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, gfm, load_stack_dict, run_offline, stack_config
from rich.console import Console

from offline import cli
from offline.engine import Failure
from offline.escape.controls import hidden
from offline.plan.render import render_markdown
from offline.plan.values import DIFF_LINES
from offline.preview_plan import read_preview, render_preview
from vmimage.policy.rules import Violation

HOSTILE = [
    "a`b``c```d",
    "``",
    "x | y || z",
    "two\nlines\r\nthree",
    "<img src=x onerror=alert(1)>",
    "<details><summary>open</summary>",
    "</details></table><script>alert(1)</script>",
    "[link](javascript:alert(1)) ![i](https://evil.example/p.png)",
    "@octocat and @github/security",
    "#1 and owner/repo#2",
    "https://evil.example/login www.evil.example",
    "\x1b[31mred\x1b[0m\x1b]0;title\x07",
    "\u202eexe.txt\u2066x\u2069 \u200b",
    '"]; click n1 call alert(1); n2["',
    "%%{init: {'theme':'forest'}}%%",
    "[bold]loud[/] [/] :smile:",
    "**bold** _em_ ~~gone~~ $x^2$ &amp; \\| \\",
    "# heading",
]
#: What a stack file may hold: tag values refuse control and invisible characters
#: (vmimage/config/values.py), so those reach the renderers through the preview JSON,
#: the run's own records and the config's problem lines instead.
CONFIG_HOSTILE = [v for v in HOSTILE if not any(hidden(c) for c in v)]
OWN_HTML = re.compile(r"(<details><summary>[\w ·→]+</summary>|</details>)\s*")
CONTROL_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs")
PARSER = gfm()
PREVIEW = ROOT / "tests" / "fixtures" / "preview" / "version-bump.json"


def markdown_problems(markdown: str) -> list[str]:
    """What in the plan outside its diagram is not data shown as data."""
    found = [f"hidden character U+{ord(c):04X}" for c in markdown
             if c != "\n" and unicodedata.category(c) in CONTROL_CATEGORIES]
    body = markdown.split("```mermaid", 1)[0]
    tokens = PARSER.parse(body)
    for token in tokens:
        if token.type == "html_block" and not OWN_HTML.fullmatch(token.content):
            found.append(f"HTML block: {token.content!r}")
        for child in token.children or []:
            if child.type == "html_inline" and child.content != "<br/>":
                found.append(f"inline HTML: {child.content!r}")
            if child.type in ("link_open", "image"):
                found.append(f"link: {child}")
            if child.type == "text" and re.search(r"(?<![\w.])@[A-Za-z0-9]|#\d", child.content):
                found.append(f"live mention or reference: {child.content!r}")
            if child.type == "text" and re.search(r"https?://|www\.", child.content):
                found.append(f"bare URL: {child.content!r}")
    found += _table_problems(body)
    return found


def _table_problems(body: str) -> list[str]:
    """Every row of a table has as many cells as its header (GFM splits at each pipe not
    escaped by a backslash)."""
    found, width = [], None
    for line in body.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line.replace("\\\\", ""))) - 1
        if width is None:
            width = cells
        elif cells != width:
            found.append(f"table row with {cells} cells, header {width}: {line}")
    return found


def cells(markdown: str) -> list[str]:
    """The text of each table cell, as a reader sees it."""
    tokens = PARSER.parse(markdown)
    return ["".join(c.content for c in tokens[i + 1].children or [])
            for i, t in enumerate(tokens) if t.type == "td_open"]


#: The statements the renderer writes in its diagram, and nothing else.
MERMAID_LINE = re.compile(
    r"flowchart TB|  classDef \w+ [\w:#,.\- ]+|    direction LR|\s*end"
    r'|\s*subgraph \w+\["[^"\n]*"\]|\s*n\d+\["[^"\n]*"\]|  \w+ --> \w+|  class [\w,]+ \w+')


def mermaid_problems(markdown: str) -> list[str]:
    block = markdown.split("```mermaid\n", 1)[1].split("```", 1)[0]
    return [f"not the renderer's statement: {line!r}" for line in block.splitlines()
            if not MERMAID_LINE.fullmatch(line)] + (["directive"] if "%%" in block else [])


# -- the offline plan: a real run of a hostile but valid stack --------------------------------


def hostile_stack(tags: dict[str, str]) -> dict[str, Any]:
    config = load_stack_dict("dev")
    pipeline = config["vmimage:pipeline"]
    pipeline["tags"] = tags
    pipeline["gallery"]["image"]["description"] = " ".join(HOSTILE)[:200]
    pipeline["network"]["egress"] = "none"  # the warning quotes the step's command
    pipeline["builds"][0]["customize"].append(
        {"inline": "curl -fsS 'https://evil.example/`x`|<img src=x>@octocat#1\u202e'\n"})
    return {"config": config}


@pytest.fixture(scope="module")
def offline_plans(tmp_path_factory) -> list[str]:
    """The plans of runs that turn the tags hostile, a few at a time (a plan shows the
    first DIFF_LINES changes of a resource), each against the state of the one before."""
    folder = tmp_path_factory.mktemp("hostile")
    state, stack = folder / "state.json", folder / "Pulumi.h.yaml"
    tags = {f"k{i:02}": "plain" for i in range(len(CONFIG_HOSTILE))}
    batches = [list(tags)[i:i + DIFF_LINES - 1] for i in range(0, len(tags), DIFF_LINES - 1)]
    plans = []
    for n, batch in enumerate([[], *batches]):
        tags.update({key: CONFIG_HOSTILE[int(key[1:])] for key in batch})
        if n == len(batches):
            tags["key `|` @octocat [x](y) #1"] = "v"
        stack.write_text(yaml.safe_dump(hostile_stack(tags)), encoding="utf-8")
        plan = folder / f"plan{n}.md"
        out = io.StringIO()
        code = cli.main(["up", "--stack-file", str(stack), "--quiet", "--state", str(state),
                         "--markdown", str(plan)], console=Console(file=out, width=200))
        assert code == 0, out.getvalue()
        plans.append(plan.read_text(encoding="utf-8"))
    return plans


def test_the_offline_plan_shows_hostile_config_as_data(offline_plans: list[str]) -> None:
    for plan in offline_plans:
        assert markdown_problems(plan) == []
        assert mermaid_problems(plan) == []
    shown = "\n".join(cell for plan in offline_plans for cell in cells(plan))
    for value in CONFIG_HOSTILE:  # each tag value whole in a cell of the changes
        assert f"→ {value}" in shown, value
    assert "````a`b``c```d````" in offline_plans[1]
    assert 'tags["key `|` @octocat [x](y) #1"]: — → v' in "\n".join(cells(offline_plans[-1]))
    warnings = offline_plans[0].split("## Warnings", 1)[1].split("##", 1)[0]
    assert "network.egress is none" in warnings


def test_the_offline_plan_shows_hostile_findings_failures_and_names_as_data() -> None:
    run = run_offline(stack_config("dev"))
    first = run.registrations[-1]
    registrations = [dataclasses.replace(r, name=f"{HOSTILE[i % len(HOSTILE)]}-{i}",
                                         azure_name=HOSTILE[(i + 3) % len(HOSTILE)])
                     if r.custom else r for i, r in enumerate(run.registrations)]
    failures = [Failure(first.urn, first.type, value, value, value) for value in HOSTILE]
    run = dataclasses.replace(run, registrations=registrations, failures=failures)
    markdown = render_markdown(
        run, stack=HOSTILE[0], warnings=HOSTILE,
        violations=[Violation(value, "mandatory", f"urn:a::{value}", value) for value in HOSTILE])
    assert markdown_problems(markdown) == []
    assert mermaid_problems(markdown) == []


# -- the plan from a crafted `pulumi preview --json` -----------------------------------------


def hostile_preview(value: str, index: int) -> dict[str, Any]:
    """The version bump's preview with `value` in every string a user or Azure controls."""
    document = json.loads(PREVIEW.read_text(encoding="utf-8"))
    text = json.dumps(document)
    for plain in ("1.1.0", "web"):  # the new version and the clone group, wherever whole
        text = text.replace(json.dumps(plain), json.dumps(f"{plain}{value}"))
    for name in ("vmimage-network-nsg", "vmimage-clones-web-0"):  # logical names in URNs
        text = text.replace(f"::{name}\"", f"::{name}{json.dumps(value)[1:-1]}\"")
    document = json.loads(text)
    for n, step in enumerate(document["steps"]):
        for state in ("oldState", "newState"):
            inputs = (step.get(state) or {}).get("inputs")
            if not isinstance(inputs, dict):
                continue
            if isinstance(inputs.get("tags"), dict):
                inputs["tags"][f"t{value}"] = f"{state} {value}"
            for key in ("vmName", "networkSecurityGroupName", "runCommandName", "location"):
                if key in inputs:
                    inputs[key] = f"{inputs[key]}-{n}{value}"
            reference = (inputs.get("storageProfile") or {}).get("imageReference") or {}
            if "publisher" in reference:
                reference["publisher"] = value
            for region in (inputs.get("publishingProfile") or {}).get("targetRegions") or []:
                region["name"] = value
        if step["op"] == "update":
            step["detailedDiff"] = {**(step.get("detailedDiff") or {}),
                                    f"tags.t{value}": {"kind": "update"},
                                    f"tags[\"{value}\"]": {"kind": "add"}}
    document["diagnostics"] = [
        {"urn": document["steps"][-1]["urn"] + value, "message": value, "severity": severity}
        for severity in ("warning", "error")]
    return document


@pytest.fixture(scope="module")
def preview_plans() -> list[str]:
    return [render_preview(read_preview(json.dumps(hostile_preview(value, i))),
                           stack=value if i % 2 else None)
            for i, value in enumerate(HOSTILE)]


@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_a_hostile_preview_renders_as_data(preview_plans: list[str], index: int) -> None:
    markdown = preview_plans[index]
    assert markdown_problems(markdown) == []
    assert mermaid_problems(markdown) == []
    assert "## Warnings" in markdown and "## Failed" in markdown


def test_every_hostile_diagram_parses(tmp_path: Path, mermaid_check, offline_plans: list[str],
                                      preview_plans: list[str]) -> None:
    files = []
    for i, markdown in enumerate([*offline_plans, *preview_plans]):
        files.append(tmp_path / f"plan{i}.md")
        files[-1].write_text(markdown, encoding="utf-8")
    done = mermaid_check(*files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": ok") == len(files)


def test_the_checks_catch_what_they_look_for() -> None:
    """Each check fails on the injection it is for (so a pass means something)."""
    for broken in ("<img src=x>", "[a](b)", "@octocat", "see #12", "https://x.example",
                   "| a |\n|---|\n| b | c |", "\x1b[31m", "<details>x</details>"):
        assert markdown_problems(broken), broken
    assert mermaid_problems("```mermaid\nflowchart TB\n  n1[\"a\"]; click n1 x\n```")
    assert mermaid_problems("```mermaid\nflowchart TB\n  n1[\"%%{init: {}}%%\"]\n```")


# -- the terminal -----------------------------------------------------------------------------


def terminal_problems(output: str) -> list[str]:
    return [f"hidden character U+{ord(c):04X}" for c in output
            if c != "\n" and unicodedata.category(c) in CONTROL_CATEGORIES]


def test_the_terminal_shows_hostile_names_and_messages_literally() -> None:
    run = run_offline(stack_config("dev"))
    registrations = [dataclasses.replace(r, name=f"{HOSTILE[i % len(HOSTILE)]}",
                                         azure_name=HOSTILE[(i + 5) % len(HOSTILE)])
                     for i, r in enumerate(run.registrations)]
    run = dataclasses.replace(run, registrations=registrations)
    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False)
    cli.print_tree(console, run)
    cli.print_states(console, run)
    cli.print_policy(console, [Violation(v, "advisory", f"urn::{v}", v) for v in HOSTILE])
    failed = dataclasses.replace(run, failures=[Failure(f"urn::{v}", v, v, v, v)
                                                for v in HOSTILE])
    cli.print_run(console, stack_config("dev"), failed)
    output = out.getvalue()
    assert terminal_problems(output) == []
    assert "[bold]loud[/] [/] :smile:" in output  # markup and emoji codes, literally
    assert "\\x1b[31mred" in output and "\\u202eexe.txt" in output


def test_hostile_config_problems_print_on_one_line_each(tmp_path: Path) -> None:
    config = load_stack_dict("dev")
    config["vmimage:pipeline"]["clones"][0]["name"] = "\x1b[2Jweb\n[bold]x[/]\u202e"
    config["vmimage:pipeline"]["resourceGroup"] = "rg\rmalicious\x1b]0;t\x07"
    stack = tmp_path / "Pulumi.h.yaml"
    stack.write_text(yaml.safe_dump({"config": copy.deepcopy(config)}), encoding="utf-8")
    out = io.StringIO()
    code = cli.main(["up", "--stack-file", str(stack)],
                    console=Console(file=out, width=200, highlight=False))
    output = out.getvalue()
    assert code == cli.EXIT_INVALID, output
    assert terminal_problems(output) == [], output
    assert "\\x1b[2Jweb" in output or "\\\\x1b[2Jweb" in output, output
