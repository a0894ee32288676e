"""B1 program overhead: the dev stack with N individual clones against bench/raw_program.py
(same custom resource types and counts, registered directly with the SDK), both under
Pulumi's own mocks with a trivial Mocks (outputs = inputs) and the same GC thresholds.

Why plain mocks and not the simulator: the simulator enforces ARM's rules, so a raw
program with minimal inputs would be refused, and its cost (ARM bookkeeping) is not the
program's: under `pulumi up` the engine replaces it. What remains is exactly the Python
side a user waits for in preview: program + SDK + serialisation to the monitor.
"""

from __future__ import annotations

from typing import Any

from bench import Config, measure_alternating

COUNTS = (1, 10, 100)
TARGET = 1.15  # ours/raw wall time at N = 100


def run() -> dict[str, Any]:
    rows = []
    for n in COUNTS:
        ours, raw = measure_alternating([Config("ours", n), Config("raw", n)])
        if ours.types != raw.types:
            raise AssertionError(f"N={n}: resource types differ: {ours.types} vs {raw.types}")
        rows.append({"n": n, "ours": ours, "raw": raw})
    before, parented = measure_alternating([
        Config("ours", COUNTS[-1], env=(("BENCH_GC", "default"),)),
        # How much of the gap is Pulumi's own cost of parenting children under a component.
        Config("raw-parented", COUNTS[-1]),
    ])
    return {"rows": rows, "default_gc": before, "raw_parented": parented, "target": TARGET}

