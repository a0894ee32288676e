"""Dynamic providers pickled *by value*: the provider host gets the source of the modules
it needs, not references to modules it would have to import.

Pulumi pickles a dynamic provider with dill, and dill pickles a class from an importable
module by reference, so the provider host (`python -m pulumi.dynamic`, started by the
engine in the project directory with its own sys.path) would have to import this
project's packages; that fails with "No module named ..." or runs program code at import
(pulumi/pulumi#7453, #7795, #7960). Instead the pickle is `eval(<expression>)`, and the
expression rebuilds each listed module from its embedded source under its own name
(only where that name is not imported already) before it returns a provider instance.

Rules for a bundled module: import only the standard library, pulumi, the Azure SDK
(lazily) and modules earlier in its bundle (with `from a.b import c`, which needs no
parent package); register no resources at import time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

SOURCE_KEY = "__vmimage_source__"


def module_source(name: str) -> str:
    """A bundled module's text: from disk in the program, from the embedded copy in the
    provider host (where the module has no file)."""
    module = sys.modules[name]
    embedded = getattr(module, SOURCE_KEY, None)
    if embedded:
        return str(embedded)
    with open(str(module.__file__), encoding="utf-8") as handle:
        return handle.read()


def rebuild_expression(modules: Sequence[str], provider: str) -> str:
    """An expression that, evaluated anywhere with pulumi installed, defines `modules`
    (in order) and evaluates to `<last module>.<provider>()`."""
    sources = [(name, module_source(name)) for name in modules]
    return (
        "(lambda types, sys, sources, key: ["
        "(lambda m: (m.__dict__.__setitem__(key, src), sys.modules.__setitem__(name, m), "
        "exec(compile(src, name.replace('.', '/') + '.py', 'exec'), m.__dict__)))"
        "(types.ModuleType(name)) for name, src in sources if name not in sys.modules]"
        f" and None or getattr(sys.modules[sources[-1][0]], {provider!r})())"
        f"(__import__('types'), __import__('sys'), {sources!r}, {SOURCE_KEY!r})"
    )


def reduce_by_value(modules: Sequence[str], provider: str) -> tuple[Any, ...]:
    """What a provider's `__reduce__` returns to be pickled by value."""
    return (eval, (rebuild_expression(modules, provider),))
