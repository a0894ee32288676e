"""Secure by default: SSH keys only on Linux; Windows passwords secret (generated when not
given); NSG allow list then deny-all; no public IPs unless asked; Trusted Launch for Gen2
gallery images; encryption at host on request; managed boot diagnostics. And no secret's
plain value in anything the program registers or the offline runner prints or writes."""

from __future__ import annotations

import argparse
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from conftest import load_stack_dict
from program_mocks import Recorded, run_program
from pulumi.runtime.rpc import is_rpc_secret
from rich.console import Console

from offline.secrets import redact, unwrap
from vmimage.vocabulary import EGRESS_ROLE, ROLE_TAG

VM = "azure-native:compute:VirtualMachine"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
GIVEN_PASSWORD = "Given-Secret-Pa55word!"


def program(stack: str, secret_password: str | None = None, **pipeline_changes: Any) -> Recorded:
    config = load_stack_dict(stack)
    config["vmimage:pipeline"].update(pipeline_changes)
    secret_keys = []
    if secret_password is not None:
        config["vmimage:adminPassword"] = secret_password
        secret_keys = ["vmimage:adminPassword"]
    return run_program(config, secret_keys=secret_keys, stack=stack)


def vms(recorded: Recorded) -> list[Any]:
    found = recorded.of_type(VM)
    assert found
    return found


def test_linux_uses_ssh_keys_only() -> None:
    recorded = program("dev")
    assert not recorded.of_type(RANDOM_PASSWORD)
    for vm in vms(recorded):
        profile = unwrap(vm.inputs["osProfile"])
        assert "adminPassword" not in profile
        linux = profile["linuxConfiguration"]
        assert linux["disablePasswordAuthentication"] is True
        assert linux["ssh"]["publicKeys"][0]["keyData"].startswith("ssh-ed25519 ")
        assert vm.additional_secret_outputs in ([], None) or "osProfile" not in (
            vm.additional_secret_outputs)


def test_windows_password_is_generated_and_secret() -> None:
    recorded = program("win")
    generated = recorded.of_type(RANDOM_PASSWORD)
    assert len(generated) == 1
    assert generated[0].inputs["length"] >= 16
    for vm in vms(recorded):
        assert is_rpc_secret(vm.inputs["osProfile"]) or is_rpc_secret(
            vm.inputs["osProfile"].get("adminPassword"))
        assert unwrap(vm.inputs["osProfile"])["adminPassword"]
        assert "osProfile" in vm.additional_secret_outputs


def test_windows_password_from_secret_config_is_used_not_generated() -> None:
    recorded = program("win", secret_password=GIVEN_PASSWORD)
    assert not recorded.of_type(RANDOM_PASSWORD)
    for vm in vms(recorded):
        assert unwrap(vm.inputs["osProfile"])["adminPassword"] == GIVEN_PASSWORD
        assert GIVEN_PASSWORD not in json.dumps(redact(vm.inputs), default=str)
        assert "osProfile" in vm.additional_secret_outputs


def test_nsg_allow_list_then_deny_all() -> None:
    allow = [{"name": "https", "port": 443, "source": "10.0.0.0/8"},
             {"name": "app", "port": "8000-8080", "source": "VirtualNetwork"}]
    network = {**load_stack_dict("dev")["vmimage:pipeline"]["network"], "allowInbound": allow}
    recorded = program("dev", network=network)
    (nsg,) = recorded.of_type("azure-native:network:NetworkSecurityGroup")
    rules = sorted(nsg.inputs["securityRules"], key=lambda r: r["priority"])
    assert [(r["name"], r["access"], r["destinationPortRange"]) for r in rules] == [
        ("https", "Allow", "443"), ("app", "Allow", "8000-8080"), ("deny-all-inbound", "Deny", "*"),
    ]
    deny = rules[-1]
    assert deny["direction"] == "Inbound" and deny["sourceAddressPrefix"] == "*"
    assert deny["priority"] == 4096
    assert all(r["direction"] == "Inbound" for r in rules)
    # The NSG guards the subnet every NIC is in.
    (subnet,) = recorded.of_type("azure-native:network:Subnet")
    assert "networkSecurityGroup" in subnet.inputs


