"""The layout's promises, checked: one home for the shared vocabulary, one adapter for
Pulumi's runtime internals, and the seams' tables (docs/architecture.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PRODUCT = ["vmimage", "offline", "policy", "bench", "__main__.py"]
#: Pulumi's runtime internals: only offline/pulumi_host.py may use them.
PRIVATE_RUNTIME = re.compile(
    r"\b(_sync_await|run_pulumi_func|set_mocks|reset_options|MockMonitor|sync_await)\b")
#: What vmimage/vocabulary.py says once: type and invoke tokens.
TOKEN = re.compile(r"^(azure-native:[a-z]+:\w+|random:index/\w+:\w+|vmimage:index:\w+|"
                   r"pulumi-python:dynamic/[\w:]+|pulumi:pulumi:Stack)$")


def python_files() -> list[Path]:
    found: list[Path] = []
    for entry in PRODUCT:
        path = ROOT / entry
        found += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return found


def string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant but docstrings."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_type_tokens_are_spelt_only_in_the_vocabulary() -> None:
    """(bench/ is left out: its raw program is what a user would write without vmimage.)"""
    vocabulary = ROOT / "vmimage" / "vocabulary.py"
    found = [f"{path.relative_to(ROOT)}:{line}: {value}"
             for path in python_files()
             if path != vocabulary and path.relative_to(ROOT).parts[0] != "bench"
             for line, value in string_literals(ast.parse(path.read_text()))
             if TOKEN.match(value)]
    assert found == []
    assert len([v for _, v in string_literals(ast.parse(vocabulary.read_text()))
                if TOKEN.match(v)]) >= 20


def test_the_vocabulary_imports_nothing() -> None:
    """The provider host, the policy analyzer and the simulator read it: no runtime."""
    tree = ast.parse((ROOT / "vmimage" / "vocabulary.py").read_text())
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    assert [getattr(i, "module", None) for i in imports] == ["__future__"]


def test_pulumi_runtime_internals_live_in_one_adapter() -> None:
    adapter = ROOT / "offline" / "pulumi_host.py"
    # The program asks whether it runs under mocks (then nobody answers Azure reads).
    allowed = {ROOT / "vmimage" / "azure" / "reads.py": {"MockMonitor"},
               ROOT / "bench" / "worker.py": {"MockMonitor"}}
    found = []
    for path in python_files():
        if path == adapter:
            continue
        for line, text in enumerate(path.read_text().splitlines(), 1):
            for name in PRIVATE_RUNTIME.findall(text):
                if name not in allowed.get(path, set()):
                    found.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert found == []
    assert PRIVATE_RUNTIME.search(adapter.read_text())


def test_no_module_imports_the_offline_world_from_the_product() -> None:
    for path in (ROOT / "vmimage").rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in modules if m.split(".")[0] in ("offline", "tests", "bench")], path
