"""Secret values as the Pulumi engine passes them: wrapped in a marker object.

The simulator needs the plain value (a password must be present); everything that is
printed or written must show the marker instead. Both directions live here.
"""

from __future__ import annotations

from typing import Any

from pulumi.runtime.rpc import is_rpc_secret

from vmimage.vocabulary import REDACTED_SECRET

REDACTED = REDACTED_SECRET


def unwrap(value: Any) -> Any:
    """The plain value, for the simulator's rules only."""
    if is_rpc_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """The value fit for output, logs and reports: secrets replaced by '[secret]'."""
    if is_rpc_secret(value):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def secret_paths(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every secret inside a property bag."""
    if is_rpc_secret(value):
        return [prefix or "."]
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            found += secret_paths(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += secret_paths(v, f"{prefix}[{i}]")
    return found