def test_default_nsg_denies_all_inbound() -> None:
    (nsg,) = program("dev").of_type("azure-native:network:NetworkSecurityGroup")
    assert [(r["name"], r["access"]) for r in nsg.inputs["securityRules"]] == [
        ("deny-all-inbound", "Deny")]


def inbound_addresses(recorded: Any) -> list[Any]:
    """Public IPs but the NAT gateway's (outbound only: nothing reaches a VM through it)."""
    ips = recorded.of_type("azure-native:network:PublicIPAddress")
    (nat,) = recorded.of_type("azure-native:network:NatGateway")
    egress = [ip for ip in ips if ip.inputs["tags"] == {ROLE_TAG: EGRESS_ROLE}]
    assert len(egress) == 1 and len(nat.inputs["publicIpAddresses"]) == 1
    return [ip for ip in ips if ip not in egress]


def test_no_public_ips_unless_asked() -> None:
    assert not inbound_addresses(program("dev"))
    network = {**load_stack_dict("dev")["vmimage:pipeline"]["network"], "publicIp": True}
    recorded = program("dev", network=network)
    ips = inbound_addresses(recorded)
    clones = load_stack_dict("dev")["vmimage:pipeline"]["clones"][0]["count"]
    assert len(ips) == clones  # clones only: the build VM is reached via run commands
    assert all("-clones-" in ip.name for ip in ips)


def trusted_launch(vm: Any) -> bool:
    security = vm.inputs.get("securityProfile") or {}
    return security.get("securityType") == "TrustedLaunch"


def test_trusted_launch_by_default_for_gen2_gallery_images() -> None:
    recorded = program("dev")
    for vm in vms(recorded):
        security = vm.inputs["securityProfile"]
        assert security["securityType"] == "TrustedLaunch"
        assert security["uefiSettings"] == {"secureBootEnabled": True, "vTpmEnabled": True}
    (definition,) = recorded.of_type("azure-native:compute:GalleryImage")
    assert {"name": "SecurityType", "value": "TrustedLaunchSupported"} in definition.inputs[
        "features"]


@pytest.mark.parametrize("change", [
    {"capture": "both", "managedImage": {"name": "web-ubuntu"}},  # managed images: no TL
])
def test_no_trusted_launch_where_unsupported(change: dict[str, Any]) -> None:
    assert not any(trusted_launch(vm) for vm in vms(program("dev", **change)))


def test_no_trusted_launch_for_gen1() -> None:
    gallery = load_stack_dict("dev")["vmimage:pipeline"]["gallery"]
    gallery["image"]["generation"] = "V1"
    assert not any(trusted_launch(vm) for vm in vms(program("dev", gallery=gallery)))


def test_encryption_at_host_is_an_option() -> None:
    assert not any((vm.inputs.get("securityProfile") or {}).get("encryptionAtHost")
                   for vm in vms(program("dev")))
    for vm in vms(program("dev", security={"encryptionAtHost": True})):
        assert vm.inputs["securityProfile"]["encryptionAtHost"] is True
        assert trusted_launch(vm)  # one does not turn the other off


def test_managed_boot_diagnostics_on() -> None:
    for stack in ("dev", "win"):
        for vm in vms(program(stack)):
            boot = vm.inputs["diagnosticsProfile"]["bootDiagnostics"]
            assert boot["enabled"] is True
            assert "storageUri" not in boot  # managed: no storage account to leak or pay for


# -- secret scan ------------------------------------------------------------------------------


