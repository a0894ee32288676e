"""Health-gated rollouts (#18): a clone group's batches wait for the batch before to
report healthy through the Application Health extension (and a pause); an unhealthy
batch stops the rollout with the old VMs still there; scale sets probe what the config
says and take as long as their batches."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import LOCATION, load_stack_dict, problems_of, stack_config
from engine_host import clean_env, configure, from_struct, provider_stub, start, to_struct, vm_of
from fake_azure import FAST
from program_mocks import SUBSCRIPTION, run_program
from pulumi.runtime.proto import provider_pb2

from offline.faults import FaultPlan
from offline.up import up
from vmimage.config.validate import load_spec
from vmimage.vocabulary import HEALTH_GATE, RETIRE_BATCH, VM_EXTENSION

VM = "azure-native:compute:VirtualMachine"
VMSS = "azure-native:compute:VirtualMachineScaleSet"
WEB = {"protocol": "http", "port": 80, "path": "/healthz", "timeoutSeconds": 600}


def gated(count: int = 4, batch: int = 2, **rollout: Any) -> dict[str, Any]:
    config = load_stack_dict("dev")
    clone = config["vmimage:pipeline"]["clones"][0]
    clone.update(count=count, rollout={"batchSize": batch, "health": WEB, **rollout})
    return config


# -- the spec ----------------------------------------------------------------------------------

def test_a_probe_says_what_it_asks():
    raw = gated()["vmimage:pipeline"]
    raw["clones"][0]["rollout"]["health"] = {"protocol": "https", "port": 443}
    assert problems_of(raw) == [
        "clones[0].rollout.health.path: required for https (e.g. /healthz)"]
    raw["clones"][0]["rollout"]["health"] = {"protocol": "tcp", "port": 22, "path": "/x"}
    assert problems_of(raw) == [
        "clones[0].rollout.health.path: only for http and https; a tcp probe connects"]
    raw["clones"][0]["rollout"] = {"batchSize": 1, "pauseSeconds": 60}
    assert problems_of(raw) == [
        "clones[0].rollout.pauseSeconds: follows a healthy batch; set rollout.health"]
    raw["clones"][0]["rollout"]["health"] = {"protocol": "ftp", "port": 21}
    [problem] = problems_of(raw)
    assert problem.startswith("clones[0].rollout.health.protocol: ")
    spec = load_spec(gated(pauseSeconds=30)["vmimage:pipeline"], location=LOCATION).spec
    assert spec.clones[0].rollout.health.path == "/healthz"


# -- what is registered (plain mocks) ----------------------------------------------------------

def test_each_batch_waits_for_the_one_before_to_be_healthy():
    recorded = run_program(gated(pauseSeconds=30))
    extensions = recorded.of_type(VM_EXTENSION)
    gates = recorded.of_type(HEALTH_GATE)
    assert len(extensions) == len(gates) == 4
    assert all(e.inputs["settings"] == {"protocol": "http", "port": 80,
                                        "requestPath": "/healthz"} for e in extensions)
    assert all(e.inputs["type"] == "ApplicationHealthLinux" for e in extensions)
    assert all(g.inputs["pauseSeconds"] == 30 and g.inputs["timeoutSeconds"] == 600
               for g in gates)
    clones = {vm.name: vm for vm in recorded.of_type(VM) if "-clones-" in vm.name}
    first = {g.urn for g in gates if g.name.rsplit("-", 2)[-2] in ("0", "1")}
    for index in (2, 3):  # the second batch waits for the first batch's gates
        assert first <= set(clones[f"vmimage-clones-web-{index}"].dependencies)
    for index in (0, 1):
        assert not first & set(clones[f"vmimage-clones-web-{index}"].dependencies)


def test_without_a_probe_nothing_is_gated():
    recorded = run_program(load_stack_dict("dev"))
    assert not recorded.of_type(VM_EXTENSION) and not recorded.of_type(HEALTH_GATE)


def test_a_scale_set_probes_what_the_config_says_and_pauses():
    config = gated()
    config["vmimage:pipeline"]["clones"][0]["kind"] = "scaleSet"
    config["vmimage:pipeline"]["clones"][0]["rollout"]["pauseSeconds"] = 45
    (scale_set,) = run_program(config).of_type(VMSS)
    (extension,) = scale_set.inputs["virtualMachineProfile"]["extensionProfile"]["extensions"]
    assert extension["settings"] == {"protocol": "http", "port": 80, "requestPath": "/healthz"}
    policy = scale_set.inputs["upgradePolicy"]["rollingUpgradePolicy"]
    assert policy["pauseTimeBetweenBatches"] == "PT45S"
    assert policy["maxBatchInstancePercent"] == 50
    # without a probe, the admin port as before
    plain = load_stack_dict("dev")
    plain["vmimage:pipeline"]["clones"][0]["kind"] = "scaleSet"
    (default,) = run_program(plain).of_type(VMSS)
    (extension,) = default.inputs["virtualMachineProfile"]["extensionProfile"]["extensions"]
    assert extension["settings"] == {"protocol": "tcp", "port": 22}


# -- offline ----------------------------------------------------------------------------------

def bump(config: dict[str, Any]) -> dict[str, Any]:
    """A new version 1.1.0 on 1.0.0, and the clones moved to it."""
    pipeline = config["vmimage:pipeline"]
    child = {**pipeline["builds"][0], "version": "1.1.0", "from": {"version": "1.0.0"},
             "dataDisks": []}
    pipeline["builds"].append(child)
    pipeline["clones"][0]["version"] = "1.1.0"
    return config


def test_a_healthy_rollout_runs_batch_after_batch(tmp_path):
    state = tmp_path / "state.json"
    assert up(stack_config("dev", gated()["vmimage:pipeline"]), state_path=state).ok
    result = up(stack_config("dev", bump(gated())["vmimage:pipeline"]), state_path=state)
    assert result.ok, result.run.failures or result.run.error
    gates = sorted((r for r in result.run.registrations if r.type == HEALTH_GATE
                    and "1-1-0" in str(r.inputs.get("vmName"))), key=lambda r: r.start_s)
    assert len(gates) == 4
    batch_one_healthy = max(g.end_s for g in gates[:2])
    second_vms = [r for r in result.run.registrations if r.type == VM
                  and r.outputs.get("name") in ("web-1-1-0-002", "web-1-1-0-003")]
    assert second_vms and all(vm.start_s >= batch_one_healthy for vm in second_vms)
    # batch 1's predecessors went as soon as it was healthy, before batch 2 began
    retires = sorted((r for r in result.run.registrations if r.type == RETIRE_BATCH),
                     key=lambda r: r.start_s)
    assert [r.outputs["retired"] for r in retires] == [
        ["web-1-0-0-000", "web-1-0-0-001"], ["web-1-0-0-002", "web-1-0-0-003"]]
    assert retires[0].end_s <= min(vm.start_s for vm in second_vms)
    old = {r.name: r for r in result.run.arm.resources.values()
           if r.token == VM and r.name.startswith("web-1-0-0-")}
    assert old["web-1-0-0-000"].deleted_at <= min(vm.start_s for vm in second_vms)


def test_an_unhealthy_batch_stops_the_rollout_and_keeps_the_old_vms(tmp_path):
    state = tmp_path / "state.json"
    assert up(stack_config("dev", gated()["vmimage:pipeline"]), state_path=state).ok
    faults = FaultPlan.parse("unhealthy=1")
    result = up(stack_config("dev", bump(gated())["vmimage:pipeline"]), state_path=state,
                faults=faults)
    assert not result.ok
    assert {f.type for f in result.run.failures} == {HEALTH_GATE}
    assert any("did not report healthy within 600s" in f.message
               for f in result.run.failures)
    created = {r.outputs.get("name") for r in result.run.registrations
               if r.type == VM and r.id}
    assert {"web-1-1-0-000", "web-1-1-0-001"} <= created
    assert not {"web-1-1-0-002", "web-1-1-0-003"} & created  # the next batch never started
    live = {r.name for r in result.run.arm.resources.values()
            if r.token == VM and r.deleted_at is None}
    assert {"web-1-0-0-000", "web-1-0-0-001", "web-1-0-0-002", "web-1-0-0-003"} <= live


def test_a_scale_set_roll_takes_its_batches(tmp_path):
    def scale_set(config: dict[str, Any]) -> dict[str, Any]:
        clone = config["vmimage:pipeline"]["clones"][0]
        clone.update(kind="scaleSet", count=10, rollout={"batchSize": 2, "pauseSeconds": 20})
        return config

    state = tmp_path / "state.json"
    assert up(stack_config("dev", scale_set(load_stack_dict("dev"))["vmimage:pipeline"]),
              state_path=state).ok
    result = up(stack_config("dev", bump(scale_set(load_stack_dict("dev")))[
        "vmimage:pipeline"]), state_path=state)
    assert result.ok
    (vmss,) = [r for r in result.run.registrations if r.type == VMSS]
    assert vmss.action == "update"
    # 5 batches of 2, each reimaged (180 s), healthy (30 s) and paused (20 s)
    assert vmss.end_s - vmss.start_s == pytest.approx(5 * (180 + 30 + 20))


# -- the gate in the provider host, over gRPC --------------------------------------------------

def known_vm_props(reg: Any) -> dict[str, Any]:
    """A clone action's registered inputs with its VM known, as in an update (under
    plain mocks a new clone's id is not an ARM id)."""
    rg, vm = vm_of(reg)
    props = from_struct(reg.request.object)
    props.update(vmId=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/"
                 f"Microsoft.Compute/virtualMachines/{vm}", vmUniqueId="u", subscriptionId=None)
    return props


