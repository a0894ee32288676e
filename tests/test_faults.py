"""`python -m offline up --faults SPEC --seed N`: transient faults are absorbed (same
result, more time), hard faults stop the run with a clear message, bad specs exit 2."""

from __future__ import annotations

import json
from functools import cache
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from offline.arm import ArmError, SimulatedCrash
from offline.faults import FaultPlan


def up(tmp_path: Path, stack: str, *extra: str) -> tuple[int, str, dict[str, Any] | None]:
    from offline.cli import main

    report = tmp_path / f"report-{stack}-{len(list(tmp_path.iterdir()))}.json"
    buffer = StringIO()
    code = main(["up", "--stack", stack, "--quiet", "--report-json", str(report), *extra],
                console=Console(file=buffer, width=200))
    data = json.loads(report.read_text()) if report.exists() else None
    return code, buffer.getvalue(), data


@cache
def clean(stack: str) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        code, output, report = up(Path(tmp), stack)
    assert code == 0, output
    assert report is not None
    return report


def final_states(report: dict[str, Any]) -> dict[str, str]:
    return {r["urn"]: r["state"] for r in report["resources"]}


def ops(report: dict[str, Any], op: str) -> list[dict[str, Any]]:
    return [o for o in report["operations"] if o["op"] == op]


@pytest.mark.parametrize("stack", ["dev", "win"])
@pytest.mark.parametrize("spec", ["throttle=0.3", "error5xx=0.2"])
def test_transient_faults_are_absorbed(tmp_path: Path, stack: str, spec: str) -> None:
    code, output, report = up(tmp_path, stack, "--faults", spec, "--seed", "7")
    assert code == 0, output
    assert report is not None
    baseline = clean(stack)
    assert final_states(report) == final_states(baseline)
    assert report["outputs"] == baseline["outputs"]
    # Every generalize happened once, as in the clean run.
    assert len(ops(report, "generalize")) == len(ops(baseline, "generalize"))
    faults = report["faults"]
    assert faults["retries"] > 0 and faults["retryDelay_s"] > 0
    assert report["makespan_s"] > baseline["makespan_s"]
    assert "absorbed by retries" in output


def test_same_seed_same_run(tmp_path: Path) -> None:
    first = up(tmp_path, "dev", "--faults", "throttle=0.3,error5xx=0.2", "--seed", "3")[2]
    second = up(tmp_path, "dev", "--faults", "throttle=0.3,error5xx=0.2", "--seed", "3")[2]
    assert first is not None and second is not None
    assert first["faults"] == second["faults"]
    assert first["makespan_s"] == second["makespan_s"]


def test_customize_fail_stops_with_the_script_output(tmp_path: Path) -> None:
    code, output, _ = up(tmp_path, "dev", "--faults", "customize-fail=1")
    assert code == 1
    assert "Traceback" not in output
    assert "customize-00-install-packages" in output  # the run command, by name
    assert "VMExtensionProvisioningError" in output
    assert "[stderr]" in output and "exit code 1" in output  # the script's output


def test_sysprep_hang_fails_without_touching_the_vm(tmp_path: Path) -> None:
    code, output, report = up(tmp_path, "win", "--faults", "sysprep-hang=1")
    assert code == 1
    assert "Panther" in output
    assert "Traceback" not in output
    if report is not None:  # written or not, nothing was deallocated or generalized
        assert not ops(report, "deallocate") and not ops(report, "generalize")


def test_sysprep_hang_report_has_no_deallocate(tmp_path: Path) -> None:
    """The same through the runner, whose operations are always at hand."""
    from conftest import stack_config

    from offline.arm import SimulatedArm
    from offline.runner import run

    result = run(stack_config("win"), SimulatedArm(faults=FaultPlan.parse("sysprep-hang=1", 0)))
    assert result.failures and "Panther" in result.failures[0].message
    assert not [o for o in result.operations if o.op in ("deallocate", "generalize")]
    build_vm = next(r for r in result.registrations
                    if r.type == "azure-native:compute:VirtualMachine")
    assert result.arm.vms[build_vm.id.lower()].final() == ("running", "specialized")