def offline_everything(tmp_path: Path, stack: Any) -> tuple[Any, list[tuple[str, str]]]:
    """One offline `up` with state, both reports and the console output; returns the run
    and every text it produced, labelled."""
    from offline import cli
    from offline.policy_check import check_run
    from offline.up import up

    state = tmp_path / "state.json"
    outcome = up(stack, state_path=state)
    result = outcome.run
    assert not result.failures and not result.error, (result.failures, result.error)
    args = argparse.Namespace(report_json=tmp_path / "report.json",
                              markdown=tmp_path / "plan.md", no_policy=False, fault_plan=None)
    violations = check_run(result)
    changes = [c.as_json() for c in outcome.changes] if outcome.changes is not None else None
    cli.write_reports(args, stack, result, violations, changes)
    buffer = StringIO()
    console = Console(file=buffer, width=200)
    if outcome.changes is not None:
        cli.print_changes(console, outcome.changes)
    cli.print_run(console, stack, result)
    cli.print_policy(console, violations)
    texts = [("stdout", buffer.getvalue()), ("outputs", json.dumps(result.outputs, default=str))]
    texts += [(f"file {p.name}", p.read_text(errors="replace"))
              for p in sorted(tmp_path.rglob("*")) if p.is_file()]
    for reg in result.registrations:
        texts.append((f"inputs of {reg.name}", json.dumps(redact(reg.inputs), default=str)))
        texts.append((f"outputs of {reg.name}", json.dumps(redact(reg.outputs), default=str)))
    return result, texts


def assert_nowhere(secret: str, texts: list[tuple[str, str]]) -> None:
    assert len(secret) >= 12
    leaks = [label for label, text in texts if secret in text]
    assert not leaks, f"the plain secret appears in: {leaks}"


def test_given_secret_password_never_leaks(tmp_path: Path) -> None:
    from offline.runner import StackConfig

    config = load_stack_dict("win")
    config["vmimage:adminPassword"] = GIVEN_PASSWORD
    stack = StackConfig("win", config, ["vmimage:adminPassword"])
    result, texts = offline_everything(tmp_path, stack)
    # Not vacuous: the VMs did get the password.
    used = [unwrap(r.inputs)["osProfile"]["adminPassword"] for r in result.registrations
            if r.type == VM]
    assert used and set(used) == {GIVEN_PASSWORD}
    assert not [r for r in result.registrations if r.type == RANDOM_PASSWORD]
    assert_nowhere(GIVEN_PASSWORD, texts)


def test_generated_password_never_leaks(tmp_path: Path) -> None:
    from conftest import stack_config

    result, texts = offline_everything(tmp_path, stack_config("win"))
    (generated,) = [r for r in result.registrations if r.type == RANDOM_PASSWORD]
    password = unwrap(generated.outputs)["result"]
    assert isinstance(password, str) and password
    used = {unwrap(r.inputs)["osProfile"]["adminPassword"] for r in result.registrations
            if r.type == VM}
    assert used == {password}
    assert result.outputs.get("adminPassword") == "[secret]"
    assert_nowhere(password, texts)


def test_windows_scale_set_keeps_its_vm_profile_secret() -> None:
    """The policy pack can only see secrecy through additional_secret_outputs: a Windows
    scale set must list its VM profile, or `admin-password-secret` fails it."""
    from vmimage.policy.rules import ResourceView, evaluate

    config = load_stack_dict("win")
    config["vmimage:pipeline"]["clones"][0]["kind"] = "scaleSet"
    recorded = run_program(config, stack="win")
    (vmss,) = recorded.of_type("azure-native:compute:VirtualMachineScaleSet")
    assert vmss.additional_secret_outputs == ["virtualMachineProfile"]
    assert is_rpc_secret(vmss.inputs["virtualMachineProfile"])

    # As the real pack sees it: plain values, secrecy only from the option.
    view = ResourceView(urn=vmss.urn, type=vmss.type, name=vmss.name,
                        props=unwrap(vmss.inputs),
                        secret_paths=frozenset(vmss.additional_secret_outputs))
    assert [v for v in evaluate([view]) if v.policy == "admin-password-secret"] == []
    unmarked = ResourceView(urn=vmss.urn, type=vmss.type, name=vmss.name,
                            props=unwrap(vmss.inputs))
    assert [v.policy for v in evaluate([unmarked]) if v.policy == "admin-password-secret"] == [
        "admin-password-secret"
    ]
