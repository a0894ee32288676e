"""Every malformed stack of the corpora (tests/bad_stacks: careless input; tests/
hostile_stacks: one attack each) gets the answer its expected.yaml says, both from
`python -m offline up --stack-file` and from the program under plain Pulumi mocks: every
problem once, with its key path, no traceback, nothing registered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from conftest import ROOT, offline_cli
from program_mocks import Recorded, run_program

from offline.yaml_load import load_yaml

#: corpus folder -> the fewest cases it may hold
CORPORA = {"bad_stacks": 45, "hostile_stacks": 40}


def expected_of(corpus: str) -> dict[str, dict[str, Any]]:
    text = (ROOT / "tests" / corpus / "expected.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


EXPECTED = {corpus: expected_of(corpus) for corpus in CORPORA}
CASES = [(corpus, p.name) for corpus in CORPORA
         for p in sorted((ROOT / "tests" / corpus).glob("Pulumi.*.yaml"))]
MOCKS_CASES = [(corpus, name) for corpus, name in CASES
               if "mocks" in EXPECTED[corpus].get(name, {}).get("paths", ["mocks"])]


def matches(line: str, expected: str | dict[str, str]) -> bool:
    if isinstance(expected, str):
        return line == expected
    rest = line.removeprefix(expected["prefix"])
    return rest != line and expected["contains"] in rest


@pytest.mark.parametrize("corpus", CORPORA)
def test_corpus_is_large_and_fully_described(corpus: str) -> None:
    files = sorted(name for c, name in CASES if c == corpus)
    assert len(files) >= CORPORA[corpus]
    assert sorted(EXPECTED[corpus]) == files
    for name, entry in EXPECTED[corpus].items():
        assert entry["problems"], name
        for problem in entry["problems"]:
            if isinstance(problem, str):
                # `<key path>: <what is wrong>`: a path, then a message
                path, sep, what = problem.partition(": ")
                assert sep and path and what, problem


@pytest.mark.parametrize(("corpus", "name"), CASES)
def test_offline_cli_lists_exactly_the_problems(corpus: str, name: str) -> None:
    code, lines, output = offline_cli("up", "--stack-file", str(ROOT / "tests" / corpus / name))
    assert code == 2, output
    assert "Traceback" not in output
    expected = EXPECTED[corpus][name]["problems"]
    assert len(lines) == len(expected), output
    for want in expected:
        hits = [line for line in lines if matches(line, want)]
        assert len(hits) == 1, f"{want!r} expected once in:\n{output}"


@pytest.mark.parametrize(("corpus", "name"), MOCKS_CASES)
def test_program_under_mocks_fails_before_registering(corpus: str, name: str) -> None:
    # Read as the Pulumi CLI reads a stack file (dates stay text, merge keys merge).
    text = (ROOT / "tests" / corpus / name).read_text(encoding="utf-8")
    config = load_yaml(text)["config"]
    recorded = Recorded()
    with pytest.raises(pulumi.RunError) as raised:
        run_program(config, stack=Path(name).stem.removeprefix("Pulumi."), recorded=recorded)
    assert recorded.new_resource_calls == 0 and recorded.resources == []
    message = str(raised.value)
    assert "Traceback" not in message
    for want in EXPECTED[corpus][name]["problems"]:
        hits = [line for line in message.splitlines() if matches(line, want)]
        assert len(hits) == 1, f"{want!r} not once in:\n{message}"
    problems = message.splitlines()[1:]
    assert len(problems) == len(set(problems)), "a problem is listed twice"
    assert len(problems) == len(EXPECTED[corpus][name]["problems"]), message
