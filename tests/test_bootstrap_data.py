"""Clone bootstrap data (#27): `clones[].userData` and `clones[].customData` from a project
file or inline, rendered with typed vars, checked against Azure's limits by key path,
registered base64-encoded as Pulumi secrets on VMs and the scale set's VM profile, and
never written in clear to state, report or plan (which shows a digest)."""

from __future__ import annotations

import base64
import copy
import hashlib
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import load_pipeline, offline_cli, problems_of, run_offline, stack_config
from pulumi_azure_native import compute

from offline.arm import ArmError, SimulatedArm
from offline.secrets import unwrap
from vmimage.azure.limits import MAX_CUSTOM_DATA_BYTES, MAX_USER_DATA_BASE64_CHARS
from vmimage.config.bootstrap import BootstrapData, digest, rendered, size_problem
from vmimage.config.values import parse_project_path

VM = "azure-native:compute:VirtualMachine"
VMSS = "azure-native:compute:VirtualMachineScaleSet"
MARKER = "PLANTED-bootstrap-marker-5e1f"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret_at(reg: Any, *path: str) -> Any:
    """The plain input at `path`, asserting that it sits under a secret marker (Pulumi
    marks the enclosing top-level property secret)."""
    wanted = ".".join(path)
    assert any(wanted == p or wanted.startswith(p + ".") for p in reg.secret_paths), wanted
    value = unwrap(reg.inputs)
    for key in path:
        value = value[key]
    return value


def estate_with(**clone_keys: Any) -> dict[str, Any]:
    """The estate pipeline, its first clone group (VMs) given `clone_keys`."""
    pipeline = copy.deepcopy(load_pipeline("estate"))
    pipeline["clones"][0].update(clone_keys)
    return pipeline


# -- the typed path -------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["bootstrap/app-settings.json.j2", "a", "x_y/z-1.yaml"])
def test_a_project_path_is_kept_as_written(good):
    assert parse_project_path(good) == good


@pytest.mark.parametrize("bad", ["/etc/shadow", "../secrets.yaml", "bootstrap/../../x",
                                 "./a", "a//b", "C:/x", "a\\b", ".hidden", "a/"])
def test_a_project_path_never_leaves_the_project(bad):
    with pytest.raises(ValueError):
        parse_project_path(bad)


def test_a_path_outside_the_project_is_refused_at_its_key():
    found = problems_of({**estate_with(customData={"file": "../etc/passwd"})})
    assert any(p.startswith("clones[0].customData.file") for p in found), found


# -- SDK names ------------------------------------------------------------------------------


def test_azure_native_takes_the_names_the_program_sets():
    def takes(args: type, name: str) -> bool:
        return name in inspect.signature(args.__init__).parameters

    assert takes(compute.VirtualMachineArgs, "user_data")
    assert takes(compute.OSProfileArgs, "custom_data")
    assert takes(compute.VirtualMachineScaleSetVMProfileArgs, "user_data")
    assert takes(compute.VirtualMachineScaleSetOSProfileArgs, "custom_data")


# -- registration ---------------------------------------------------------------------------


def test_the_estate_registers_base64_of_the_rendered_text_as_secrets():
    run = run_offline(stack_config("estate"))
    vms = [r for r in run.registrations
           if r.type == VM and str(r.inputs["vmName"]).startswith("app-")]
    assert len(vms) == 2
    settings = ('{"environment": "prod", "joinUrl": "https://registry.contoso.example/join", '
                '"os": "windows"}')
    for vm in vms:
        custom = secret_at(vm, "osProfile", "customData")
        assert base64.b64decode(custom).decode().strip() == settings
        assert "userData" not in vm.inputs  # not set for this group
    (vmss,) = [r for r in run.registrations if r.type == VMSS]
    assert secret_at(vmss, "virtualMachineProfile", "userData") == b64("role=web\n")
    assert "customData" not in unwrap(vmss.inputs)["virtualMachineProfile"]["osProfile"]


def test_a_group_without_bootstrap_data_registers_none():
    run = run_offline(stack_config("win"))
    for reg in run.registrations:
        if reg.type == VM:
            assert "userData" not in reg.inputs, reg.name
            assert "customData" not in unwrap(reg.inputs)["osProfile"], reg.name
            assert "vmimage-bootstrap" not in unwrap(reg.inputs).get("tags", {}), reg.name


# -- rendering and its problems -------------------------------------------------------------


def test_inline_text_keeps_its_whitespace_and_renders_strictly():
    data = BootstrapData.model_validate({"inline": "  #cloud-config\n{{ a }}\n", "vars": {"a": 1}})
    assert rendered(data, "linux") == "  #cloud-config\n1\n"
    assert digest(data, "linux") == hashlib.sha256(b"  #cloud-config\n1\n").hexdigest()[:12]


