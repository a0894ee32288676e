"""Every malformed stack in tests/bad_stacks gets the answer expected.yaml says, both from
`python -m offline up --stack-file` and from the program under plain Pulumi mocks: every
problem once, with its key path, no traceback, nothing registered."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from conftest import ROOT
from program_mocks import Recorded, run_program
from rich.console import Console

CORPUS = ROOT / "tests" / "bad_stacks"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load(
    (CORPUS / "expected.yaml").read_text(encoding="utf-8")
)
FILES = sorted(p.name for p in CORPUS.glob("Pulumi.*.yaml"))
MOCKS_FILES = [f for f in FILES if "mocks" in EXPECTED.get(f, {}).get("paths", ["mocks"])]


def matches(line: str, expected: str | dict[str, str]) -> bool:
    if isinstance(expected, str):
        return line == expected
    rest = line.removeprefix(expected["prefix"])
    return rest != line and expected["contains"] in rest


def test_corpus_is_large_and_fully_described() -> None:
    assert len(FILES) >= 45
    assert sorted(EXPECTED) == FILES
    for name, entry in EXPECTED.items():
        assert entry["problems"], name
        for problem in entry["problems"]:
            if isinstance(problem, str):
                # `<key path>: <what is wrong>`: a path, then a message
                path, sep, what = problem.partition(": ")
                assert sep and path and what, problem


@pytest.mark.parametrize("name", FILES)
def test_offline_cli_lists_exactly_the_problems(name: str) -> None:
    from offline.cli import main

    buffer = StringIO()
    code = main(["up", "--stack-file", str(CORPUS / name)],
                console=Console(file=buffer, width=200))
    output = buffer.getvalue()
    assert code == 2, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    expected = EXPECTED[name]["problems"]
    assert len(lines) == len(expected), output
    for want in expected:
        hits = [line for line in lines if matches(line, want)]
        assert len(hits) == 1, f"{want!r} expected once in:\n{output}"


@pytest.mark.parametrize("name", MOCKS_FILES)
def test_program_under_mocks_fails_before_registering(name: str) -> None:
    config = yaml.safe_load((CORPUS / name).read_text(encoding="utf-8"))["config"]
    recorded = Recorded()
    with pytest.raises(pulumi.RunError) as raised:
        run_program(config, stack=Path(name).stem.removeprefix("Pulumi."), recorded=recorded)
    assert recorded.new_resource_calls == 0 and recorded.resources == []
    message = str(raised.value)
    for want in EXPECTED[name]["problems"]:
        assert want in message.splitlines(), f"{want!r} not in:\n{message}"
    problems = message.splitlines()[1:]
    assert len(problems) == len(set(problems)), "a problem is listed twice"
    assert len(problems) == len(EXPECTED[name]["problems"]), message
