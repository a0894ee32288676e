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

from bench import Config, measure, measure_alternating

COUNTS = (1, 10, 100)
TARGET = 1.15  # ours/raw wall time at N = 100
# More than the default: the target ratio is within a few percent of what one slow spell
# on a shared machine can add to one side, and a pair of N = 100 runs takes ~8 s.
REPEATS = 5


def run() -> dict[str, Any]:
    rows = []
    parented = None
    for n in COUNTS:
        configs = [Config("ours", n), Config("raw", n)]
        if n == COUNTS[-1]:
            # How much of the gap is Pulumi's own cost of parenting children under a
            # component: the raw program again, its clones under one ComponentResource.
            configs.append(Config("raw-parented", n))
        ours, raw, *rest = measure_alternating(configs, REPEATS)
        if ours.types != raw.types:
            raise AssertionError(f"N={n}: resource types differ: {ours.types} vs {raw.types}")
        rows.append({"n": n, "ours": ours, "raw": raw})
        parented = rest[0] if rest else parented
    before = measure("ours", COUNTS[-1], env={"BENCH_GC": "default"})
    return {"rows": rows, "default_gc": before, "raw_parented": parented, "target": TARGET}
