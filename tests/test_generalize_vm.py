"""generalize_vm against the real ComputeManagementClient over the simulated ARM's VM REST
model (offline/arm/vm_rest.py, the one the offline runner uses), scripted per test.

Nothing sleeps for real: generalize_vm gets the simulated clock and sleep, and azure-core's
own retry and LRO waits pass in simulated time through SimulatedArmTransport.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from vm_world import (
    LINUX_SEAL_SCRIPT,
    VM_WORLD_RG,
    WINDOWS_CHECKS_SCRIPT,
    WINDOWS_SEAL_SCRIPT,
    VmWorld,
)

from offline.arm import SUBSCRIPTION_ID, SimulatedCrash
from offline.arm_transport import SimulatedArmTransport, StaticTokenCredential
from offline.faults import FaultPlan
from offline.guest import GuestState
from vmimage.azure.auth import AuthError
from vmimage.azure.client import make_compute_client
from vmimage.providers import generalize as gen
from vmimage.providers import vm_action
from vmimage.providers.generalize import GeneralizeError, generalize_vm
from vmimage.providers.guest_seal import CommandState, Seal, resend

ROOT = Path(__file__).resolve().parent.parent
RG = VM_WORLD_RG


@pytest.fixture
def world() -> VmWorld:
    return VmWorld()


LINUX = Seal("linux", LINUX_SEAL_SCRIPT)
WINDOWS = Seal("windows", WINDOWS_SEAL_SCRIPT, checks=WINDOWS_CHECKS_SCRIPT, timeout_s=3600)


def run(world: VmWorld, vm: str, *, seal: Seal | None = None, client: Any = None,
        **kwargs: Any) -> dict[str, Any]:
    """generalize_vm; `seal` None: the guest was sealed by other means (ARM steps only)."""
    if client is None:
        client, _ = world.client()
    return generalize_vm(client, RG, vm, seal=seal, location="westeurope",
                         sleep=world.sleep, clock=world.clock, **kwargs)


def post_order(world: VmWorld) -> list[str]:
    return [path.rsplit("/", 1)[1] for method, path, status in world.rest.log
            if method == "POST" and status < 300]


def puts(world: VmWorld) -> list[str]:
    return [path.rsplit("/", 1)[-1] for method, path, _ in world.rest.log if method == "PUT"]


# ----- the procedure -------------------------------------------------------------------

def test_running_linux_vm_is_sealed_deallocated_then_generalized(world):
    world.add_vm("vm-linux")
    messages: list[str] = []
    out = run(world, "vm-linux", seal=LINUX, progress=messages.append)
    assert out["powerState"] == "deallocated"
    assert out["osState"] == "generalized"
    assert out["posts"] == 2
    assert post_order(world) == ["deallocate", "generalize"]
    assert world.rest.applied == {"deallocate": 1, "generalize": 1}
    assert world.state("vm-linux") == ("deallocated", "generalized")
    assert messages and all(m.startswith("vm-linux: ") and m.endswith("s)") for m in messages)
    assert any("deallocating" in m for m in messages)
    # one synchronous seal command (it only schedules the deprovision), no checks
    seal = world.commands("vm-linux")
    assert list(seal) == ["vmimage-seal"] and not seal["vmimage-seal"].get("asyncExecution")
    # the guest powered off when its deprovision was done: waited for, in 15 s polls
    assert world.sleeps == [15, 15, 15]


def test_already_deallocated_vm_skips_deallocate(world):
    world.add_vm("vm1", power="deallocated")
    out = run(world, "vm1")
    assert out["osState"] == "generalized"
    assert world.rest.posts == {"generalize": 1}


def test_already_generalized_vm_costs_zero_posts(world):
    world.add_vm("vm1", power="deallocated", generalized=True)
    out = run(world, "vm1")
    assert out == {"vmName": "vm1", "powerState": "deallocated", "osState": "generalized",
                   "posts": 0, "elapsedSeconds": 0.0}
    assert sum(world.rest.posts.values()) == 0
    assert [m for m, _, _ in world.rest.log] == ["GET"]


def test_throttling_honours_retry_after(world):
    world.add_vm("vm1", power="stopped")
    world.rest.inject("GET", "/instanceView", 429, headers={"Retry-After": "7"})
    world.rest.inject("POST", "/generalize", 429, headers={"Retry-After": "11"})
    client, transport = world.client()
    out = run(world, "vm1", client=client)
    assert out["osState"] == "generalized"
    # azure-core asked the transport to wait exactly what ARM said, for GET and POST alike.
    assert 7.0 in transport.sleeps
    assert 11.0 in transport.sleeps
    assert world.rest.posts["generalize"] == 2 and world.rest.applied["generalize"] == 1
    assert world.sleeps == []  # no step-level waiting was needed


def test_deallocate_is_a_long_running_operation_polled_when_arm_says(world):
    world.add_vm("vm1")
    client, transport = world.client()
    out = run(world, "vm1", client=client)
    assert out["powerState"] == "deallocated"
    # 202 with the operation's URLs; the poller waited the Retry-After (the time left)
    status = [(m, p.rsplit("/", 1)[-1], s) for m, p, s in world.rest.log]
    assert ("POST", "deallocate", 202) in status
    assert any("/operations/" in p for m, p, _ in world.rest.log if m == "GET")
    assert 30.0 in transport.sleeps  # QUICK_VM_LATENCY's vm.deallocate


def test_conflict_409_is_retried_after_rereading_state(world):
    world.add_vm("vm1", power="deallocated")
    world.rest.inject("POST", "/generalize", 409, code="Conflict",
                      message="another operation is in progress")
    out = run(world, "vm1", poll_s=15)
    assert out["osState"] == "generalized"
    assert world.sleeps == [15]
    assert world.rest.posts["generalize"] == 2 and world.rest.applied["generalize"] == 1
    assert out["posts"] == 2
    # the state was re-read between the conflict and the retry
    methods = [(m, p.rsplit("/", 1)[1]) for m, p, _ in world.rest.log]
    i = methods.index(("POST", "generalize"))
    assert methods[i + 1] == ("GET", "instanceView")


def test_generalize_while_deallocating_is_a_conflict(world):
    """ARM's own 409 Conflict, not a scripted one: the deallocation is still in flight."""
    vm = world.add_vm("vm1")
    assert world.rest.handle("POST", f"{vm}/deallocate", {}, None)[0] == 202
    status, _, body = world.rest.handle("POST", f"{vm}/generalize", {}, None)
    assert (status, body["error"]["code"]) == (409, "Conflict")
    status, _, body = world.rest.handle("POST", f"{vm}/deallocate", {}, None)
    assert (status, body["error"]["code"]) == (409, "Conflict")