def gate_registration() -> Any:
    (reg, *_) = run_program(gated()).of_type(HEALTH_GATE)
    return reg


def test_the_gate_waits_for_healthy_in_the_provider_host(tmp_path, engine, azure):
    reg = gate_registration()
    rg, vm = vm_of(reg)
    world = azure.azure.world
    machine = world.add_vm(vm, rg=rg)
    world.arm.healthy_at[machine.lower()] = world.clock.now + 3  # a few requests later
    props = known_vm_props(reg)

    with start(tmp_path, engine, clean_env(**azure.env(**FAST))) as host:
        stub = provider_stub(host)
        configure(stub)
        checked = stub.Check(provider_pb2.CheckRequest(
            urn=reg.urn, olds=to_struct({}), news=to_struct(props), type=HEALTH_GATE,
            name=reg.name))
        assert list(checked.failures) == []
        created = stub.Create(provider_pb2.CreateRequest(
            urn=reg.urn, properties=checked.inputs, timeout=3600, type=HEALTH_GATE,
            name=reg.name))
        outs = from_struct(created.properties)
        assert outs["healthState"] == "healthy" and outs["healthyAt"]
        reads = [p for m, p, _ in azure.azure.arm.log if p.endswith("/instanceView")]
        assert len(reads) >= 2  # it read until healthy
        assert world.arm.health_state(machine, world.clock.now) == "healthy"
        leaked = {m for m in host.imported_modules()
                  if m.split(".")[0] in ("offline", "tests", "conftest", "program_mocks")}
        assert leaked == set()