@pytest.mark.parametrize("k", [1, 5])
def test_crash_after_k_operations(tmp_path: Path, k: int) -> None:
    code, output, report = up(tmp_path, "dev", "--faults", f"crash-after={k}")
    assert code == 1
    # This run kept no state: nothing to converge, so no advice to re-run "with it".
    assert f"simulated crash after {k} operations; this run kept no state" in output
    assert "Traceback" not in output
    assert report is not None, "what was done before the crash is still reported"
    assert report["faults"]["crashedAfter"] == k


@pytest.mark.parametrize("spec", [
    "thrtle=0.3", "throttle", "throttle=1.5", "throttle=abc", "customize-fail=yes",
    "crash-after=0", "crash-after=-2", "throttle=0.1,throttle=0.2",
])
def test_bad_fault_spec_exits_2(spec: str) -> None:
    from offline.cli import main

    buffer = StringIO()
    code = main(["up", "--stack", "dev", "--faults", spec],
                console=Console(file=buffer, width=200))
    assert code == 2
    assert buffer.getvalue().startswith("error: --faults")


def test_parse() -> None:
    plan = FaultPlan.parse("throttle=0.3, error5xx=0.2,customize-fail=1,sysprep-hang=1,"
                           "crash-after=9", seed=4)
    assert (plan.throttle, plan.error5xx, plan.customize_fail, plan.sysprep_hang,
            plan.crash_after, plan.seed) == (0.3, 0.2, True, True, 9, 4)
    assert not FaultPlan.parse("", 0).active


def test_hooks_directly() -> None:
    plan = FaultPlan.parse("throttle=0.5,error5xx=0.5", seed=1)
    delays = [plan.before_call("azure-native:network:VirtualNetwork",
                               {"virtualNetworkName": f"v{i}"}) for i in range(50)]
    assert any(d > 0 for d in delays)
    assert len(plan.retries) >= sum(1 for d in delays if d > 0)
    canned = [plan.rest_fault("POST", f"/vm{i}/deallocate") for i in range(50)]
    statuses = {c[0] for c in canned if c is not None}
    assert statuses <= {429, 500, 503} and statuses
    assert all("Retry-After" in c[1] for c in canned if c is not None)

    failing = FaultPlan.parse("customize-fail=1", 0)
    failing.before_script("deprovision", "vm", step="deprovision")  # not a customize step
    with pytest.raises(ArmError):
        failing.before_script("customize-00-x", "vm", step="customize")
    failing.before_script("customize-01-y", "vm", step="customize")  # only the first fails

    crashing = FaultPlan.parse("crash-after=2", 0)
    crashing.after_operation(1)
    with pytest.raises(SimulatedCrash):
        crashing.after_operation(2)
    with pytest.raises(SimulatedCrash):  # a dead process makes no further calls
        crashing.before_call("x", {})


@pytest.mark.parametrize(("fault", "message"), [
    ("bitlocker=1", "BitLocker: C: is EncryptionInProgress, not FullyDecrypted"),
    ("pending-reboot=1", "a reboot is pending"),
])
def test_windows_checks_fail_the_run_within_minutes_with_their_message(
        tmp_path: Path, fault: str, message: str) -> None:
    code, output, report = up(tmp_path, "win", "--faults", fault)
    assert code == 1
    assert message in output and "failed before it began" in output
    assert "Traceback" not in output
    clean_report = clean("win")
    customized = max(o["end_s"] for o in clean_report["operations"]
                     if "-scripts-customize-" in o["resource"])
    assert report is not None
    failed_at = max(o["end_s"] for o in report["operations"])
    assert failed_at - customized < 5 * 60  # not after the hour-long wait
    assert not ops(report, "seal") and not ops(report, "deallocate")
