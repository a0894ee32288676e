"""The policy pack applied by the offline runner: what `pulumi preview --policy-pack policy`
would report, from the registrations the simulated engine saw."""

from __future__ import annotations

import io
import json

import pytest
from conftest import by_name, run_offline, stack_config
from rich.console import Console

from offline.cli import main
from offline.policy_check import check_run, mandatory, resource_view
from vmimage.policy.rules import SECRET_SIG, SECRET_SIG_KEY


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), console=Console(file=out, width=400, highlight=False))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def win_run():
    return run_offline(stack_config("win"))


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_example_stacks_have_no_mandatory_violations(stack, win_run):
    result = win_run if stack == "win" else run_offline(stack_config(stack))
    assert not result.failures and not result.error
    violations = check_run(result)
    assert mandatory(violations) == [], [v.message for v in mandatory(violations)]
    # The examples follow the pack's advice (2 replicas where clones run); the Windows
    # stack knowingly shows the ReadWrite caching warning, and pays its Windows licences
    # by the hour (no licenseType: stacks/Pulumi.estate.yaml shows the other way).
    policies = {v.policy for v in violations}
    assert policies == ({"no-readwrite-data-disk-caching", "license-type-on-windows"}
                        if stack == "win" else set())


def test_generated_windows_password_reaches_vms_as_a_secret(win_run):
    """RandomPassword lists `result` in additionalSecretOutputs; the simulated engine must
    return it secret, as the real one does, or admin-password-secret would fire."""
    vms = [r for r in win_run.registrations if r.type == "azure-native:compute:VirtualMachine"]
    assert len(vms) == 3
    for vm in vms:
        assert vm.inputs["osProfile"].get(SECRET_SIG_KEY) == SECRET_SIG
        view = resource_view(vm)
        assert "osProfile" in view.secret_paths
    assert not [v for v in check_run(win_run) if v.policy == "admin-password-secret"]


def test_nics_carry_their_role():
    result = run_offline(stack_config("dev"))
    nics = by_name(result)
    assert nics["vmimage-v1-0-0-build-nic"].inputs["tags"]["vmimage-role"] == "build"
    clone_nic = nics["vmimage-clones-web-0-nic"].inputs["tags"]
    assert clone_nic["vmimage-role"] == "clone" and clone_nic["vmimage-clone-group"] == "web"


def test_clean_run_prints_policy_and_reports_violations(tmp_path):
    report = tmp_path / "report.json"
    code, text = cli("up", "--stack", "dev", "--report-json", str(report),
                     "--set", "builds[0].regions[0].replicas=1")
    assert code == 0, text
    assert "Policy" in text and "min-replicas-where-clones-run" in text and "advisory" in text
    found = json.loads(report.read_text())["policyViolations"]
    assert found and {v["enforcement"] for v in found} == {"advisory"}
    assert set(found[0]) == {"policy", "enforcement", "urn", "message"}


def test_public_ip_is_a_mandatory_violation_and_fails_the_run(tmp_path):
    report = tmp_path / "report.json"
    code, text = cli("up", "--stack", "dev", "--set", "network.publicIp=true",
                     "--report-json", str(report))
    assert code == 1
    assert "no-public-ip-on-clones" in text and "mandatory" in text
    assert "mandatory policy violation" in text and "--no-policy" in text
    found = json.loads(report.read_text())["policyViolations"]
    public = [v for v in found if v["policy"] == "no-public-ip-on-clones"]
    assert public and all(v["enforcement"] == "mandatory" for v in public)
    # Three clone NICs and three public IPs; the build NIC never gets one.
    assert len(public) == 6
    assert not any("build" in v["urn"] for v in public)


def test_quiet_prints_only_mandatory_findings():
    code, text = cli("up", "--stack", "dev", "--set", "network.publicIp=true", "--quiet")
    assert code == 1
    assert "no-public-ip-on-clones" in text
    assert "min-replicas-where-clones-run" not in text


def test_no_policy_lets_the_run_pass(tmp_path):
    report = tmp_path / "report.json"
    code, text = cli("up", "--stack", "dev", "--set", "network.publicIp=true", "--no-policy",
                     "--report-json", str(report))
    assert code == 0, text
    assert "no-public-ip-on-clones" not in text
    assert "policyViolations" not in json.loads(report.read_text())