def test_conflict_409_retries_are_bounded(world):
    world.add_vm("vm1", power="deallocated")
    world.rest.inject("POST", "/generalize", 409, code="Conflict", times=50)
    with pytest.raises(GeneralizeError, match="generalize of VM 'vm1'.*409"):
        run(world, "vm1", poll_s=1)
    assert world.rest.posts["generalize"] == gen._CONFLICT_ATTEMPTS
    assert world.rest.applied["generalize"] == 0


def test_non_transient_409_fails_at_once(world):
    world.add_vm("vm1", power="deallocated")
    world.rest.inject("POST", "/generalize", 409, code="OperationNotAllowed",
                      message="not allowed since the VM is running")
    with pytest.raises(GeneralizeError, match="OperationNotAllowed"):
        run(world, "vm1")
    assert world.sleeps == []
    assert world.rest.posts["generalize"] == 1


def test_server_errors_then_success(world):
    world.add_vm("vm1")
    world.rest.inject("GET", "/instanceView", 500)
    world.rest.inject("POST", "/deallocate", 503, times=2)
    world.rest.inject("POST", "/generalize", 502)  # azure-core alone would not retry a POST 502
    world.rest.inject("POST", "/generalize", 429)  # nor a 429 without Retry-After
    out = run(world, "vm1")
    assert out["osState"] == "generalized"
    # POSTs are retried by azure-core because generalize_vm marks them idempotent
    assert world.rest.posts == {"deallocate": 3, "generalize": 3}
    assert world.rest.applied == {"deallocate": 1, "generalize": 1}
    assert out["posts"] == 2  # one logical POST per step