def test_every_problem_of_the_bootstrap_data_is_named_by_its_key():
    pipeline = estate_with(
        customData={"file": "bootstrap/app-settings.json.j2",
                    "vars": {"environment": 3, "joinUrl": "https://x.example/j"}},
        userData={"inline": "{{ missing }}"})
    pipeline["clones"][1]["userData"] = {"file": "bootstrap/none.yaml", "inline": "x"}
    found = problems_of(pipeline)
    assert "clones[0].customData.vars.environment: expected a string, got a number" in found
    assert any(p.startswith("clones[0].userData: inline:") and "missing" in p
               for p in found), found
    assert "clones[1].userData: give exactly one of file or inline" in found


def test_a_missing_file_is_reported_at_its_key():
    found = problems_of(estate_with(userData={"file": "bootstrap/absent.yaml"}))
    assert any(p.startswith("clones[0].userData.file:") and "not a file" in p
               for p in found), found


def test_size_limits_are_azures_per_key():
    at_limit = "x" * MAX_CUSTOM_DATA_BYTES
    assert size_problem("customData", at_limit) is None
    assert size_problem("customData", at_limit + "x") is not None
    # userData: the base64 text, at most 64 KiB: 49,152 bytes encode to exactly 65,536
    fits = "y" * (MAX_USER_DATA_BASE64_CHARS // 4 * 3)
    assert len(b64(fits)) == MAX_USER_DATA_BASE64_CHARS
    assert size_problem("userData", fits) is None
    assert size_problem("userData", fits + "y") is not None
    # the same text is fine as customData: the limits differ by key
    assert size_problem("customData", fits + "y") is None


def test_oversized_data_is_refused_by_key_path_before_anything_registers():
    found = problems_of(estate_with(
        customData={"inline": "c" * (MAX_CUSTOM_DATA_BYTES + 1)},
        userData={"inline": "{{ 'u' * n }}", "vars": {"n": 49_153}}))
    assert [p for p in found if "Azure takes at most" in p] == [
        "clones[0].userData: renders to 49,153 bytes, 65,540 as base64; Azure takes at most "
        "65,536 (64 KB)",
        "clones[0].customData: renders to 65,536 bytes; Azure takes at most 65,535 "
        "(decoded customData)"]


def test_bad_bootstrap_data_exits_2_and_names_the_key():
    code, _, err = offline_cli("up", "--stack", "estate", "--quiet",
                               "--set", "clones[1].userData.inline={{ nope }}")
    assert code == 2
    assert "clones[1].userData" in err and "Traceback" not in err


@pytest.mark.parametrize("where, value, says", [
    ("customData", b64("c" * (MAX_CUSTOM_DATA_BYTES + 1)), "Custom data exceeds"),
    ("userData", b64("u" * (MAX_USER_DATA_BASE64_CHARS // 4 * 3 + 1)), "User data exceeds"),
    ("userData", "not base64!", "'userData' is not valid base64"),
])
def test_the_simulator_refuses_what_azure_refuses(where, value, says):
    arm = SimulatedArm()
    arm.put("azure-native:resources:ResourceGroup",
            {"resourceGroupName": "rg", "location": "westeurope"}, 0)
    os_profile: dict[str, Any] = {"computerName": "vm-a", "adminUsername": "u",
                                  "adminPassword": "Pa55word!Pa55word",
                                  "windowsConfiguration": {}}
    inputs: dict[str, Any] = {"resourceGroupName": "rg", "vmName": "vm-a",
                              "location": "westeurope", "osProfile": os_profile}
    (os_profile if where == "customData" else inputs)[where] = value
    with pytest.raises(ArmError) as caught:
        arm.put(VM, inputs, 100)
    assert (caught.value.status, caught.value.code) == (400, "InvalidParameter")
    assert says in caught.value.message
    # within the limits, the same VM is created
    (os_profile if where == "customData" else inputs)[where] = b64("x" * 100)
    arm.put(VM, inputs, 200)


# -- nothing in clear -----------------------------------------------------------------------


@pytest.mark.parametrize("stack, sets", [
    # Windows: the password already makes osProfile and the VM profile secret
    ("estate", [f"clones[1].userData.inline={MARKER}"]),
    # Linux with an SSH key: no password, so only the data's own secrecy hides it
    ("dev", [f"clones[0].userData.inline={MARKER}",
             f"clones[0].customData.inline='#cloud-config {MARKER}'"]),
])
def test_state_report_and_plan_hold_a_digest_never_the_content(tmp_path: Path, stack, sets):
    state, report, plan = (tmp_path / "s.json", tmp_path / "r.json", tmp_path / "p.md")
    code, out, err = offline_cli(
        "up", "--stack", stack, "--quiet", "--state", str(state),
        "--report-json", str(report), "--markdown", str(plan),
        *[arg for value in sets for arg in ("--set", value)])
    assert code == 0, err
    text = {p.name: p.read_text() for p in (state, report, plan)}
    text["stdout"] = "\n".join(out) + err
    for name, content in text.items():
        assert MARKER not in content, name
        assert b64(MARKER) not in content, name
        assert "registry.contoso.example" not in content, name  # the file's rendered var
    shown = hashlib.sha256(MARKER.encode()).hexdigest()[:12]
    assert f"userData={shown}" in text["p.md"]
    # state: the scale set's VM profile is a secret in inputs and outputs alike
    assert json.loads(state.read_text())  # well-formed
