"""`builds[].onFailure`: a failed customize step leaves the build VM deallocated (the
default), running, or deleted, and says how to look at it. The policy is an error hook on
each step's run command and VM action (a restart; vmimage/steps/on_failure.py): the offline
engine calls it as Pulumi's engine does, through the SDK's own callbacks gRPC server
(offline/engine.py)."""

from __future__ import annotations

import asyncio
import io
import re
import tempfile
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from conftest import ROOT, load_pipeline, load_stack_dict, problems_of, run_offline, stack_config
from rich.console import Console

from offline import engine
from offline.cli import main
from offline.engine import SimulatorMonitor
from offline.fault_notes import inapplicable
from offline.faults import FaultPlan
from offline.up import UpResult, up
from vmimage.azure.failure_policy import failure_message, inspect_commands
from vmimage.config.validate import load_spec
from vmimage.steps import on_failure
from vmimage.steps.on_failure import failed_step
from vmimage.vocabulary import RESTART, VIRTUAL_MACHINE

STEP = "customize-00-install-packages"
RG = "rg-vmimage-dev"


def dev_with(policy: str | None) -> Any:
    pipeline = load_stack_dict("dev")["vmimage:pipeline"]
    if policy is not None:
        pipeline["builds"][0]["onFailure"] = policy
    return stack_config("dev", pipeline)


def failing_up(stack: Any, state: Path) -> UpResult:
    return up(stack, state_path=state, faults=FaultPlan.parse("step-exit=5"))


def build_vm(result: UpResult) -> tuple[str, str]:
    """(ARM id, Azure name) of the run's build VM."""
    [reg] = [r for r in result.run.registrations
             if r.type == VIRTUAL_MACHINE and r.name.endswith("-build-vm")]
    return reg.id, reg.azure_name or ""


def hook_ops(result: UpResult) -> list[str]:
    return [o.op for o in result.run.operations if o.op.startswith("on-failure")]


def policy_applied(result: UpResult, power: str | None, ops: list[str]) -> tuple[str, str]:
    """Assert the build VM ended as the policy says (`power` None: deleted) through the
    hook's `ops`; its name and the one warning about it."""
    vm_id, vm_name = build_vm(result)
    arm = result.run.arm
    if power is None:
        assert arm.resources[vm_id.lower()].deleted_at is not None
    else:
        assert arm.vms[vm_id.lower()].final()[0] == power
    assert hook_ops(result) == ops
    [warning] = [w for w in result.run.warnings if w.startswith(f"build VM {vm_name}")]
    return vm_name, warning


@pytest.mark.parametrize(("policy", "power", "ops"), [
    (None, "deallocated", ["on-failure deallocate"]),  # the default
    ("deallocate", "deallocated", ["on-failure deallocate"]),
    ("keep", "running", []),
    ("delete", None, ["on-failure delete"]),
])
def test_a_failed_step_leaves_the_build_vm_as_its_policy_says(
        tmp_path: Path, policy: str | None, power: str | None, ops: list[str]) -> None:
    result = failing_up(dev_with(policy), tmp_path / "state.json")
    [failure] = result.run.failures  # the step's own error is the run's error
    assert failure.code == "VMExtensionProvisioningError" and "code 5" in failure.message
    vm_name, warning = policy_applied(result, power, ops)
    assert f"step {STEP} failed" in warning
    if policy == "delete":
        assert "pulumi up --refresh" in warning and "az vm" not in warning
    else:
        assert f"az vm run-command show -g {RG} --vm-name {vm_name} " \
               f"--run-command-name {STEP} --instance-view" in warning
        assert f"az vm boot-diagnostics get-boot-log -g {RG} -n {vm_name}" in warning
    assert (f"az vm start -g {RG} -n {vm_name}" in warning) == (power == "deallocated")


def test_the_policy_never_fires_when_the_steps_succeed(tmp_path: Path) -> None:
    result = up(dev_with("delete"), state_path=tmp_path / "state.json")
    assert result.ok, result.run.failures
    assert hook_ops(result) == []
    assert not [w for w in result.run.warnings if "failed" in w]
    vm_id, _ = build_vm(result)
    assert result.run.arm.resources[vm_id.lower()].deleted_at is None
    assert result.run.arm.vms[vm_id.lower()].final() == ("deallocated", "generalized")