def test_windows_vm_runs_checks_then_an_async_sysprep_and_waits_for_power_off(world):
    world.add_vm("vm-win", windows=True)
    messages: list[str] = []
    out = run(world, "vm-win", seal=WINDOWS, poll_s=15, progress=messages.append)
    assert out["powerState"] == "deallocated" and out["osState"] == "generalized"
    commands = world.commands("vm-win")
    assert list(commands) == ["vmimage-seal-checks", "vmimage-seal"]
    assert not commands["vmimage-seal-checks"].get("asyncExecution")
    assert commands["vmimage-seal"]["asyncExecution"] is True
    assert world.sleeps == [15, 15, 15]  # sysprep takes 45 s in this world
    assert world.rest.applied == {"deallocate": 1, "generalize": 1}
    assert len([m for m in messages if "waiting for the guest" in m]) == 3


def test_failed_checks_fail_at_once_with_their_message():
    world = VmWorld(faults=FaultPlan(bitlocker=True))
    world.add_vm("vm-win", windows=True)
    with pytest.raises(GeneralizeError, match="(?s)failed before it began.*BitLocker: C: is "
                                              "EncryptionInProgress"):
        run(world, "vm-win", seal=WINDOWS)
    assert world.sleeps == []  # not an hour later: at once
    assert "vmimage-seal" not in world.commands("vm-win")
    assert sum(world.rest.posts.values()) == 0


def test_a_seal_that_fails_in_the_guest_fails_the_step_with_its_output():
    world = VmWorld(faults=FaultPlan(sysprep_hang=True))
    world.add_vm("vm-win", windows=True)
    script = WINDOWS_SEAL_SCRIPT.replace("AddMinutes(60)", "AddMinutes(10)")
    with pytest.raises(GeneralizeError,
                       match="(?s)failed in the guest.*IMAGE_STATE_UNDEPLOYABLE"):
        run(world, "vm-win", seal=Seal("windows", script, timeout_s=3600), poll_s=15)
    assert sum(world.sleeps) == 600  # when the script gave up, not at the step's timeout
    assert sum(world.rest.posts.values()) == 0
    assert world.state("vm-win")[0] == "running"


def test_a_failed_seal_on_a_running_vm_is_sent_again_on_the_next_run():
    """Azure keeps the failed command; the VM runs, so nothing was sealed: the next run
    sends checks and seal again, each with an attempt line (a new configuration)."""
    world = VmWorld()
    world.add_vm("vm-win", windows=True)
    world.arm.guest = GuestState(sysprep_hangs=True)
    script = WINDOWS_SEAL_SCRIPT.replace("AddMinutes(60)", "AddMinutes(10)")
    seal = Seal("windows", script, checks=WINDOWS_CHECKS_SCRIPT, timeout_s=3600)
    with pytest.raises(GeneralizeError, match="IMAGE_STATE_UNDEPLOYABLE"):
        run(world, "vm-win", seal=seal)
    world.arm.guest = None  # the fix
    messages: list[str] = []
    out = run(world, "vm-win", seal=seal, progress=messages.append)
    assert out["osState"] == "generalized"
    assert any("failed (failed, exit code 1); sending it again" in m for m in messages)
    assert puts(world) == ["vmimage-seal-checks", "vmimage-seal"] * 2
    sent = world.commands("vm-win")
    assert sent["vmimage-seal"]["source"]["script"] == f"{script.rstrip()}\n# vmimage attempt 2\n"
    assert sent["vmimage-seal-checks"]["source"]["script"].endswith("# vmimage attempt 2\n")


