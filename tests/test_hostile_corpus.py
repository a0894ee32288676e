"""The hostile corpus of tests/hostile/cases.yaml: one attack each on an example stack,
against the keys added since the first review. A refused case must end the offline CLI
with exit 2 and exactly its problem lines (every one naming its key path, none quoting a
credential); an accepted one must load with exactly its warnings."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, load_stack_dict, offline_cli, set_path

from vmimage.config.validate import load_spec

CASES_FILE = ROOT / "tests" / "hostile" / "cases.yaml"
MIN_CASES = 60
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
IDENTITY = ("/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups/rg-identities/"
            "providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-image-builder")
#: Words a case's values use for long strings every case shares.
WORDS = {"SHA": SHA, "ID": IDENTITY, "IDUPPER": IDENTITY.upper().replace("SUBSCRIPTIONS",
                                                                         "subscriptions"),
         "DES": ("/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups/rg-keys/"
                 "providers/Microsoft.Compute/diskEncryptionSets/des-weu")}
CASES: dict[str, dict[str, Any]] = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))


def _words(value: Any) -> Any:
    if isinstance(value, str):
        return WORDS.get(value, value)
    if isinstance(value, dict):
        return {k: _words(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_words(v) for v in value]
    return value


def stack_of(case: dict[str, Any]) -> dict[str, Any]:
    """The whole `config:` of the case's stack with its attack applied."""
    config = load_stack_dict(case.get("stack", "dev"))
    pipeline = config["vmimage:pipeline"]
    for path, value in case["set"].items():
        set_path(pipeline, path, copy.deepcopy(_words(value)))
    return config


def run_case(case: dict[str, Any], folder: Path) -> dict[str, Any]:
    """What the program answers: the CLI's problem lines, or the loader's warnings."""
    config = stack_of(case)
    stack_file = folder / "Pulumi.hostile.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}, allow_unicode=True),
                          encoding="utf-8")
    code, lines, output = offline_cli("up", "--stack-file", str(stack_file))
    if code == 2:
        assert "Traceback" not in output
        return {"expect": lines}
    loaded = load_spec(config["vmimage:pipeline"],
                       location=config.get("azure-native:location"))
    return {"expect": "accepted", "warnings": loaded.warnings, "code": code}


def test_the_corpus_is_large_and_described() -> None:
    assert len(CASES) >= MIN_CASES
    for name, case in CASES.items():
        assert case["tries"] and case["set"], name
        expect = case["expect"]
        assert expect == "accepted" or (isinstance(expect, list) and expect), name
        for line in expect if isinstance(expect, list) else ():
            path, sep, what = line.partition(": ")
            assert sep and path and what, f"{name}: {line!r} names no key path"


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_gets_its_answer(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    if case["expect"] == "accepted":
        config = stack_of(case)
        loaded = load_spec(config["vmimage:pipeline"],
                           location=config.get("azure-native:location"))
        assert loaded.warnings == case.get("warnings", [])
        return
    answer = run_case(case, tmp_path)
    assert answer["expect"] == case["expect"]