def test_the_hooks_are_registered_with_the_engine_once_per_build(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[Any] = []
    register = SimulatorMonitor.RegisterErrorHook

    def recording(self: SimulatorMonitor, request: Any) -> Any:
        seen.append((request.name, request.callback.target))
        return register(self, request)

    monkeypatch.setattr(SimulatorMonitor, "RegisterErrorHook", recording)
    assert up(dev_with(None)).ok
    # One per build, served by the program's callbacks server on the loopback.
    assert [name for name, _ in seen] == ["vmimage-v1-0-0-scripts-on-failure"]
    assert seen[0][1].startswith("127.0.0.1:")


def test_after_deallocate_the_next_run_starts_the_vm_and_finishes(tmp_path: Path) -> None:
    stack, state = dev_with("deallocate"), tmp_path / "state.json"
    assert failing_up(stack, state).run.failures
    second = up(stack, state_path=state)
    assert second.ok, second.run.failures or second.run.error
    actions = {c.urn.rsplit("::", 1)[-1]: c.action for c in second.changes or []}
    assert actions["vmimage-v1-0-0-resume"] == "create"
    assert actions["vmimage-v1-0-0-build-vm"] == "same"  # started again, not rebuilt
    assert any("deallocated (onFailure: deallocate" in w for w in second.run.warnings)


def test_after_delete_only_a_refresh_makes_the_next_run_create_the_vm_again(
        tmp_path: Path) -> None:
    """As under Pulumi: the state still holds the deleted VM, so a plain `up` sees no
    change to it and its steps fail on a VM that is gone; `up --refresh` drops it from the
    state (its Read finds nothing) and creates it again."""
    stack, state = dev_with("delete"), tmp_path / "state.json"
    first = failing_up(stack, state)
    old_id, _ = build_vm(first)
    plain = up(stack, state_path=state)
    [failure] = plain.run.failures
    assert failure.type.endswith("VirtualMachineRunCommandByVirtualMachine")
    assert "NotFound" in failure.code, failure
    # The hook finds no VM to act on, and says what to run.
    assert any("the VM does not exist" in w and "pulumi up --refresh" in w
               for w in plain.run.warnings)
    refreshed = up(stack, state_path=state, refresh=True)
    assert refreshed.ok, refreshed.run.failures or refreshed.run.error
    actions = {c.urn.rsplit("::", 1)[-1]: c.action for c in refreshed.changes or []}
    assert actions["vmimage-v1-0-0-build-vm"] == "create"
    [nic] = [n for n in actions if n.endswith("-nic") and "-build" in n]
    assert actions[nic] == "same"  # detached, not deleted with the VM
    new_id, _ = build_vm(refreshed)
    assert new_id.lower() == old_id.lower()  # the same name, made again
    assert refreshed.run.arm.vms[new_id.lower()].final() == ("deallocated", "generalized")


def test_a_policy_azure_refuses_is_reported_and_the_step_error_stays(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Refusing:
        class virtual_machines:  # the client's attribute name
            @staticmethod
            def begin_deallocate(*_: Any) -> Any:
                raise HttpResponseError(message="(AuthorizationFailed) no deallocate action")

    monkeypatch.setattr(SimulatorMonitor, "compute_client", lambda self: Refusing())
    result = failing_up(dev_with("deallocate"), tmp_path / "state.json")
    [failure] = result.run.failures
    assert failure.code == "VMExtensionProvisioningError"  # not the hook's error
    vm_id, vm_name = build_vm(result)
    assert result.run.arm.vms[vm_id.lower()].final()[0] == "running"
    [warning] = [w for w in result.run.warnings if w.startswith(f"build VM {vm_name}")]
    assert "onFailure deallocate could not be applied (" in warning
    assert "AuthorizationFailed" in warning
    assert f"az vm deallocate -g {RG} -n {vm_name}" in warning


def test_the_cli_prints_the_policy_applied_after_the_error(tmp_path: Path) -> None:
    out = io.StringIO()
    code = main(["up", "--stack", "dev", "--quiet", "--faults", "step-exit=5"],
                console=Console(file=out, width=300))
    text = out.getvalue()
    assert code == 1
    assert text.index("error: simulated Azure refused") < text.index(
        "warning: build VM vm-build-web-ubuntu-1-0-0: step customize-00-install-packages "
        "failed; the VM was deallocated")
    assert "  az vm start -g rg-vmimage-dev -n vm-build-web-ubuntu-1-0-0" in text


def test_names_are_quoted_for_the_shell() -> None:
    commands = inspect_commands("rg x", "vm;rm -rf /", "it's", "deallocate")
    assert commands[0] == "az vm start -g 'rg x' -n 'vm;rm -rf /'"
    assert "--run-command-name 'it'\"'\"'s'" in commands[1]
    refused = failure_message("rg x", "vm$(id)", None, "delete", problem="denied")
    assert "az vm deallocate -g 'rg x' -n 'vm$(id)'" in refused


def test_on_failure_defaults_to_deallocate_and_refuses_other_words() -> None:
    assert load_spec(load_pipeline("dev"), location="westeurope").spec.builds[0].on_failure \
        == "deallocate"
    raw = load_pipeline("dev")
    raw["builds"][0]["onFailure"] = "stop"
    [problem] = problems_of(raw)
    assert problem.startswith("builds[0].onFailure:")
    assert "keep" in problem and "deallocate" in problem and "delete" in problem


# -- steps that are VM actions (a restart), not run commands ---------------------------------


def with_first_step(name: str, step: dict[str, Any], policy: str | None = None) -> Any:
    pipeline = load_stack_dict(name)["vmimage:pipeline"]
    build = pipeline["builds"][0]
    build["customize"] = [step, *build.get("customize", [])]
    if policy is not None:
        build["onFailure"] = policy
    return stack_config(name, pipeline)


@pytest.mark.parametrize(("policy", "power", "ops"), [
    (None, "deallocated", ["on-failure deallocate"]),
    ("keep", "running", []),
    ("delete", None, ["on-failure delete"]),
])
def test_a_restart_the_guest_never_comes_back_from_gets_the_policy_too(
        tmp_path: Path, policy: str | None, power: str | None, ops: list[str]) -> None:
    result = up(with_first_step("dev", {"restart": {"timeoutSeconds": 300}}, policy),
                state_path=tmp_path / "state.json", faults=FaultPlan.parse("restart-hang=1"))
    [failure] = result.run.failures  # the restart's own error stays the run's error
    assert failure.type == RESTART and failure.code == "RestartFailed", failure
    assert "did not report Ready within 300s" in failure.message
    vm_name, warning = policy_applied(result, power, ops)
    assert "step customize-0 (restart) failed" in warning
    assert "run-command show" not in warning  # a VM action has no run command to show
    assert (f"az vm boot-diagnostics get-boot-log -g {RG} -n {vm_name}" in warning) \
        == (policy != "delete")


def test_after_a_failed_restart_the_next_run_starts_the_vm_and_restarts_it(
        tmp_path: Path) -> None:
    stack, state = with_first_step("dev", {"restart": {}}), tmp_path / "state.json"
    assert up(stack, state_path=state, faults=FaultPlan.parse("restart-hang=1")).run.failures
    second = up(stack, state_path=state)
    assert second.ok, second.run.failures or second.run.error
    actions = {c.urn.rsplit("::", 1)[-1]: c.action for c in second.changes or []}
    assert actions["vmimage-v1-0-0-resume"] == "create"
    assert actions["vmimage-v1-0-0-scripts-customize-0"] == "create"  # failed: not in state
    assert actions["vmimage-v1-0-0-build-vm"] == "same"


def test_a_windows_update_round_whose_restart_hangs_deallocates_the_vm(tmp_path: Path) -> None:
    stack = with_first_step("win", {"windowsUpdate": {"rounds": 2}})
    result = up(stack, state_path=tmp_path / "state.json",
                faults=FaultPlan.parse("restart-hang=1"))
    [failure] = result.run.failures
    assert failure.name.endswith("-customize-0-wu1-restart"), failure
    vm_id, vm_name = build_vm(result)
    assert result.run.arm.vms[vm_id.lower()].final()[0] == "deallocated"
    assert hook_ops(result) == ["on-failure deallocate"]
    [warning] = [w for w in result.run.warnings if w.startswith(f"build VM {vm_name}")]
    assert "step customize-0-wu1-restart failed; the VM was deallocated" in warning


def test_the_step_a_failed_resource_is_named_by_its_kind() -> None:
    vm = {"resourceGroupName": RG, "vmName": "vm-b", "vmId": "/subscriptions/s/x"}
    command = failed_step("p-scripts-customize-0", "azure-native:compute:X",
                          {**vm, "runCommandName": STEP}, "p-scripts")
    assert command is not None and (command.run_command, command.step) == (STEP, f"step {STEP}")
    restart = failed_step("p-scripts-customize-3", RESTART, vm, "p-scripts")
    assert restart is not None and restart.run_command is None
    assert (restart.resource_group, restart.vm_name, restart.step) == \
        (RG, "vm-b", "step customize-3 (restart)")
    assert failed_step("p-scripts-customize-3", RESTART, {"vmName": "vm-b"}) is None


def test_restart_hang_is_noted_where_no_step_restarts() -> None:
    plan = FaultPlan.parse("restart-hang=1")
    dev = load_spec(load_pipeline("dev"), location="westeurope").spec
    [note] = inapplicable(plan, dev)
    assert note.startswith("--faults restart-hang=1 cannot fire on this stack")
    raw = load_pipeline("dev")
    raw["builds"][0]["customize"].append({"restart": {}})
    assert inapplicable(plan, load_spec(raw, location="westeurope").spec) == []


def test_the_estate_example_keeps_its_failed_build_vm_running(tmp_path: Path) -> None:
    """stacks/Pulumi.estate.yaml says `onFailure: keep` (a failed installer is looked at
    on the VM as it failed): nothing is done to the VM, and the warning says so."""
    result = up(stack_config("estate"), state_path=tmp_path / "state.json",
                faults=FaultPlan.parse("step-exit=5"))
    assert result.run.failures
    vm_id, vm_name = build_vm(result)
    assert result.run.arm.vms[vm_id.lower()].final()[0] == "running"
    assert hook_ops(result) == []
    [warning] = [w for w in result.run.warnings if w.startswith(f"build VM {vm_name}")]
    assert "left running as the step left it (onFailure: keep" in warning


def test_the_installed_pulumi_floor_has_error_hooks() -> None:
    """`pulumi.resource_hooks.ErrorHook` came with Python SDK 3.219.0 (CHANGELOG; the
    ledger's error hook row): an older SDK the floor allowed fails at import."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (floor,) = [m.group(1) for d in deps if (m := re.fullmatch(r"pulumi>=([\d.]+),<4", d))]
    assert tuple(int(p) for p in floor.split(".")) >= (3, 219), floor


HOOKED_PROGRAM = """
from pulumi_azure_native import resources

from vmimage.components.build_vm import BuildVm, BuildVmArgs
from vmimage.components.guest_scripts import GuestScripts, GuestScriptsArgs
from vmimage.components.network import Network, NetworkArgs
from vmimage.parts.vm_profile import AdminCredentials
from vmimage.stack.config import load_from_stack

spec = load_from_stack().spec
build = spec.builds[0]
rg = resources.ResourceGroup("rg", resource_group_name=spec.resource_group,
                             location=spec.location)
net = Network("net", NetworkArgs(resource_group_name=rg.name, location=spec.location,
                                 spec=spec.network))
admin = AdminCredentials(spec.admin.username, spec.admin.ssh_public_key, None)
vm = BuildVm("build", BuildVmArgs(spec=spec, build=build, resource_group_name=rg.name,
                                  subnet_id=net.subnet_id, admin=admin))
GuestScripts("scripts", GuestScriptsArgs(spec=spec, build=build, resource_group_name=rg.name,
                                         vm_name=vm.vm_name, vm=vm.vm, vm_id=vm.vm_id,
                                         legacy_deprovision=True))
"""


def test_the_legacy_deprovision_command_has_no_failure_policy(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The policy covers customize steps (README); the seal's old run command is no step."""
    hooks: dict[str, list[str]] = {}
    register = SimulatorMonitor.RegisterResource

    def recording(self: SimulatorMonitor, request: Any) -> Any:
        hooks[request.name] = list(request.hooks.on_error)
        return register(self, request)

    monkeypatch.setattr(SimulatorMonitor, "RegisterResource", recording)
    program = tmp_path / "program.py"
    program.write_text(HOOKED_PROGRAM)
    run_offline(dev_with(None), program=program)
    assert hooks["scripts-customize-0"] == ["scripts-on-failure"]  # a step: the policy
    assert hooks["scripts-deprovision"] == []


def test_the_policy_runs_when_the_default_pool_has_one_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK registers from the loop's default pool; the failed registration holds its
    thread while the engine waits for the hook, so the policy cannot need that pool."""
    monkeypatch.setattr(engine, "ERROR_HOOK_TIMEOUT_S", 30.0)
    ran: list[UpResult] = []

    def starved() -> None:
        loop = asyncio.new_event_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        asyncio.set_event_loop(loop)
        ran.append(failing_up(dev_with(None), Path(tempfile.mkdtemp()) / "state.json"))

    runner = threading.Thread(target=starved, daemon=True)
    runner.start()
    runner.join(timeout=300)  # a watchdog: a deadlock fails the test instead of hanging it
    assert not runner.is_alive(), "the run hangs"
    (result,) = ran
    assert [f.message for f in result.run.failures] == [
        f"Run command '{STEP}' on VM 'vm-build-web-ubuntu-1-0-0' failed: the script exited "
        "with code 5. Script output:\nthe script exited with 5"]
    assert "the VM was deallocated" in result.run.warnings[0]


def test_a_hook_that_never_answers_fails_its_step_by_name(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(engine, "ERROR_HOOK_TIMEOUT_S", 2.0)
    # The policy acts only once the engine stopped waiting for it (the run ends then).
    release = threading.Event()
    waiting = SimulatorMonitor.run_error_hooks

    def gives_up(self: SimulatorMonitor, *args: Any) -> bool:
        try:
            return waiting(self, *args)
        finally:
            release.set()

    monkeypatch.setattr(SimulatorMonitor, "run_error_hooks", gives_up)
    monkeypatch.setattr(on_failure, "apply_failure_policy", lambda *_: release.wait())
    result = failing_up(dev_with(None), tmp_path / "state.json")
    assert [(f.name, f.message) for f in result.run.failures] == [
        ("vmimage-v1-0-0-scripts-customize-0",
         "error hook 'vmimage-v1-0-0-scripts-on-failure' did not answer within 2 s "
         "(DEADLINE_EXCEEDED)")]
