"""B2 fleet: the dev stack with one clone group of kind scaleSet on a /22 subnet (room for
1,000 instances: the dev /24 has 251 usable addresses, and the capacity check refuses
more), count 1,000 against count 1, end to end against the simulator, each in a fresh
process. A scale set is one registration whatever its count."""

from __future__ import annotations

from typing import Any

from bench import measure

COUNTS = (1, 1000)
TARGET = 1.10


def run() -> dict[str, Any]:
    small, large = (measure("ours", n, kind="scaleSet", monitor="sim") for n in COUNTS)
    if small.resources != large.resources:
        raise AssertionError(f"resources differ: {small.resources} vs {large.resources}")
    return {"small": small, "large": large, "target": TARGET}