def test_resend_counts_attempts_from_the_script_sent_before():
    def sent(script: str) -> CommandState:
        return CommandState("failed", 1, "", "", script=script)

    assert resend("s", None) == "s"
    assert resend("s\n", sent("s\n")) == "s\n# vmimage attempt 2\n"
    assert resend("s", sent("s\n# vmimage attempt 2\n")) == "s\n# vmimage attempt 3\n"


def test_windows_vm_that_never_stops_times_out_without_touching_it():
    world = VmWorld(faults=FaultPlan(sysprep_hang=True))
    world.add_vm("vm-win", windows=True)
    with pytest.raises(GeneralizeError) as info:
        run(world, "vm-win", seal=Seal("windows", WINDOWS_SEAL_SCRIPT, timeout_s=60),
            poll_s=15)
    message = str(info.value)
    assert "'vm-win'" in message and "running" in message
    assert r"C:\Windows\System32\Sysprep\Panther\setupact.log" in message
    assert sum(world.rest.posts.values()) == 0
    assert sum(world.sleeps) == 60
    assert world.state("vm-win")[0] == "running"


def test_windows_power_off_without_the_sealed_state_is_not_captured(world):
    """sysprep /shutdown launched and not waited for: the VM powers off, but the seal
    never reported the sealed ImageState."""
    world.add_vm("vm-win", windows=True)
    script = ("Start-Process -FilePath C:\\Windows\\System32\\Sysprep\\sysprep.exe "
              "-ArgumentList '/generalize /oobe /shutdown /mode:vm'\n")
    with pytest.raises(GeneralizeError, match="never reported ImageState="
                                              "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"):
        run(world, "vm-win", seal=Seal("windows", script))
    assert world.state("vm-win")[0] == "stopped"
    assert sum(world.rest.posts.values()) == 0


def test_a_vm_deallocated_while_its_guest_seals_is_not_captured(world):
    """A guest that powers off leaves its VM stopped; deallocated means Azure (a Spot
    eviction) or someone else took it away mid-seal: the guest may be half sealed."""
    vm = world.add_vm("vm-spot")
    world.arm.vms[vm.lower()].set(world.clock.now + 10, "deallocated")  # evicted mid-seal
    with pytest.raises(GeneralizeError, match="was deallocated while its guest was sealing"
                       ) as info:
        run(world, "vm-spot", seal=LINUX)
    assert "pulumi up --replace" in str(info.value)
    assert sum(world.rest.posts.values()) == 0 and world.state("vm-spot")[1] != "generalized"


def test_a_vm_stopped_by_hand_is_not_captured(world):
    world.add_vm("vm1", power="stopped")
    with pytest.raises(GeneralizeError, match="never sealed by vmimage"):
        run(world, "vm1", seal=LINUX)
    assert sum(world.rest.posts.values()) == 0


def test_a_rerun_after_the_guest_powered_off_sends_nothing_to_the_guest(world):
    """A run cut short once the seal started: the guest is off and Azure would refuse a
    run command now. The re-run finds the seal command and only deallocates and
    generalizes."""
    world.add_vm("vm-win", windows=True)
    world.rest.crash_after("deallocate")
    with pytest.raises(SimulatedCrash):
        run(world, "vm-win", seal=WINDOWS)
    sent = puts(world)
    assert sent == ["vmimage-seal-checks", "vmimage-seal"]
    out = run(world, "vm-win", seal=WINDOWS)
    assert out["osState"] == "generalized"
    assert puts(world) == sent
    assert world.rest.applied == {"deallocate": 1, "generalize": 1}


