"""Benchmarks (not tests): `make bench` / `python -m bench`. See bench/README.md."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 3


@dataclass(frozen=True)
class Point:
    """The median of REPEATS fresh-process runs of one configuration."""

    wall_s: float  # the child process, start to exit (imports included), seen by the parent
    cpu_s: float  # user + system CPU of the child (less sensitive to a busy machine)
    rss_mb: float  # peak resident set of the child
    resources: int  # custom resources registered
    types: dict[str, int]


@dataclass(frozen=True)
class Config:
    """One thing to measure: `python -m bench.worker PROGRAM COUNT KIND MONITOR`."""

    program: str
    count: int
    kind: str = "vm"
    monitor: str = "mock"
    env: tuple[tuple[str, str], ...] = ()


def measure(program: str, count: int, kind: str = "vm", monitor: str = "mock",
            env: dict[str, str] | None = None, repeats: int = REPEATS) -> Point:
    config = Config(program, count, kind, monitor, tuple((env or {}).items()))
    return measure_alternating([config], repeats)[0]


def measure_alternating(configs: list[Config], repeats: int = REPEATS) -> list[Point]:
    """Run the configs round-robin (a, b, a, b, ...), so a slow spell on a shared machine
    lands on all of them alike, and keep each one's median."""
    runs: list[list[dict[str, Any]]] = [[] for _ in configs]
    for _ in range(repeats):
        for config, done in zip(configs, runs, strict=True):
            done.append(_once(config))
    return [
        Point(
            wall_s=statistics.median(r["wall_s"] for r in done),
            cpu_s=statistics.median(r["cpu_s"] for r in done),
            rss_mb=statistics.median(r["rss_mb"] for r in done),
            resources=done[0]["resources"],
            types=done[0]["types"],
        )
        for done in runs
    ]


def _once(config: Config) -> dict[str, Any]:
    program, count, kind, monitor = config.program, config.count, config.kind, config.monitor
    child_env = {**os.environ, **dict(config.env)}
    if program == "ours" and monitor == "mock":
        stack = stack_config(count, kind)
        if child_env.get("BENCH_KEEP_TYPE_ALIASES"):
            stack["vmimage:keepTypeAliases"] = "true"
        child_env["BENCH_CONFIG"] = json.dumps(stack)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker", program, str(count), kind, monitor],
        cwd=ROOT, env=child_env, capture_output=True, text=True, check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"bench.worker {program} {count} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "wall_s": wall}


#: The dev stack on a /22: room for 1,000 VMs or scale-set instances (its /24 has 251).
WIDE_SUBNET = ["network.addressSpace=10.42.0.0/16", "network.subnetPrefix=10.42.4.0/22"]
#: Individual VMs a clone group may hold (vmimage/config/rules.py): more are more groups.
GROUP_MAX = 100


def clone_overrides(count: int, kind: str = "vm") -> list[str]:
    """`--set` overrides for `count` clones: one scale set, or groups of at most 100 VMs."""
    if kind == "scaleSet":
        return [*WIDE_SUBNET, "clones[0].kind=scaleSet", f"clones[0].count={count}"]
    sizes = [GROUP_MAX] * (count // GROUP_MAX) + ([count % GROUP_MAX] if count % GROUP_MAX
                                                 else [])
    groups = [f"{{name: web{i}, count: {n}, version: 1.0.0, size: Standard_B2s}}"
              for i, n in enumerate(sizes or [0])]
    return [*WIDE_SUBNET, f"clones=[{', '.join(groups)}]"]


def stack_config(count: int, kind: str = "vm") -> dict[str, str]:
    """The dev stack's Pulumi config with `count` clones, as Pulumi hands it to programs."""
    from offline.pulumi_host import config_strings
    from offline.runner import load_stack, stack_file

    return config_strings(load_stack(stack_file("dev"), "dev",
                                     clone_overrides(count, kind)).config)
