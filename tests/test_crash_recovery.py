"""Faults across runs: a run killed after K operations, re-run against the same
state file, converges to the state of a clean run: no second generalize of the same VM,
no recapture, nothing protected deleted, no orphaned disk or NIC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    alive_in_arm,
    batched,
    copy_state,
    load_stack_dict,
    stack_config,
    version_bump,
)

from offline.faults import FaultPlan
from offline.runner import StackConfig
from offline.up import UpResult, up
from vmimage.vocabulary import NIC, RANDOM_PASSWORD, VIRTUAL_MACHINE


def clean_run(stack: str, tmp: Path) -> UpResult:
    result = up(StackConfig(stack, load_stack_dict(stack)), state_path=tmp / "clean.json")
    assert result.ok
    return result


def alive_resources(result: UpResult) -> dict[str, str]:
    """Azure resources that exist at the end, by id -> type."""
    return {r.id.lower(): r.token for r in result.run.arm.resources.values()
            if r.deleted_at is None}


def final_vm_states(result: UpResult) -> dict[str, Any]:
    arm = result.run.arm
    return {vm_id: arm.vms[vm_id].final() for vm_id in sorted(arm.vms)
            if arm.resources[vm_id].deleted_at is None}


@pytest.mark.parametrize(("stack", "crash_after"), [
    ("dev", 3),    # during the foundation
    ("dev", 9),    # around the build VM and its scripts
    ("dev", 11),   # inside the Generalize step (after deallocate, before generalize)
    ("win", 12),   # inside the Windows Generalize step
    ("dev", 14),   # during the clones
])
def test_crashed_run_converges_on_rerun(stack: str, crash_after: int, tmp_path: Path) -> None:
    reference = clean_run(stack, tmp_path)
    state = tmp_path / "state.json"
    config = StackConfig(stack, load_stack_dict(stack))
    plan = FaultPlan.parse(f"crash-after={crash_after}", seed=1)
    crashed = up(config, faults=plan, state_path=state)
    assert plan.crashed is not None and not crashed.ok
    assert crashed.saved, "what was done before the crash must be kept"
    done_before = len(json.loads(state.read_text())["resources"])
    assert 0 < done_before

    rerun = up(config, state_path=state)
    assert rerun.ok, (rerun.run.failures, rerun.run.error)
    assert alive_resources(rerun) == alive_resources(reference)
    assert final_vm_states(rerun) == final_vm_states(reference)
    # One generalize per build VM over both runs, one capture per version.
    assert list(rerun.run.arm.generalize_posts.values()) == [1]
    captures = [o for o in crashed.run.operations + rerun.run.operations
                if o.resource.endswith("-capture-version") and o.op in ("create", "replace")]
    assert len(captures) == 1
    # Nothing deleted, so nothing protected lost and no orphan left behind.
    assert not [c for c in rerun.changes if c.action in ("delete", "replace")]
    leased = set(rerun.run.arm.leases)
    nics = {i for i, t in alive_resources(rerun).items()
            if t == "azure-native:network:NetworkInterface"}
    assert nics <= leased, "every NIC belongs to a VM"
    # A third run has nothing left to do.
    third = up(config, state_path=state)
    assert {c.action for c in third.changes} == {"same"}


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_crash_between_deallocate_and_generalize(stack: str, tmp_path: Path) -> None:
    """The window Packer users know: the VM is deallocated but not yet generalized."""
    reference = clean_run(stack, tmp_path)
    order = [o.op for o in reference.run.operations]  # in the order they completed
    crash_after = order.index("deallocate") + 1
    state = tmp_path / "state.json"
    config = StackConfig(stack, load_stack_dict(stack))
    crashed = up(config, faults=FaultPlan.parse(f"crash-after={crash_after}"), state_path=state)
    assert not crashed.ok
    saved = json.loads(state.read_text())
    (timeline,) = saved["arm"]["vms"].values()
    assert timeline["states"][-1] == ["deallocated", "specialized"]
    assert saved["arm"]["generalizePosts"] == {}

    rerun = up(config, state_path=state)
    assert rerun.ok
    assert list(rerun.run.arm.generalize_posts.values()) == [1]
    assert [o.op for o in rerun.run.operations if o.op in ("deallocate", "generalize")] == [
        "generalize"
    ], "converges without deallocating again"
    assert final_vm_states(rerun) == final_vm_states(reference)


def test_build_changed_before_capture_is_rebuilt_and_generalized_again(tmp_path: Path) -> None:
    """A build VM replaced under its fixed name (delete before replace) is a new VM: its
    unique id changes, so Generalize runs again for it; the capture then uses it."""
    reference = clean_run("dev", tmp_path)
    order = [o.resource.rsplit("::", 1)[-1] + ":" + o.op for o in reference.run.operations]
    crash_after = order.index("vmimage-v1-0-0-generalize:generalize") + 1
    state = tmp_path / "state.json"
    config = load_stack_dict("dev")
    crashed = up(StackConfig("dev", config), faults=FaultPlan.parse(f"crash-after={crash_after}"),
                 state_path=state)
    assert not crashed.ok
    # Another base image: an immutable property, so the build VM must be replaced.
    config["vmimage:pipeline"]["builds"][0]["from"]["marketplace"]["version"] = \
        "24.04.202501140"
    rerun = up(StackConfig("dev", config), state_path=state)
    assert rerun.ok, (rerun.run.failures, rerun.run.error, rerun.config_problems)
    actions = {c.urn.rsplit("::", 1)[-1]: (c.action, c.properties) for c in rerun.changes}
    assert actions["vmimage-v1-0-0-build-vm"] == (
        "replace", ("storageProfile.imageReference.version",))
    # The crash came before Generalize was recorded, so it is created for the new VM.
    assert actions["vmimage-v1-0-0-generalize"] == ("create", ())
    vm_ops = [o.op for o in rerun.run.operations if o.resource.endswith("build-vm")]
    assert vm_ops == ["delete", "replace"], "the old build VM frees its name first"
    assert list(rerun.run.arm.generalize_posts.values()) == [2], "the new VM is generalized too"
    capture = next(r for r in rerun.run.registrations if r.name.endswith("capture-version"))
    assert capture.state == "succeeded"


def crash_at(config: StackConfig, state: Path, op: str, resource: str) -> UpResult:
    """Run `config` killed right after the operation `op` of the resource named
    `resource` (as a clean run from `state` orders them): a run from a copy of `state`."""
    reference = up(config, state_path=copy_state(state, state.with_name("reference.json")))
    order = [(o.resource.rsplit("::", 1)[-1], o.op) for o in reference.run.operations]
    plan = FaultPlan.parse(f"crash-after={order.index((resource, op)) + 1}")
    crashed = up(config, faults=plan, state_path=state)
    assert plan.crashed is not None and crashed.saved
    return reference


def test_a_crash_between_a_replacement_and_its_predecessors_delete_orphans_nothing(
        tmp_path: Path) -> None:
    """Pulumi's checkpoint keeps a replaced resource marked `delete: true` until its
    delete is done; the next update deletes it."""
    state = tmp_path / "state.json"
    assert up(stack_config("dev"), state_path=state).ok
    bumped = load_stack_dict("dev")
    bumped["vmimage:pipeline"] = version_bump(bumped["vmimage:pipeline"])
    config = StackConfig("dev", bumped)
    # after every replacement and the first delete: the other old clones still run
    reference = clean_bump(config, state)
    first_delete = next(i for i, o in enumerate(reference.run.operations) if o.op == "delete")
    plan = FaultPlan.parse(f"crash-after={first_delete + 1}")
    crashed = up(config, faults=plan, state_path=state)
    assert not crashed.ok and plan.crashed is not None
    saved = json.loads(state.read_text())
    pending = {r["id"].rsplit("/", 1)[-1] for r in saved["resources"] if r.get("delete")}
    old_clones = {r.name for r in crashed.run.arm.resources.values()
                  if r.token == VIRTUAL_MACHINE and r.name.startswith("web-1-0-0-")
                  and r.deleted_at is None}
    assert len(old_clones) >= 2 and old_clones <= pending
    rerun = up(config, state_path=state)
    assert rerun.ok, (rerun.run.failures, rerun.run.error)
    assert not {r.name for r in rerun.run.arm.resources.values() if r.deleted_at is None} \
        & old_clones
    assert alive_in_arm(rerun.run.arm) == alive_in_arm(reference.run.arm)
    assert not [r for r in json.loads(state.read_text())["resources"] if r.get("delete")]


def clean_bump(config: StackConfig, state: Path) -> UpResult:
    return up(config, state_path=copy_state(state, state.with_name("probe.json")))


def test_a_crash_among_the_last_deletes_is_kept_and_finished_next_run(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    assert up(stack_config("dev"), state_path=state).ok
    config = stack_config("dev", version_bump(load_stack_dict("dev")["vmimage:pipeline"]))
    probe = clean_bump(config, state)
    deletes = [i for i, o in enumerate(probe.run.operations) if o.op == "delete"]
    assert len(deletes) >= 2
    plan = FaultPlan.parse(f"crash-after={deletes[0] + 1}")
    crashed = up(config, faults=plan, state_path=state)
    assert plan.crashed is not None and not crashed.ok and crashed.saved
    rerun = up(config, state_path=state)
    assert rerun.ok, (rerun.run.failures, rerun.run.error)
    assert alive_in_arm(rerun.run.arm) == alive_in_arm(probe.run.arm)


def test_a_health_gated_rollout_crashed_mid_batch_passes_its_gate_on_the_rerun(
        tmp_path: Path) -> None:
    """The Application Health extension's state is Azure's: it is saved with the rest."""
    state = tmp_path / "state.json"
    assert up(stack_config("dev", batched(health=True, validate=False)), state_path=state).ok
    config = stack_config("dev", version_bump(batched(health=True, validate=False)))
    reference = crash_at(config, state, "replace", "vmimage-clones-web-1-health")
    assert json.loads(state.read_text())["arm"]["healthyAt"]
    rerun = up(config, state_path=state)
    assert rerun.ok, (rerun.run.failures, rerun.run.error)
    assert alive_in_arm(rerun.run.arm) == alive_in_arm(reference.run.arm)


def test_throttling_never_touches_what_makes_no_azure_call(tmp_path: Path) -> None:
    plan = FaultPlan.parse("throttle=0.5", seed=3)
    result = up(stack_config("dev"), faults=plan)
    assert result.ok and plan.retries
    assert not [r for r in plan.retries if r.where == RANDOM_PASSWORD]
    assert {r.where for r in plan.retries} - {RANDOM_PASSWORD}


def test_private_addresses_are_never_shared_across_runs(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    assert up(stack_config("dev"), state_path=state).ok
    config = stack_config("dev", version_bump(load_stack_dict("dev")["vmimage:pipeline"]))
    result = up(config, state_path=state)
    assert result.ok
    arm = result.run.arm
    held: list[str] = []
    for r in arm.resources.values():
        if r.token == NIC and r.deleted_at is None:
            held += [c["privateIPAddress"] for c in r.outputs["ipConfigurations"]]
    assert len(held) == len(set(held)) >= 3
    assert any(r.token == VIRTUAL_MACHINE for r in arm.resources.values())