def test_a_rerun_while_the_guest_seals_waits_instead_of_sending_again(world):
    world.add_vm("vm-win", windows=True)
    with pytest.raises(GeneralizeError, match="did not power off within 15s"):
        run(world, "vm-win", seal=Seal("windows", WINDOWS_SEAL_SCRIPT,
                                       checks=WINDOWS_CHECKS_SCRIPT, timeout_s=15), poll_s=15)
    out = run(world, "vm-win", seal=WINDOWS)
    assert out["osState"] == "generalized"
    assert puts(world) == ["vmimage-seal-checks", "vmimage-seal"]  # each sent once


def test_transient_errors_while_waiting_do_not_abort_the_step(world):
    """One exhausted read during the wait is not the end of the seal: keep waiting."""
    world.add_vm("vm-win", windows=True)
    # no client-side retries: every injected answer reaches the step itself
    client, _ = world.client(retry_total=0)
    world.rest.inject("GET", "/instanceView", 503, times=1, after=2)
    world.rest.inject("GET", "/runCommands/vmimage-seal", 429, times=2, after=1)
    messages: list[str] = []
    out = run(world, "vm-win", seal=WINDOWS, client=client, poll_s=15,
              progress=messages.append)
    assert out["osState"] == "generalized"
    assert len([m for m in messages if "failed for now" in m]) == 3


def test_failed_deallocate_stops_before_generalize(world):
    world.add_vm("vm1")
    world.rest.fail_operation("deallocate")
    with pytest.raises(GeneralizeError, match="deallocate of VM 'vm1'.*not generalizing"):
        run(world, "vm1")
    assert world.rest.posts["generalize"] == 0
    assert world.state("vm1") == ("running", "specialized")  # left as it was


def test_rerun_after_crash_between_deallocate_and_generalize_converges(world):
    world.add_vm("vm1")
    world.rest.crash_after("deallocate")
    with pytest.raises(SimulatedCrash):
        run(world, "vm1")
    assert world.state("vm1") == ("deallocated", "specialized")
    assert world.rest.posts["generalize"] == 0

    out = run(world, "vm1")  # a fresh process: new client
    assert out["osState"] == "generalized"
    assert world.rest.posts == {"deallocate": 1, "generalize": 1}
    # and a third run is a no-op
    assert run(world, "vm1")["posts"] == 0
    assert world.rest.posts == {"deallocate": 1, "generalize": 1}


def test_missing_vm_is_a_clear_error(world):
    with pytest.raises(GeneralizeError, match="instance view of VM 'ghost'.*ResourceNotFound"):
        run(world, "ghost")


# ----- client construction ---------------------------------------------------------------

@pytest.mark.parametrize(("environment", "host", "scope"), [
    (None, "management.azure.com", "https://management.azure.com/.default"),
    ("public", "management.azure.com", "https://management.azure.com/.default"),
    ("usgovernment", "management.usgovcloudapi.net",
     "https://management.core.usgovcloudapi.net/.default"),
    ("china", "management.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default"),
])
def test_make_compute_client_targets_the_right_cloud(world, environment, host, scope):
    world.add_vm("vm1")
    credential = StaticTokenCredential()
    transport = SimulatedArmTransport(world.rest)
    client = make_compute_client(SUBSCRIPTION_ID, credential=credential,
                                 environment=environment, transport=transport)
    client.virtual_machines.instance_view(RG, "vm1")
    (method, url), = transport.requests
    assert url.startswith(f"https://{host}/subscriptions/{SUBSCRIPTION_ID}/")
    assert credential.scopes_requested == [(scope,)]


def test_make_compute_client_rejects_unknown_environment():
    with pytest.raises(AuthError, match="unknown azure-native:environment 'mars'"):
        make_compute_client("sub", credential=StaticTokenCredential(), environment="mars")


# ----- the dynamic provider ----------------------------------------------------------------

PROPS = {"resourceGroupName": RG, "vmName": "vm1",
         "vmId": f"/subscriptions/s/resourceGroups/{RG}/providers/Microsoft.Compute/"
                 "virtualMachines/vm1",
         "location": "westeurope", "os": "linux", "sealScript": LINUX_SEAL_SCRIPT,
         "sealChecks": None, "timeoutSeconds": 900.0,
         "subscriptionId": "00000000-0000-0000-0000-000000000000", "environment": None}


