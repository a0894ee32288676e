"""Azure Hybrid Benefit (#27): `licenseType` on builds and clone groups, typed, checked
against the image's OS, registered on every VM and scale set of its build or group, refused
by the simulator when it is not one Azure knows, and the `license-type-on-windows` policy."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from conftest import load_pipeline, offline_cli, run_offline, stack_config
from pulumi_azure_native import compute

from offline.arm import ArmError, SimulatedArm
from offline.policy_check import check_run, pack_config
from offline.secrets import unwrap
from vmimage.config.errors import SpecError
from vmimage.config.validate import load_spec
from vmimage.config.values import license_os_problem
from vmimage.policy.rules import ResourceView, evaluate

VM = "azure-native:compute:VirtualMachine"
VMSS = "azure-native:compute:VirtualMachineScaleSet"


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(raw, location="westeurope")
    return caught.value.problems


def test_a_licence_fits_its_os_only():
    assert license_os_problem("Windows_Server", "windows") is None
    assert license_os_problem("SLES_BYOS", "linux") is None
    assert license_os_problem(None, "linux") is None
    assert license_os_problem("RHEL_BYOS", "windows") == (
        "RHEL_BYOS is a Linux licence and the image is Windows: use Windows_Server, "
        "Windows_Client, or leave it out")
    assert "use RHEL_BYOS, SLES_BYOS" in str(license_os_problem("Windows_Client", "linux"))


def test_a_wrong_or_unknown_licence_is_named_by_its_key():
    raw = load_pipeline("dev")  # Linux
    raw["builds"][0]["licenseType"] = "Windows_Server"
    raw["clones"][0]["licenseType"] = "RHEL_PAYG"
    found = problems(raw)
    assert any(p.startswith("clones[0].licenseType: ") and "RHEL_BYOS" in p for p in found)
    # the unknown value is refused by its type; the OS rule waits for a valid config
    raw["clones"][0]["licenseType"] = "SLES_BYOS"
    assert problems(raw) == [
        "builds[0].licenseType: Windows_Server is a Windows licence and the image is Linux: "
        "use RHEL_BYOS, SLES_BYOS, or leave it out"]


def test_every_vm_and_scale_set_of_the_estate_stack_carries_its_licence():
    run = run_offline(stack_config("estate"))
    computes = [r for r in run.registrations if r.type in (VM, VMSS)]
    assert {r.type for r in computes} == {VM, VMSS}
    for reg in computes:
        inputs = unwrap(reg.inputs)
        where = inputs if reg.type == VM else inputs["virtualMachineProfile"]
        assert where["licenseType"] == "Windows_Server", reg.name
    # the Windows stack without it: no licenseType at all (Azure's default, pay as you go)
    for reg in run_offline(stack_config("win")).registrations:
        if reg.type == VM:
            assert "licenseType" not in unwrap(reg.inputs), reg.name


def test_azure_native_takes_license_type_where_the_program_sets_it():
    # the installed SDK's typed Args: a misspelt or misplaced name would fail at once
    assert "license_type" in inspect.signature(compute.VirtualMachineArgs.__init__).parameters
    assert "license_type" in inspect.signature(
        compute.VirtualMachineScaleSetVMProfileArgs.__init__).parameters


def test_the_simulator_refuses_a_licence_type_azure_does_not_know():
    arm = SimulatedArm()
    arm.put("azure-native:resources:ResourceGroup",
            {"resourceGroupName": "rg", "location": "westeurope"}, 0)
    with pytest.raises(ArmError) as caught:
        arm.put(VM, {"resourceGroupName": "rg", "vmName": "vm-a", "location": "westeurope",
                     "osProfile": {"computerName": "vm-a", "adminUsername": "u",
                                   "adminPassword": "Pa55word!Pa55word",
                                   "windowsConfiguration": {}},
                     "licenseType": "Windows_Datacenter"}, 100)
    assert caught.value.code == "InvalidParameter"
    assert "'licenseType'" in caught.value.message


def windows_vm(name: str, **props: Any) -> ResourceView:
    return ResourceView(urn=f"urn:pulumi:s::vmimage::{VM}::{name}", type=VM, name=name,
                        props={"vmName": name, "osProfile": {"windowsConfiguration": {}},
                               **props})


def test_license_type_on_windows_is_advisory_unless_the_pack_config_says_mandatory():
    bare, licensed = windows_vm("bare"), windows_vm("ok", licenseType="Windows_Server")
    linux = ResourceView(urn="urn:x", type=VM, name="l",
                         props={"osProfile": {"linuxConfiguration": {}}})
    found = [v for v in evaluate([bare, licensed, linux]) if v.policy == "license-type-on-windows"]
    assert [(v.urn, v.enforcement) for v in found] == [(bare.urn, "advisory")]
    assert "licenseType: Windows_Server" in found[0].message
    config = pack_config('{"license-type-on-windows": "mandatory", '
                         '"required-tags": {"requiredTags": ["costCenter"]}}')
    strict = [v for v in evaluate([bare], levels=config.levels,
                                  required_tags=config.required_tags)
              if v.policy != "trusted-launch-required"]
    assert {(v.policy, v.enforcement) for v in strict} == {
        ("license-type-on-windows", "mandatory"), ("required-tags", "mandatory")}
    assert pack_config('{"license-type-on-windows": {"enforcementLevel": "mandatory"}}'
                       ).levels == {"license-type-on-windows": "mandatory"}


@pytest.mark.parametrize(("text", "says"), [
    ('{"no-such-policy": "mandatory"}', "no policy 'no-such-policy'"),
    ('{"license-type-on-windows": "sometimes"}', "is advisory or mandatory"),
    ("[1]", "a JSON object"),
    ("{", "not JSON"),
])
def test_a_bad_pack_config_is_refused_in_one_line(text, says):
    with pytest.raises(ValueError, match=says):
        pack_config(text)


def test_the_offline_runner_applies_the_pack_config(tmp_path):
    config = tmp_path / "policy.json"
    config.write_text('{"license-type-on-windows": "mandatory"}', encoding="utf-8")
    code, lines, _ = offline_cli("up", "--stack", "win", "--policy-config", str(config),
                                 "--quiet")
    assert code == 1
    assert any("mandatory policy violation" in line for line in lines)
    code, _, _ = offline_cli("up", "--stack", "estate", "--policy-config", str(config),
                             "--quiet")
    assert code == 0
    run = run_offline(stack_config("win"))
    assert any(v.policy == "license-type-on-windows" and v.enforcement == "advisory"
               for v in check_run(run))