def test_auto_replicas_keep_a_captured_versions_count_and_say_so():
    """`replicas: auto` sizes a version when it is captured; clones moving onto it later
    do not quietly update the protected version: the plan says what auto would be."""
    from vmimage.config.fingerprint import Capture
    from vmimage.stack.captures import kept_replica_notes

    raw = load_stack_dict("dev")["vmimage:pipeline"]
    raw["builds"][0]["regions"] = [{"name": "westeurope"}]
    spec = load_spec(raw, location=LOCATION).spec
    build, (region,) = spec.builds[0], spec.regions_of(spec.builds[0])
    assert spec.replicas_for(build, region) == 2  # three clones run there
    held = {"1.0.0": Capture("1.0.0", captured=True, fingerprint="v1:x",
                             replicas={"westeurope": 1})}
    assert spec.replicas_for(build, region, held["1.0.0"].replicas) == 1
    assert kept_replica_notes(spec, held) == [
        "builds[0].regions (westeurope): replicas auto would now be 2 (clones moved), but "
        "version 1.0.0 keeps its 1: auto sizes a version when it is captured; set "
        "replicas: 2 to change it"]
    raw["builds"][0]["regions"] = [{"name": "westeurope", "replicas": 3}]
    explicit = load_spec(raw, location=LOCATION).spec
    assert kept_replica_notes(explicit, held) == []
    assert explicit.replicas_for(explicit.builds[0], explicit.regions_of(
        explicit.builds[0])[0], {"westeurope": 1}) == 3