def test_diff_replaces_only_when_vm_id_changes():
    provider = gen.GeneralizeProvider()
    same = provider.diff("id", dict(PROPS), dict(PROPS))
    assert same.changes is False and same.replaces == []

    slower = provider.diff("id", dict(PROPS), {**PROPS, "timeoutSeconds": 7200.0})
    assert slower.changes is True and slower.replaces == []

    other_vm = {**PROPS, "vmName": "vm2", "vmId": PROPS["vmId"][:-1] + "2"}
    moved = provider.diff("id", dict(PROPS), other_vm)
    assert moved.changes is True and moved.replaces == ["vmId"]

    # Same name, recreated VM: a new unique id is a VM that was never generalized.
    recreated = provider.diff("id", {**PROPS, "vmUniqueId": "a"}, {**PROPS, "vmUniqueId": "b"})
    assert recreated.changes is True and recreated.replaces == ["vmUniqueId"]

    # olds carry outputs and the serialized provider; neither may trigger anything
    olds = {**PROPS, "powerState": "deallocated", "osState": "generalized",
            "generalizedAt": "2025-01-01T00:00:00+00:00", "__provider": "old"}
    assert provider.diff("id", olds, {**PROPS, "__provider": "new"}).changes is False


def test_delete_is_a_no_op(monkeypatch):
    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("delete must not call Azure")

    monkeypatch.setattr(vm_action, "make_compute_client", boom)
    assert gen.GeneralizeProvider().delete("id", dict(PROPS)) is None


def test_update_keeps_recorded_outputs_and_calls_nothing(monkeypatch):
    monkeypatch.setattr(vm_action, "make_compute_client", lambda *a, **k: pytest.fail("no Azure"))
    olds = {**PROPS, "powerState": "deallocated", "osState": "generalized",
            "generalizedAt": "2025-01-01T00:00:00+00:00"}
    outs = gen.GeneralizeProvider().update("id", olds, {**PROPS, "timeoutSeconds": 60.0}).outs
    assert outs is not None
    assert outs["timeoutSeconds"] == 60.0 and outs["osState"] == "generalized"
    assert outs["generalizedAt"] == "2025-01-01T00:00:00+00:00"


def test_check_reports_bad_inputs():
    result = gen.GeneralizeProvider().check({}, {**PROPS, "vmName": "", "timeoutSeconds": 0,
                                                 "environment": "mars"})
    assert sorted(f.property for f in result.failures) == ["environment", "timeoutSeconds",
                                                           "vmName"]
    assert gen.GeneralizeProvider().check({}, dict(PROPS)).failures == []


def test_create_runs_generalize_and_records_outputs(monkeypatch):
    # The provider sleeps for real: here the guest powers off as its seal is sent, and
    # the deallocation is done at its first poll.
    world = VmWorld(latency={"guest.deprovision": 0, "vm.deallocate": 0})
    world.add_vm("vm1")
    seen: dict[str, Any] = {}

    def offline_client(subscription_id: str, **kwargs: Any) -> Any:
        seen.update(subscription=subscription_id)
        return world.client()[0]

    monkeypatch.setattr(vm_action, "make_compute_client", offline_client)
    monkeypatch.setattr(vm_action, "make_credential",
                        lambda settings, **_: (StaticTokenCredential(), "a test token"))
    result = gen.GeneralizeProvider().create(dict(PROPS))
    assert result.id == PROPS["vmId"]
    assert result.outs is not None
    assert result.outs["powerState"] == "deallocated"
    assert result.outs["osState"] == "generalized"
    assert result.outs["generalizedAt"].endswith("+00:00")
    assert seen == {"subscription": PROPS["subscriptionId"]}
    assert world.rest.applied == {"deallocate": 1, "generalize": 1}


