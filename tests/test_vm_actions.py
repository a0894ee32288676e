"""The VM-action provider (vmimage/providers/vm_action.py) and its second action,
restart: ARM's restart, then the guest agent Ready again, run through the real compute
client against the simulated ARM, and the provider contract both actions share."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from arm_world import RG, VM_READY, make_vm, network

from offline.arm import ArmError, SimulatedArm
from offline.arm.vm_rest import SimulatedClock, run_action, simulated_client
from offline.latency import LatencyModel
from vmimage.providers import export_vhd, generalize, restart
from vmimage.providers.restart import RESTART, RestartProvider, agent_status
from vmimage.providers.vm_action import BASE_BUNDLE, VmActionProvider


@pytest.fixture
def arm() -> SimulatedArm:
    arm = SimulatedArm()
    network(arm)
    return arm


def props(vm: str, **extra: Any) -> dict[str, Any]:
    return {"resourceGroupName": RG, "vmName": vm.rsplit("/", 1)[-1], "vmId": vm,
            "location": "westeurope", "timeoutSeconds": 900.0, "after": "step-0", **extra}


def test_restart_waits_for_the_guest_agent_after_the_reboot(arm: SimulatedArm) -> None:
    vm = make_vm(arm)
    result, end = run_action(arm, RESTART, props(vm), VM_READY)
    assert result["agentStatus"] == "Ready" and result["powerState"] == "running"
    # The LRO ends at the reboot; the agent reports only once the guest has booted.
    assert end >= VM_READY + arm.latency("vm.restart") + arm.latency("guest.boot")
    assert arm.reboots[vm.lower()] and arm.vm_state(vm, end) == ("running", "specialized")


def test_right_after_the_reboot_the_agent_status_is_stale(arm: SimulatedArm) -> None:
    """Why Ready alone is not enough: the instance view keeps the pre-reboot report."""
    make_vm(arm)
    clock = SimulatedClock(VM_READY)
    client = simulated_client(arm, clock)
    before = agent_status(client, RG, "vm-a")
    client.virtual_machines.begin_restart(RG, "vm-a").result()
    stale = agent_status(client, RG, "vm-a")
    assert stale.agent == "ready" and stale.reported_at == before.reported_at
    clock.sleep(arm.latency("guest.boot"))
    fresh = agent_status(client, RG, "vm-a")
    assert fresh.reported_at is not None and before.reported_at is not None
    assert fresh.reported_at > before.reported_at


def test_a_stopped_vm_is_refused_before_any_post(arm: SimulatedArm) -> None:
    vm = make_vm(arm)
    arm.vms[vm.lower()].set(VM_READY, "stopped")
    with pytest.raises(ArmError) as raised:
        run_action(arm, RESTART, props(vm), VM_READY + 1)
    assert raised.value.code == "RestartFailed" and "is stopped" in raised.value.message
    assert vm.lower() not in arm.reboots


def test_an_agent_that_never_returns_fails_at_the_timeout() -> None:
    slow = SimulatedArm(LatencyModel({"guest.boot": 5000}))
    network(slow)
    vm = make_vm(slow)
    with pytest.raises(ArmError) as raised:
        run_action(slow, RESTART, props(vm, timeoutSeconds=300.0), VM_READY)
    assert "did not report Ready within 300s" in raised.value.message
    assert raised.value.after_s >= 300


# -- the provider contract both actions share ----------------------------------------------

@pytest.mark.parametrize("provider", [generalize.GeneralizeProvider, RestartProvider])
def test_only_another_vm_replaces(provider: type[VmActionProvider]) -> None:
    base = {**props("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/"
                    "virtualMachines/vm1"), "os": "linux", "sealScript": "x"}
    p = provider()
    assert p.diff("id", base, dict(base)).changes is False
    moved = p.diff("id", base, {**base, "vmId": base["vmId"] + "2"})
    assert moved.replaces == ["vmId"]
    tuned = p.diff("id", base, {**base, "timeoutSeconds": 60.0})
    assert tuned.changes is True and tuned.replaces == []


def test_a_restart_moved_after_another_step_updates_in_place() -> None:
    base = props("/subscriptions/s/x/vm1")
    moved = RestartProvider().diff("id", base, {**base, "after": "step-1"})
    assert moved.changes is True and moved.replaces == []
    olds = {**base, "powerState": "running", "agentStatus": "Ready",
            "restartedAt": "2026-01-01T00:00:00+00:00"}
    outs = RestartProvider().update("id", olds, {**base, "after": "step-1"}).outs
    assert outs is not None and outs["after"] == "step-1"
    assert outs["restartedAt"] == olds["restartedAt"]  # nothing restarted again


def test_an_export_elsewhere_is_a_new_export_and_names_its_os_disk_blob() -> None:
    base = {**props("/x/vm1"), "storageAccountId": "/s/st1", "container": "vhds",
            "blobNames": {"osDisk": "a-osdisk.vhd"}}
    p = export_vhd.ExportVhdProvider()
    assert p.diff("id", base, {**base, "container": "other"}).replaces == ["container"]
    assert p.diff("id", base, {**base, "blobNames": {"osDisk": "b.vhd"}}).replaces == [
        "blobNames"]
    checked = p.check({}, {**base, "blobNames": {"0": "a-lun0.vhd"}})
    assert [f.property for f in checked.failures] == ["blobNames"]
    p.delete("id", base)  # leaves the blobs: nothing to call, nothing raised


def test_restart_check_refuses_bad_inputs() -> None:
    result = RestartProvider().check({}, {**props("/x"), "vmName": "", "timeoutSeconds": -1})
    assert sorted(f.property for f in result.failures) == ["timeoutSeconds", "vmName"]


def test_both_providers_share_one_bundle_prefix() -> None:
    for provider in (generalize.GeneralizeProvider, RestartProvider,
                     export_vhd.ExportVhdProvider):
        assert provider.bundle[:len(BASE_BUNDLE)] == BASE_BUNDLE
        assert provider.bundle[-1] == provider.action.run.__module__
    assert restart.BUNDLE[-1] == "vmimage.providers.restart"


@pytest.mark.parametrize("provider", [generalize.GeneralizeProvider, RestartProvider,
                                      export_vhd.ExportVhdProvider])
def test_providers_unpickle_without_the_project(provider: type[VmActionProvider],
                                                tmp_path: Path) -> None:
    """The pitfall of pulumi/pulumi#7453: the provider host must not need to import the
    project. Serialize exactly as Pulumi does, load in a bare interpreter elsewhere."""
    from pulumi.dynamic.dynamic import serialize_provider

    blob = serialize_provider(provider())
    assert base64.b64decode(blob).startswith(b"\x80\x04\x95")  # a plain pickle...
    assert b"builtins\x94\x8c\x04eval" in base64.b64decode(blob)  # ...of eval(source)
    script = (
        "import base64, sys, dill\n"
        "p = dill.loads(base64.b64decode(sys.stdin.read()))\n"
        # rebuilt from the pickled source: the installed package itself never imported
        "assert 'vmimage' not in sys.modules, sorted(sys.modules)\n"
        "print(type(p).__name__, p.diff('x', {'vmId': 'a'}, {'vmId': 'b'}).replaces)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", script], input=blob, text=True, cwd=tmp_path,
                          env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{provider.__name__} ['vmId']"
    # deterministic: the same source pickles to the same bytes (no spurious provider diffs)
    assert serialize_provider(provider()) == blob
