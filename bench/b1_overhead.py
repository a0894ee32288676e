"""B1 program cost: the dev stack with N individual clones against bench/raw_program.py, the
same custom resources registered directly with the SDK as a user would write it (flat,
azure-native's type aliases and CPython's collector settings as they come), both under
Pulumi's own mocks with a trivial Mocks (outputs = inputs).

Why plain mocks and not the simulator: the simulator enforces ARM's rules, so a raw
program with minimal inputs would be refused, and its cost (ARM bookkeeping) is not the
program's: under `pulumi up` the engine replaces it. What remains is exactly the Python
side a user waits for in preview: program + SDK + serialisation to the monitor.

Also measured at N = 100, right after its pairs: the program keeping azure-native's type
aliases (`vmimage:keepTypeAliases`) and the program with CPython's collector defaults,
so each fix's share is a figure of the same run.
"""

from __future__ import annotations

from typing import Any

from bench import Config, measure_alternating

COUNTS = (3, 100, 400)  # 3: the dev stack as it is; 400: four groups of 100
#: Repeats per N: the N = 400 pair takes about 45 s, so it gets two.
REPEATS = {3: 3, 100: 3, 400: 2}
TARGETS = {100: 0.5, 400: 0.3}  # ours/raw wall time
GROWTH_TARGET = 4.4  # ours t(400) / t(100): linear is 4
MEMORY_PER_CLONE_TARGET_MB = 0.5  # ours, between N = 100 and N = 400


def run() -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    variants: dict[str, Any] = {}
    for n in COUNTS:
        ours, raw = measure_alternating([Config("ours", n), Config("raw", n)], REPEATS[n])
        if ours.types != raw.types:
            raise AssertionError(f"N={n}: resource types differ: {ours.types} vs {raw.types}")
        rows.append({"n": n, "ours": ours, "raw": raw})
        if n == 100:  # each fix's share, right after the pairs (once each: time is short)
            kept, default_gc = measure_alternating(
                [Config("ours", n, env=(("BENCH_KEEP_TYPE_ALIASES", "1"),)),
                 Config("ours", n, env=(("BENCH_GC", "default"),))], 1)
            variants = {"keep_type_aliases": kept, "default_gc": default_gc}
    by_n = {row["n"]: row for row in rows}
    growth = by_n[400]["ours"].wall_s / by_n[100]["ours"].wall_s
    per_clone = (by_n[400]["ours"].rss_mb - by_n[100]["ours"].rss_mb) / 300
    return {"rows": rows, "variants": variants, "targets": TARGETS, "growth": growth,
            "growth_target": GROWTH_TARGET, "memory_per_clone_mb": per_clone,
            "memory_target_mb": MEMORY_PER_CLONE_TARGET_MB}