@pytest.mark.parametrize(("arm_id", "subscription"), [
    ("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v", "s1"),
    ("/SUBSCRIPTIONS/S2/resourceGroups/rg", "S2"),
    ("/subscriptions//resourceGroups/rg", None),
    ("subscriptions/s1/resourceGroups/rg", None),
    ("/mock/vm1", None),
    ("", None),
    (None, None),
])
def test_subscription_of_an_arm_id(arm_id, subscription):
    assert vm_action.subscription_of(arm_id) == subscription


def test_subscription_comes_from_the_input_then_the_vm_id_then_the_environment(monkeypatch):
    monkeypatch.delenv("ARM_SUBSCRIPTION_ID", raising=False)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "from-env")
    assert vm_action.subscription(dict(PROPS)) == PROPS["subscriptionId"]
    assert vm_action.subscription({**PROPS, "subscriptionId": None}) == "s"  # from vmId
    not_arm = {**PROPS, "subscriptionId": None, "vmId": "/mock/vm1"}
    assert vm_action.subscription(not_arm) == "from-env"


def test_create_without_any_subscription_fails_clearly(monkeypatch):
    monkeypatch.delenv("ARM_SUBSCRIPTION_ID", raising=False)
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    with pytest.raises(vm_action.VmActionError,
                       match="vmId is not an ARM id.*ARM_SUBSCRIPTION_ID"):
        gen.GeneralizeProvider().create({**PROPS, "subscriptionId": None, "vmId": "/mock/vm1"})


def test_resource_registers_camel_case_inputs_and_snake_case_outputs():
    import pulumi

    registered: list[tuple[str, str, dict[str, Any]]] = []

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            registered.append((args.typ, args.name, dict(args.inputs)))
            outs = {**args.inputs, "powerState": "deallocated", "osState": "generalized",
                    "generalizedAt": "2025-01-01T00:00:00+00:00"}
            return args.name + "-id", outs

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
            return {}, None

    pulumi.runtime.set_mocks(Mocks(), preview=False)
    try:
        @pulumi.runtime.test
        def check() -> Any:
            res = gen.Generalize("build-generalize", gen.GeneralizeArgs(
                resource_group_name=RG, vm_name="vm1", vm_id=PROPS["vmId"],
                location="westeurope", os="windows", seal_script="sysprep",
                seal_checks="checks", timeout_seconds=1800.0))

            def verify(values: list[Any]) -> None:
                assert values == ["deallocated", "generalized", "2025-01-01T00:00:00+00:00"]

            return pulumi.Output.all(res.power_state, res.os_state,
                                     res.generalized_at).apply(verify)

        check()
    finally:
        pulumi.runtime.settings.configure(pulumi.runtime.settings.Settings("project", "stack"))

    (typ, name, inputs), = registered
    assert typ == "pulumi-python:dynamic/vmimage:Generalize"
    assert name == "build-generalize"
    assert {k: inputs[k] for k in ("resourceGroupName", "vmName", "vmId", "os",
                                   "sealScript", "sealChecks", "timeoutSeconds")} == {
        "resourceGroupName": RG, "vmName": "vm1", "vmId": PROPS["vmId"], "os": "windows",
        "sealScript": "sysprep", "sealChecks": "checks", "timeoutSeconds": 1800.0}
    assert "__provider" in inputs


def test_bundled_modules_import_only_their_bundle():
    """What makes by-value pickling work: a bundled module imports no project module but
    one earlier in its bundle, and only as `from a.b import c` (no parent package)."""
    for index, name in enumerate(gen.BUNDLE):
        source = (ROOT / (name.replace(".", "/") + ".py")).read_text()
        for line in source.splitlines():
            if not line.startswith(("import ", "from ")):
                continue
            module = line.split()[1]
            if module.startswith(("components", "offline", "tests", "policy", ".")):
                assert line.startswith("from "), line
                assert module in gen.BUNDLE[:index], line
