"""Runs that Azure's flakiness or a killed process cut short converge when run again with
the same state: heavy transient faults on every call (20 seeds per stack), and a crash
after every single operation of both stacks. Never more than one generalize per VM, and
the end state is the clean run's."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import load_stack_dict

from offline.faults import FaultPlan
from offline.runner import StackConfig
from offline.up import UpResult, up

HEAVY = "throttle=0.5,error5xx=0.3"
MAX_RUNS = 6
TRANSIENT_CODES = {"TooManyRequests", "ServiceUnavailable", "InternalServerError",
                   "GeneralizeFailed"}


def config(stack: str) -> StackConfig:
    return StackConfig(stack, load_stack_dict(stack))


def end_state(result: UpResult) -> dict[str, Any]:
    """What exists in the simulated Azure at the end: resources by type, VM states."""
    arm = result.run.arm
    alive = {r.id.lower(): r.token for r in arm.resources.values() if r.deleted_at is None}
    vms = {vm: arm.vms[vm].final() for vm in sorted(arm.vms) if vm in alive}
    return {"resources": alive, "vms": vms}


@cache
def clean(stack: str) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = up(config(stack), state_path=Path(tmp) / "clean.json")
        assert result.ok
        return {"end": end_state(result), "ops": len(result.run.operations)}


def converge(stack: str, state: Path, first: FaultPlan) -> tuple[UpResult, int]:
    """Run once with `first`, then again with the same state until a run succeeds."""
    result = up(config(stack), faults=first, state_path=state)
    runs = 1
    while not result.ok and runs < MAX_RUNS:
        assert result.saved, "a failed run keeps what it did"
        result = up(config(stack), state_path=state,
                    faults=FaultPlan.parse(HEAVY, seed=first.seed * 100 + runs)
                    if first.throttle else None)
        runs += 1
    return result, runs


def assert_converged(stack: str, result: UpResult) -> None:
    assert result.ok, (result.run.failures, result.run.error)
    assert end_state(result) == clean(stack)["end"]
    posts = result.run.arm.generalize_posts
    assert posts and set(posts.values()) == {1}, posts  # each build VM generalized once


@pytest.mark.parametrize("stack", ["dev", "win"])
@pytest.mark.parametrize("seed", range(20))
def test_heavy_transient_faults_converge(stack: str, seed: int, tmp_path: Path) -> None:
    plan = FaultPlan.parse(HEAVY, seed=seed)
    result, _ = converge(stack, tmp_path / "state.json", plan)
    assert_converged(stack, result)
    assert plan.retries  # the faults were there, and were absorbed or outlived


def test_a_run_that_fails_on_faults_reports_transient_refusals(tmp_path: Path) -> None:
    """When retries run out, the refusal is the transient one, not a broken state."""
    failed = []
    for seed in range(20):
        result = up(config("win"), faults=FaultPlan.parse(HEAVY, seed=seed),
                    state_path=tmp_path / f"{seed}.json")
        failed += [f.code for f in result.run.failures]
    assert set(failed) <= TRANSIENT_CODES, set(failed)


def crash_points(stack: str) -> list[tuple[str, int]]:
    return [(stack, k) for k in range(1, clean(stack)["ops"] + 1)]


@pytest.mark.parametrize(("stack", "k"), [*crash_points("dev"), *crash_points("win")])
def test_a_crash_after_any_operation_converges(stack: str, k: int, tmp_path: Path) -> None:
    plan = FaultPlan.parse(f"crash-after={k}", seed=0)
    result, runs = converge(stack, tmp_path / "state.json", plan)
    assert plan.crashed is not None, f"the run has fewer than {k} operations"
    assert runs == 2  # the crashed run, then one that finishes
    assert_converged(stack, result)
