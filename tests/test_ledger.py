"""docs/azure-behaviours.md names, for every behaviour, the test that shows it: each one
named there must exist, so the ledger cannot point at a test that was renamed or removed."""

from __future__ import annotations

import ast
import re

from conftest import ROOT

LEDGER = ROOT / "docs" / "azure-behaviours.md"


def cited_tests() -> list[tuple[str, str]]:
    """(file, test) for every `tests/x.py::test` and `::test` (same file as before)."""
    found, current = [], ""
    for match in re.finditer(r"`(tests/[\w/]+\.py)?::(\w+)`", LEDGER.read_text()):
        current = match.group(1) or current
        found.append((current, match.group(2)))
    return found


def test_every_cited_test_exists():
    cited = cited_tests()
    assert len(cited) >= 60
    missing = []
    for path, name in cited:
        tree = ast.parse((ROOT / path).read_text())
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        if name not in names:
            missing.append(f"{path}::{name}")
    assert missing == []


def test_every_row_has_a_source_and_a_test_or_says_why_not():
    rows = [line for line in LEDGER.read_text().splitlines()
            if line.startswith("| ") and not line.startswith(("| Behaviour", "| Key", "|---"))]
    behaviour_rows = [r for r in rows if r.count("|") == 5]
    assert len(behaviour_rows) >= 50
    for row in behaviour_rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        source, test = cells[2], cells[3]
        assert source, row
        assert "::" in test or test.startswith("same") or test.startswith("("), row
