"""B2 fleet: the dev stack with one clone group of kind scaleSet, count 1,000 against
count 1, run end to end against the simulator (SimulatorMonitor + SimulatedArm), each
in a fresh process. A scale set is one registration whatever its count."""

from __future__ import annotations

from typing import Any

from bench import measure

COUNTS = (1, 1000)
TARGET = 1.10


def run() -> dict[str, Any]:
    small, large = (measure("ours", n, kind="scaleSet", monitor="sim") for n in COUNTS)
    return {"small": small, "large": large, "target": TARGET}
