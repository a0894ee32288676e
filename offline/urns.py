"""Reading Pulumi URNs: `urn:pulumi:<stack>::<project>::<parent types $ type>::<name>`.
A name may itself hold `::`, so it is everything after the third separator (Pulumi's
`resource.URN` parses it the same way: sdk/go/common/resource/urn.go)."""

from __future__ import annotations


def urn_type(urn: str) -> str:
    """The resource's own type token (the last of the qualified type's `$` chain)."""
    parts = urn.split("::", 3)
    return parts[2].split("$")[-1] if len(parts) == 4 else ""


def urn_name(urn: str) -> str:
    """The resource's logical name."""
    parts = urn.split("::", 3)
    return parts[3] if len(parts) == 4 else urn