def test_surge_is_one_batch_with_health_gates():
    from vmimage.config.rules import addresses_needed

    plain = load_spec(load_stack_dict("dev")["vmimage:pipeline"], location=LOCATION).spec
    spec = load_spec(gated(count=10, batch=2)["vmimage:pipeline"], location=LOCATION).spec
    assert addresses_needed(plain) == 1 + 3 + 3  # build VM, clones, every clone twice
    assert addresses_needed(spec) == 1 + 10 + 2  # build VM, clones, one batch twice


def test_retire_in_the_provider_host(tmp_path, engine, azure):
    config = gated()
    (reg, *_) = run_program(config).of_type(RETIRE_BATCH)
    rg, vm = vm_of(reg)
    world = azure.azure.world
    world.add_vm(vm, rg=rg, tags={"vmimage-clone-group": "web", "vmimage-version": "1.0.0"})
    for name, version in (("web-0-9-0-000", "0.9.0"), ("web-0-9-0-001", "0.9.0"),
                          ("web-0-9-0-002", "0.9.0"), ("other-0-9-0-000", "0.9.0")):
        world.add_vm(name, rg=rg, tags={"vmimage-clone-group": name.split("-")[0],
                                    "vmimage-version": version})
    props = known_vm_props(reg)

    with start(tmp_path, engine, clean_env(**azure.env(**FAST))) as host:
        stub = provider_stub(host)
        configure(stub)
        created = stub.Create(provider_pb2.CreateRequest(
            urn=reg.urn, properties=to_struct(props), timeout=3600, type=RETIRE_BATCH,
            name=reg.name))
        assert from_struct(created.properties)["retired"] == ["web-0-9-0-000", "web-0-9-0-001"]
        gone = {r.name for key, r in world.arm.resources.items()
                if key in world.arm.vms and r.deleted_at is not None}
        assert gone == {"web-0-9-0-000", "web-0-9-0-001"}  # not batch 2's, nor another group


def test_the_plan_says_what_auto_replicas_would_be(tmp_path):
    """A preflight warning (here: a captured version keeping its replicas while clones
    move onto it) reaches the Markdown plan, not only the log."""
    import io

    from rich.console import Console

    from offline.cli import main

    state, plan = tmp_path / "state.json", tmp_path / "plan.md"
    config = load_stack_dict("dev")
    config["vmimage:pipeline"]["builds"][0]["regions"] = [{"name": "westeurope"}]
    config["vmimage:pipeline"]["clones"][0]["count"] = 0
    stack_path = tmp_path / "Pulumi.dev.yaml"
    import yaml

    stack_path.write_text(yaml.safe_dump({"config": config}))
    assert main(["up", "--stack-file", str(stack_path), "--state", str(state), "--quiet"],
                console=Console(file=io.StringIO())) == 0
    config["vmimage:pipeline"]["clones"][0]["count"] = 50
    stack_path.write_text(yaml.safe_dump({"config": config}))
    out = io.StringIO()
    assert main(["up", "--stack-file", str(stack_path), "--state", str(state), "--quiet",
                 "--markdown", str(plan)], console=Console(file=out, width=200)) == 0, \
        out.getvalue()
    assert "replicas auto would now be 3 (clones moved), but version 1.0.0 keeps its 1" \
        in plan.read_text()
