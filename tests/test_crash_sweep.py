"""A crash at every operation of a batched version bump (health-gated or not, with a
validated build) converges when run again with the same --state: what Azure holds at
the end is exactly what a run that never crashed leaves, nothing orphaned, and a third
run has nothing to do. Slow (a run pair per crash point): `make crash-sweep`, in CI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import alive_in_arm, batched, copy_state, stack_config, version_bump

from offline.faults import FaultPlan
from offline.up import UpResult, up

pytestmark = pytest.mark.crash_sweep


def vm_states(result: UpResult) -> dict[str, Any]:
    alive = alive_in_arm(result.run.arm)
    return {k: t.final() for k, t in result.run.arm.vms.items() if k in alive}


@pytest.mark.parametrize("health", [True, False], ids=["health-gated", "batched"])
def test_a_crash_at_every_operation_of_a_version_bump_converges(health: bool,
                                                                tmp_path: Path) -> None:
    first = stack_config("dev", batched(health=health))
    bumped = stack_config("dev", version_bump(batched(health=health)))
    base = tmp_path / "base.json"
    assert up(first, state_path=base).ok
    reference = up(bumped, state_path=copy_state(base, tmp_path / "reference.json"))
    assert reference.ok, (reference.run.failures, reference.run.error)
    expected, states = alive_in_arm(reference.run.arm), vm_states(reference)
    operations = len(reference.run.operations)
    assert any(o.op == "delete" for o in reference.run.operations[-3:]), \
        "the sweep reaches the deletes at the end"
    diverged = []
    for crash_after in range(1, operations + 1):
        state = copy_state(base, tmp_path / f"crash-{crash_after}.json")
        plan = FaultPlan.parse(f"crash-after={crash_after}")
        crashed = up(bumped, faults=plan, state_path=state)
        assert plan.crashed is not None and not crashed.ok and crashed.saved, crash_after
        rerun = up(bumped, state_path=state)
        if not rerun.ok or alive_in_arm(rerun.run.arm) != expected \
                or vm_states(rerun) != states:
            diverged.append((crash_after, [f.message for f in rerun.run.failures],
                             rerun.run.error,
                             sorted(set(alive_in_arm(rerun.run.arm)) ^ set(expected))))
            continue
        third = up(bumped, state_path=state)
        if {c.action for c in third.changes or []} != {"same"}:
            diverged.append((crash_after, "third run not all same"))
    assert diverged == []
