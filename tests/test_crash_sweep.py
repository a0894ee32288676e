"""A crash at every operation of a batched version bump (health-gated or not, with a
validated build) converges when run again with the same --state: what Azure holds at
the end is exactly what a run that never crashed leaves, nothing orphaned, and a third
run has nothing to do (but record a publication: `records_publication`). Slow (a run
pair per crash point): `make crash-sweep`, in CI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import (
    alive_in_arm,
    batched,
    copy_state,
    left_to_do,
    stack_config,
    version_bump,
)

from offline.arm.tenancy import add_existing
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
        if left_to_do(third.changes):
            diverged.append((crash_after, "third run not all same",
                             [c.as_json() for c in left_to_do(third.changes)]))
    assert diverged == []


def test_a_crash_at_every_operation_of_a_vhd_export_converges(tmp_path: Path) -> None:
    """The import stack exports 1.1.0's disks: a crash after each of the export's REST
    calls (grant, copy, revoke) converges, copying no disk twice, access revoked."""
    existing = [
        "/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups/"
        "rg-vmimage-uploads/providers/Microsoft.Storage/storageAccounts/stvmimageimport"]

    def tenant(arm: Any) -> None:
        for resource_id in existing:
            add_existing(arm, resource_id, region="westeurope")

    config = stack_config("import")
    reference = up(config, tenant=tenant, state_path=tmp_path / "reference.json")
    assert reference.ok, (reference.run.failures, reference.run.error)
    points = [i + 1 for i, o in enumerate(reference.run.operations)
              if "ExportVhd" in o.resource]
    assert len(points) >= 9
    blobs = set(reference.run.arm.storage.blobs)
    diverged = []
    for crash_after in points:
        state = tmp_path / f"crash-{crash_after}.json"
        plan = FaultPlan.parse(f"crash-after={crash_after}")
        crashed = up(config, tenant=tenant, faults=plan, state_path=state)
        assert plan.crashed is not None and not crashed.ok, crash_after
        rerun = up(config, tenant=tenant, state_path=state)
        copies = crashed.run.arm.storage.copies + rerun.run.arm.storage.copies
        copied_twice = sorted(k for k, n in copies.items() if n != 1)
        if not rerun.ok or rerun.run.arm.disk_access or copied_twice or set(copies) != blobs \
                or rerun.run.outputs["vhdBlobs"] != reference.run.outputs["vhdBlobs"]:
            diverged.append((crash_after, rerun.run.error, copied_twice))
    assert diverged == []
