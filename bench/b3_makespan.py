"""B3 pipeline wall time on Azure, under the simulator's model (offline/latency.py for
durations, offline/limits.py for what bounds a fleet: ARM's write throttling, the compute
provider's VM PUT limit, and the VM creations an image replica serves at once).

The dev stack at N = 1 and 100 individual clones and N = 1,000 in a scale set, each with
the image replicated once in the clones' region and with `replicas: auto`. Each makespan
is set against a lower bound computed from the model's parameters alone (the pipeline's
chain of operations that cannot overlap, then the clones in the waves their replicas
allow), not from the schedule the simulator made; and the N = 1 and 100 runs against the
modeled Packer-then-Terraform flow (bench/packer_model.py).
"""

from __future__ import annotations

import math
from typing import Any

from bench import clone_overrides
from bench.packer_model import packer_then_terraform_s
from offline.arm import SimulatedArm
from offline.latency import LatencyModel
from offline.limits import waves
from offline.report import report_json
from offline.runner import load_stack, stack_file
from offline.runner import run as run_stack
from offline.secrets import unwrap
from vmimage.vocabulary import GALLERY_IMAGE_VERSION

POINTS = ((1, "vm"), (100, "vm"), (1000, "scaleSet"))
REPLICAS = (1, "auto")
TARGET_BOUND = 1.05  # makespan / model bound: what scheduling and polling add


def lower_bound(count: int, kind: str, replicas: int, model: LatencyModel) -> float:
    """The dev stack's makespan can be no shorter: its build chain (each step waits for
    the one before), then the clones, in waves of what the replicas serve at once."""
    chain = (model("resourceGroup.create") + 2 * model("network.create")  # VNet, subnet
             + model("nic.create") + model("vm.create") + model("runCommand.customize")
             + model("runCommand.deprovision") + model("guest.deprovision")
             + model("vm.deallocate") + model("vm.generalize")
             + model("galleryImageVersion.capture") + model("galleryImageVersion.replicate"))
    per_wave = replicas * int(model("gallery.createsPerReplica"))
    if kind == "scaleSet":
        clones = model("vmss.create") * waves(count, per_wave) \
            + model("vmss.instance") * (count - 1)
    else:
        # Creations are bounded by the replicas' waves and by ARM's write tokens.
        refill = model("arm.writeRefillPerSecond")
        throttled = max(0.0, count - model("arm.writeBucket")) / refill
        clones = max(model("vm.create") * waves(count, per_wave),
                     throttled + model("vm.create"))
    return chain + clones


def simulate(count: int, kind: str, replicas: int | str) -> dict[str, Any]:
    overrides = [*clone_overrides(count, kind),
                 f"builds[0].regions[0]={{name: westeurope, replicas: {replicas}}}"]
    stack = load_stack(stack_file("dev"), "dev", overrides)
    model = LatencyModel()
    result = run_stack(stack, SimulatedArm(model))
    if result.error or result.failures:
        raise RuntimeError(f"dev with {count} clones failed: {result.error or result.failures}")
    report = report_json(result)
    resolved = _replicas_in(result, "westeurope")  # what `auto` came to
    build = stack.pipeline["builds"][0]
    return {
        "n": count, "kind": kind, "replicas": replicas, "replicas_resolved": resolved,
        "makespan_s": report["makespan_s"],
        "bound_s": lower_bound(count, kind, resolved, model),
        "critical_path": [u.rsplit("::", 1)[-1] for u in report["criticalPath"]],
        "packer_s": packer_then_terraform_s(
            count, customize_steps=len(build.get("customize", [])),
            replicate=any(r["name"] != stack.config["azure-native:location"]
                          for r in build.get("regions", []))) if kind == "vm" else math.nan,
    }


def _replicas_in(result: Any, region: str) -> int:
    (version,) = [r for r in result.registrations if r.type == GALLERY_IMAGE_VERSION]
    targets = unwrap(version.inputs)["publishingProfile"]["targetRegions"]
    return next(int(t["regionalReplicaCount"]) for t in targets if t["name"] == region)


def run() -> dict[str, Any]:
    points = [simulate(n, kind, replicas) for n, kind in POINTS for replicas in REPLICAS]
    return {"points": points, "target_bound": TARGET_BOUND}
