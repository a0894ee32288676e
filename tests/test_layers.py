"""The layers import one way (docs/architecture.md, "Layers"): the import graph of the
product, read with `ast` at module level, under `if TYPE_CHECKING:` and inside functions,
has no cycle and no import from a lower layer to a higher one; a project import inside a
function says why on its line (`# lazy: <why>`)."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT

#: The layers, lowest first. A module is in the layer of the longest name that is it or a
#: package holding it; "=name" is that module alone (a package's __init__, not its
#: children). Azure reads sit with the Azure rules; VM actions (providers) with the parts.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("vocabulary", ("=vmimage", "vmimage.vocabulary", "vmimage.gc_tuning", "vmimage.suggest")),
    ("Azure rules and reads", ("vmimage.azure",)),
    ("config", ("vmimage.config", "vmimage.scripts", "vmimage.policy")),
    ("resource-argument parts and VM actions", ("vmimage.parts", "vmimage.providers")),
    ("steps and capture targets", ("vmimage.steps", "vmimage.capture")),
    ("stack reads", ("vmimage.stack", "vmimage.release")),
    ("components", ("vmimage.components",)),
    ("program, policy pack and day-two tools", ("__main__", "policy", "vmimage.daytwo")),
    ("offline", ("offline",)),
]
PRODUCT = ["vmimage", "offline", "policy", "__main__.py"]
LAZY = "# lazy:"


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    path: str
    line: int
    in_function: bool
    lazy: bool


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_files(root: Path, entries: Iterable[str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for entry in entries:
        path = root / entry
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            found[module_name(root, file)] = file
    return found


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _named(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = _absolute(module, is_package, node)
        for alias in node.names:
            yield f"{base}.{alias.name}"  # a submodule, or a name of `base`


def _in_functions(tree: ast.AST) -> set[int]:
    return {id(inner) for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            for inner in ast.walk(node)}


def imports(root: Path, entries: Iterable[str]) -> list[Import]:
    """Every import of one product module by another (a name imported from a module is an
    import of that module), wherever it is written."""
    modules = product_files(root, entries)
    found: list[Import] = []
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)
        nested = _in_functions(tree)
        for node in ast.walk(tree):
            for name in _named(node, module, path.name == "__init__.py"):
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    assert isinstance(node, ast.stmt)
                    text = lines[node.lineno - 1:node.end_lineno]
                    found.append(Import(module, name, str(path.relative_to(root)),
                                        node.lineno, id(node) in nested,
                                        any(LAZY in line for line in text)))
    return found


def layer_of(module: str) -> int:
    best: tuple[int, int] | None = None
    for level, (_, names) in enumerate(LAYERS):
        for name in names:
            exact = name.startswith("=")
            bare = name.removeprefix("=")
            if module == bare or (not exact and module.startswith(bare + ".")):
                if best is None or len(bare) > best[1]:
                    best = (level, len(bare))
    if best is None:
        raise LookupError(f"{module}: in no layer (add it to LAYERS and the docs)")
    return best[0]


def cycles(edges: Iterable[tuple[str, str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward(found: Iterable[Import]) -> list[str]:
    return [f"{i.path}:{i.line}: {i.source} ({LAYERS[layer_of(i.source)][0]}) imports "
            f"{i.target} ({LAYERS[layer_of(i.target)][0]})"
            for i in found if layer_of(i.target) > layer_of(i.source)]


def unmarked_in_functions(found: Iterable[Import]) -> list[str]:
    return [f"{i.path}:{i.line}: {i.source} imports {i.target} inside a function without "
            f"'{LAZY} <why>'" for i in found if i.in_function and not i.lazy]


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    return imports(ROOT, PRODUCT)


def test_every_product_module_has_a_layer(graph: list[Import]) -> None:
    modules = product_files(ROOT, PRODUCT)
    assert len(modules) > 100
    missing = []
    for module in modules:
        try:
            layer_of(module)
        except LookupError as exc:
            missing.append(str(exc))
    assert missing == []


def test_the_import_graph_has_no_cycle(graph: list[Import]) -> None:
    found = cycles((i.source, i.target) for i in graph)
    assert [sorted(c) for c in found] == []


def test_no_layer_imports_a_higher_one(graph: list[Import]) -> None:
    assert upward(graph) == []


def test_imports_inside_functions_say_why(graph: list[Import]) -> None:
    assert unmarked_in_functions(graph) == []


def test_the_step_kinds_facts_and_registrations_agree() -> None:
    """Each kind of the config registers, and nothing registers that the config lacks."""
    from vmimage.config.steps import KINDS
    from vmimage.steps import REGISTER

    assert list(REGISTER) == list(KINDS)


def test_the_capture_targets_names_rules_and_registrations_agree() -> None:
    from vmimage.capture import TARGETS
    from vmimage.config.capture import KEYS
    from vmimage.config.capture.targets import RULES

    assert list(KEYS) == list(RULES) == list(TARGETS)
    assert all(TARGETS[key].rules is RULES[key] for key in KEYS)


# -- the checks themselves can fail -----------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checks_find_a_cycle_an_upward_import_and_an_unmarked_lazy_one(
        tmp_path: Path) -> None:
    _tree(tmp_path, {
        "vmimage/__init__.py": "",
        "vmimage/config/__init__.py": "",
        # config -> components: upward, and (with the import back) a cycle.
        "vmimage/config/models.py": "from typing import TYPE_CHECKING\n"
                                    "if TYPE_CHECKING:\n"
                                    "    from vmimage.components import pipeline\n",
        "vmimage/components/__init__.py": "",
        "vmimage/components/pipeline.py": "from vmimage.config.models import x\n"
                                          "def f():\n"
                                          "    from ..config import models\n"
                                          "def g():\n"
                                          "    import vmimage.config.models  # lazy: why\n",
    })
    found = imports(tmp_path, ["vmimage"])
    assert cycles((i.source, i.target) for i in found) == [
        frozenset({"vmimage.config.models", "vmimage.components.pipeline"})]
    assert upward(found) == [
        "vmimage/config/models.py:3: vmimage.config.models (config) imports "
        "vmimage.components.pipeline (components)"]
    assert unmarked_in_functions(found) == [
        "vmimage/components/pipeline.py:3: vmimage.components.pipeline imports "
        "vmimage.config.models inside a function without '# lazy: <why>'"]


# -- public helpers, shared fixtures (docs/architecture.md, "Checked") ------------------------

TESTS = ROOT / "tests"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(root: Path, entries: Iterable[str], local: set[str]) -> list[str]:
    """`from <one of ours> import _name`: a name its module keeps to itself. `local`: the
    modules of ours (product modules, and the tests' helper modules by bare name)."""
    found = []
    for module, path in product_files(root, entries).items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _absolute(module, path.name == "__init__.py", node)
            if source.split(".")[0] not in local and source not in local:
                continue  # another project's internals (Pulumi's are held to one adapter)
            found += [f"{path.relative_to(root)}:{node.lineno}: {source}.{alias.name}"
                      for alias in node.names if _is_private(alias.name)]
    return found


def test_modules_share_public_names_only() -> None:
    local = {"vmimage", "offline", "policy", "conftest",
             *(p.stem for p in TESTS.glob("*.py"))}
    assert private_imports(ROOT, [*PRODUCT, "tests", "bench"], local) == []


def test_helpers_cross_tests_without_test_modules_or_sys_path() -> None:
    """Shared fixtures live in conftest.py and helpers in plainly named modules; no test
    module imports another, and no test edits sys.path."""
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{where}:{node.lineno}: imports the test module {n}"
                      for n in names if n.split(".")[-1].startswith("test_")]
            if isinstance(node, ast.Attribute) and node.attr == "path" and \
                    isinstance(node.value, ast.Name) and node.value.id == "sys":
                found.append(f"{where}:{node.lineno}: sys.path")
    assert found == []


def test_the_sharing_checks_can_fail(tmp_path: Path) -> None:
    _tree(tmp_path, {"offline/__init__.py": "",
                     "offline/values.py": "def _cell(): ...\n",
                     "offline/render.py": "from offline.values import _cell, __doc__\n"
                                          "from pulumi.runtime import _sync_await\n"})
    assert private_imports(tmp_path, ["offline"], {"offline"}) == [
        "offline/render.py:1: offline.values._cell"]
