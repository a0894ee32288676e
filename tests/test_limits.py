"""What bounds Azure besides durations (offline/limits.py): ARM's write throttling, the
compute provider's VM PUT limit, and what an image's replicas serve at once; and the
simulated fleet that follows from them."""

from __future__ import annotations

import pytest
from conftest import load_stack_dict

from offline.arm import SimulatedArm
from offline.latency import LatencyModel
from offline.limits import Capacity, SlidingWindow, waves
from offline.runner import StackConfig, run
from vmimage.vocabulary import VIRTUAL_MACHINE


def test_a_sliding_window_admits_at_most_its_limit_per_window() -> None:
    window = SlidingWindow(limit=3, window_s=10.0)
    starts = [window.admit(0.0) for _ in range(7)]
    assert starts == [0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 20.0]
    for t in starts:
        assert sum(1 for s in starts if t - 10.0 < s <= t) <= 3
    assert window.admit(35.0) == 35.0  # the window has emptied


def test_capacity_starts_an_operation_when_a_slot_frees() -> None:
    slots = Capacity(2)
    assert [slots.admit(0.0, 100.0) for _ in range(5)] == [0.0, 0.0, 100.0, 100.0, 200.0]
    assert slots.admit(150.0, 10.0) == 200.0
    assert waves(1000, 20) == 50 and waves(1000, 1000) == 1 and waves(0, 20) == 1


def fleet(count: int, replicas: int | str, *, kind: str = "vm",
          model: LatencyModel | None = None) -> tuple[float, list[float]]:
    config = load_stack_dict("dev")
    pipeline = config["vmimage:pipeline"]
    pipeline["network"]["subnetPrefix"] = "10.42.4.0/22"
    pipeline["builds"][0]["regions"] = [{"name": "westeurope", "replicas": replicas}]
    pipeline["clones"] = [{"name": "web", "count": count, "version": "1.0.0",
                           "size": "Standard_B2s", "kind": kind}]
    result = run(StackConfig("dev", config), SimulatedArm(model or LatencyModel()))
    assert not (result.failures or result.error), result.error or result.failures
    clones = [r for r in result.registrations if r.type == VIRTUAL_MACHINE and "clone" in r.name]
    return max(r.end_s for r in result.registrations), [r.end_s - r.start_s for r in clones]


def test_one_replica_serves_twenty_creations_at_a_time() -> None:
    """100 clones from 1 replica come in 5 waves; from 5 replicas, in one."""
    one, durations_one = fleet(100, 1)
    five, durations_five = fleet(100, 5)
    vm_create = LatencyModel()("vm.create")
    assert one > five
    assert max(durations_one) >= 5 * vm_create > max(durations_five)
    assert one - five >= 4 * vm_create - 30  # four extra waves, less the write throttling


def test_auto_replicas_are_what_a_fleet_needs() -> None:
    auto, _ = fleet(100, "auto")
    five, _ = fleet(100, 5)
    assert auto == five


def test_writes_beyond_the_bucket_wait_for_tokens() -> None:
    """100 clones are 100 VM PUTs at once once the image is there (their NICs came long
    before): ARM's bucket of 200 holds them, a bucket of 50 does not (the rest wait for
    its refill, 10 a second)."""
    arm = SimulatedArm(LatencyModel())
    assert arm.writes.limit == 200 and arm.writes.window_s == 20.0
    vm_create = LatencyModel()("vm.create")
    _, durations = fleet(100, 5)
    assert max(durations) == vm_create
    _, throttled = fleet(100, 5, model=LatencyModel({"arm.writeBucket": 50}))
    assert max(throttled) > vm_create


@pytest.mark.parametrize(("replicas", "slower"), [(1, True), ("auto", False)])
def test_a_scale_set_boots_in_waves_of_what_its_replicas_serve(replicas: int | str,
                                                             slower: bool) -> None:
    makespan, _ = fleet(1000, replicas, kind="scaleSet")
    small, _ = fleet(1, replicas, kind="scaleSet")
    model = LatencyModel()
    assert (makespan - small > 10 * model("vmss.create")) == slower
