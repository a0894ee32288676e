"""One measurement in a fresh process: `python -m bench.worker PROGRAM COUNT KIND MONITOR`.

PROGRAM ours | raw; KIND vm | scaleSet; MONITOR mock (Pulumi's mocks with outputs = inputs) |
sim (the offline simulator: SimulatorMonitor + SimulatedArm). For `ours mock` the parent
passes the stack's Pulumi config as JSON in $BENCH_CONFIG, so the child imports nothing
of the harness that the real program would not import. $BENCH_GC=default keeps CPython's
default collector thresholds in ours (for the before/after row of B1); the raw program
always runs with them, as a program written with the SDK alone does.

Prints one JSON line: cpu_s, rss_mb (peak, ru_maxrss), the custom resource types.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from vmimage import gc_tuning


class TrivialMocks:
    """Outputs are the inputs, ids are names, invokes return nothing: the SDK floor."""

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: Any) -> dict[str, Any]:
        return {}


def _custom_types(urns: Any) -> Counter[str]:
    types = Counter(urn.split("::")[2].split("$")[-1] for urn in urns)
    return Counter({
        t: n for t, n in types.items()
        if t != "pulumi:pulumi:Stack" and not t.startswith("vmimage:index:")
    })


def _run_sim(count: int, kind: str) -> Counter[str]:
    from bench import clone_overrides
    from offline.arm import SimulatedArm
    from offline.runner import load_stack, run, stack_file

    stack = load_stack(stack_file("dev"), "dev",
                       clone_overrides(count, kind))
    result = run(stack, SimulatedArm())
    if result.error or result.failures:
        raise SystemExit(f"run failed: {result.error or result.failures[0]}")
    return Counter(r.type for r in result.registrations if r.custom)


def _run_mock(program: str, count: int) -> Counter[str]:
    # Pulumi's runtime internals only through the one adapter the offline runner and the
    # tests use (offline/pulumi_host.py).
    from pulumi.runtime.mocks import MockMonitor

    from offline.pulumi_host import run_program

    monitor = MockMonitor(TrivialMocks())  # type: ignore[arg-type]
    if program == "ours":
        # The program as the language host runs it (not offline.runner's PROGRAM: that
        # would import the simulator into the measured process).
        main_py = Path(__file__).resolve().parent.parent / "__main__.py"
        run_program(main_py, monitor, project="vmimage", stack="dev",
                    config=json.loads(os.environ["BENCH_CONFIG"]))
    else:
        from bench import raw_program

        run_program(lambda: raw_program.main(count), monitor, project="vmimage", stack="dev")
    return _custom_types(monitor.resources)


def main(argv: list[str]) -> None:
    program, count, kind, monitor_kind = argv[0], int(argv[1]), argv[2], argv[3]
    if os.environ.get("BENCH_GC") == "default":
        # Our __main__ tunes the collector; leave CPython's defaults for the before/after row.
        gc_tuning.tune_gc = lambda: None
    if monitor_kind == "sim":
        types = _run_sim(count, kind)
    else:
        types = _run_mock(program, count)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "types": dict(sorted(types.items())),
        "resources": sum(types.values()),
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
