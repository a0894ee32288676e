"""How big a config value is as JSON, counted without writing it out.

YAML aliases make a small file a large value: one 256 KiB string used 600 times is 150 MB
the moment anything serializes it (Pulumi's config JSON, the scripts, the state). So the
size is counted by walking the value, in document order, and the walk stops as soon as it
passes the bound: nothing is allocated in proportion to the expanded size.
"""

from __future__ import annotations

from typing import Any


def scalar_bytes(value: Any) -> int:
    """A scalar's compact-JSON size, escapes aside (a lower bound: `"` and `\\` take two)."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass")) + 2
    if value is None or isinstance(value, bool):
        return 5 if value is False else 4
    return len(str(value))


def where_over(value: Any, limit: int, root: str = "") -> str | None:
    """The key path of the value at which `value`, as compact JSON, grows past `limit`
    bytes (`root` itself when only the whole is over), or None within it."""
    total = 0
    stack: list[tuple[Any, str]] = [(value, root)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            total += 2 + max(len(node) - 1, 0)  # {} and the commas
            children = [(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()]
            total += sum(scalar_bytes(str(k)) + 1 for k in node)  # keys and colons
        elif isinstance(node, list | tuple):
            total += 2 + max(len(node) - 1, 0)
            children = [(v, f"{path}[{i}]") for i, v in enumerate(node)]
        else:
            total += scalar_bytes(node)
            children = []
        if total > limit:
            return path or root
        stack.extend(reversed(children))
    return None
