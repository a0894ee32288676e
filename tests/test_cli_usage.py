"""The offline CLI meets a newcomer's mistakes: a misspelt flag or key is named with the
one meant, faults that cannot fire on the stack say so, a crash without --state does not
advise re-running "with the same --state", and a problem line is one line at 80 columns."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from conftest import load_pipeline
from rich.console import Console

from offline.cli import main
from offline.fault_notes import crash_advice, inapplicable
from offline.faults import FaultPlan
from offline.fit import middle, shorten_ids
from vmimage.config.validate import load_spec
from vmimage.suggest import closest, did_you_mean


def cli(*argv: str, width: int = 80) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), console=Console(file=out, width=width, highlight=False))
    return code, out.getvalue()


@pytest.mark.parametrize(("argv", "line"), [
    (["up", "--stakc", "dev"], "error: unknown flag --stakc; did you mean '--stack'?"),
    (["up", "--stack", "dev", "--report-jsn", "x.json"],
     "error: unknown flag --report-jsn; did you mean '--report-json'?"),
    (["up", "--stack", "dev", "--latency", "captur=60"],
     "error: --latency: unknown key 'captur'; did you mean 'galleryImageVersion.capture'?"),
])
def test_a_misspelt_flag_or_key_is_named_with_the_one_meant(argv, line):
    code, text = cli(*argv)
    assert code == 2
    assert text.splitlines()[0] == line


def test_an_unknown_name_without_a_close_one_lists_the_choices_on_one_line():
    code, text = cli("up", "--stack", "dev", "--latency", "zzzz=60")
    assert code == 2
    first = text.splitlines()[0]
    assert first.startswith("error: --latency: unknown key 'zzzz' (known: arm.writeBucket,")
    assert len(first) > 80  # one problem, one line: not wrapped at the console's width


def test_suggestions_match_whole_names_then_dotted_parts():
    assert closest("--stakc", ["--stack", "--state"]) == "--stack"
    assert closest("captur", ["vm.create", "galleryImageVersion.capture"]) == \
        "galleryImageVersion.capture"
    assert closest("qqq", ["vm.create"]) is None
    assert did_you_mean("qqq", ["vm.create"], otherwise=" (none)") == " (none)"


def _spec(stack_pipeline: dict) -> Any:
    return load_spec(stack_pipeline, location="westeurope").spec


def test_faults_that_cannot_fire_on_the_stack_get_a_note():
    linux = _spec(load_pipeline("dev"))
    plan = FaultPlan.parse("spot-evict=1,bitlocker=1,customize-fail=1,unhealthy=1")
    notes = inapplicable(plan, linux)
    assert notes == [
        "--faults spot-evict=1 cannot fire on this stack: it needs a build with spot: true",
        "--faults bitlocker=1 cannot fire on this stack: it needs a Windows image",
        "--faults unhealthy=1 cannot fire on this stack: it needs a clone group with "
        "rollout.health",
    ]
    windows = _spec(load_pipeline("win"))
    assert not any("bitlocker" in note for note in inapplicable(plan, windows))


def test_the_cli_prints_the_notes_and_still_runs():
    code, text = cli("up", "--stack", "dev", "--faults", "spot-evict=1", "--quiet")
    assert code == 0
    assert "note: --faults spot-evict=1 cannot fire on this stack" in text


def test_crash_advice_depends_on_whether_the_run_kept_state():
    assert "re-run with the same --state" in crash_advice(3, kept_state=True)
    without = crash_advice(3, kept_state=False)
    assert "same --state" not in without and "run with --state FILE" in without
    code, text = cli("up", "--stack", "dev", "--faults", "crash-after=2", "--quiet")
    assert code == 1 and "this run kept no state" in text


# -- 80 columns ------------------------------------------------------------------------------

ID = ("/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups/rg-vmimage-dev/"
      "providers/Microsoft.Compute/galleries/galvmimagedev/images/web-ubuntu/versions/1.0.0")


@pytest.mark.parametrize("width", [40, 60, 72, 100])
def test_an_id_is_shortened_in_the_middle_keeping_whole_segments(width):
    short = middle(ID, width)
    assert len(short) <= width and "…" in short
    head, tail = short.split("…")
    assert ID.startswith(head) and ID.endswith(tail)
    assert tail.startswith("/") and tail.endswith("/web-ubuntu/versions/1.0.0")
    assert middle(ID, len(ID)) == ID


def test_outputs_shorten_only_ids():
    value = {"ids": [ID], "name": "x" * 300, "n": 3}
    assert shorten_ids(value, 60) == {"ids": [middle(ID, 60)], "name": "x" * 300, "n": 3}


def test_at_80_columns_words_and_ids_stay_whole(tmp_path):
    report = tmp_path / "run.json"
    code, text = cli("up", "--stack", "dev", "--no-progress", "--report-json", str(report),
                     "--set", "builds[0].regions[0].replicas=1")
    assert code == 0, text
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    # The policy finding: its rule's name whole on one line, its message in paragraphs.
    policy = lines[lines.index("Policy") + 1:]
    assert policy[0].split() == ["advisory", "min-replicas-where-clones-run",
                                 "vmimage-v1-0-0-capture-version"]
    assert all(line.startswith("    ") for line in policy[1:] if line.strip())
    # Outputs: an id too long for the line is shortened, never broken inside a segment;
    # the report keeps it whole.
    outputs = text[text.index("Outputs:"):text.index("stack dev:")]
    assert "/subscriptions/00000000-0000" not in outputs
    assert '"/…/galleries/galvmimagedev/images/web-ubuntu/versions/1.0.0"' in outputs
    assert ID in json.loads(report.read_text())["outputs"]["imageVersionIds"].values()
