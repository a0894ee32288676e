"""B3 pipeline wall time on Azure, under the simulator's latency model (offline/latency.py):
the report's `makespan_s` for the dev stack at N = 1 and N = 100 individual clones;
against the critical-path lower bound (the summed durations of the operations on the
report's critical path: work that cannot overlap, without any waiting between); and
against the modeled Packer-then-Terraform flow (bench/packer_model.py)."""

from __future__ import annotations

from typing import Any

from bench.packer_model import packer_then_terraform_s
from offline.arm import SimulatedArm
from offline.report import report_json
from offline.runner import load_stack, stack_file
from offline.runner import run as run_stack

COUNTS = (1, 100)
TARGET_N = 1.02  # makespan N=100 / N=1
TARGET_BOUND = 1.02  # makespan / critical-path lower bound


def simulate(count: int) -> dict[str, Any]:
    stack = load_stack(stack_file("dev"), "dev", [f"clones[0].count={count}"])
    result = run_stack(stack, SimulatedArm())
    if result.error or result.failures:
        raise RuntimeError(f"dev with {count} clones failed: {result.error or result.failures}")
    report = report_json(result)
    on_path = set(report["criticalPath"])
    bound = sum(o["end_s"] - o["start_s"] for o in report["operations"]
                if o["resource"] in on_path)
    spec = stack.pipeline
    build = spec["builds"][0]
    return {
        "n": count,
        "makespan_s": report["makespan_s"],
        "critical_path_s": bound,
        "critical_path": [u.rsplit("::", 1)[-1] for u in report["criticalPath"]],
        "packer_s": packer_then_terraform_s(
            count,
            customize_steps=len(build.get("customize", [])),
            replicate=any(r["name"] != stack.config["azure-native:location"]
                          for r in build.get("regions", [])),
        ),
    }


def run() -> dict[str, Any]:
    return {"points": [simulate(n) for n in COUNTS],
            "target_n": TARGET_N, "target_bound": TARGET_BOUND}
