"""The resume of an evicted Spot build VM as the Pulumi engine runs it: the Resume
dynamic resource in the provider host (`python -u -m pulumi.dynamic`), over gRPC, with
the inputs the program registers when it finds the VM evicted, against a local HTTPS
Azure. The same host, bundle and credentials path as Generalize and Restart."""

from __future__ import annotations

from typing import Any

from conftest import load_stack_dict
from engine_host import clean_env, configure, from_struct, provider_stub, start, to_struct, vm_of
from fake_azure import FAST
from program_mocks import run_program
from pulumi.runtime.proto import provider_pb2

from vmimage.vocabulary import RESUME

BUILD_VM = "vm-build-web-ubuntu-1-0-0"


def resume_registration(*, preview: bool) -> Any:
    config = load_stack_dict("dev")
    config["vmimage:pipeline"]["builds"][0]["spot"] = True
    recorded = run_program(config, stack="dev", preview=preview, evicted={BUILD_VM})
    (reg,) = [r for r in recorded.resources if r.type == RESUME]
    return reg


def check(stub: Any, reg: Any) -> Any:
    return stub.Check(provider_pb2.CheckRequest(
        urn=reg.urn, olds=to_struct({}), news=reg.request.object, type=RESUME, name=reg.name))


def test_preview_checks_with_unknowns_and_a_new_eviction_is_a_new_start(
        tmp_path, engine) -> None:
    reg = resume_registration(preview=True)
    with start(tmp_path, engine, clean_env()) as host:
        stub = provider_stub(host)
        configure(stub)
        checked = check(stub, reg)
        assert list(checked.failures) == []
        olds = {**from_struct(checked.inputs), "vmId": "/x", "vmUniqueId": "u",
                "evictedAt": "2026-11-01T00:00:00+00:00"}
        news = {**olds, "evictedAt": "2026-11-02T00:00:00+00:00"}
        diff = stub.Diff(provider_pb2.DiffRequest(id="x", urn=reg.urn, olds=to_struct(olds),
                                                  news=to_struct(news)))
        assert list(diff.replaces) == ["evictedAt"]


def test_create_starts_the_evicted_vm_and_waits_for_its_agent(
        tmp_path, engine, azure) -> None:
    reg = resume_registration(preview=False)
    rg, vm = vm_of(reg)
    fake, world = azure.azure.arm, azure.azure.world
    machine = world.add_vm(vm, rg=rg, power="deallocated")  # evicted
    world.set_latency(**{"guest.boot": 2})
    with start(tmp_path, engine, clean_env(**azure.env(**FAST))) as host:
        stub = provider_stub(host)
        configure(stub)
        checked = check(stub, reg)
        assert list(checked.failures) == []
        created = stub.Create(provider_pb2.CreateRequest(
            urn=reg.urn, properties=checked.inputs, timeout=3600, type=RESUME,
            name=reg.name))
        outs = from_struct(created.properties)
        assert outs["powerState"] == "running" and outs["agentStatus"] == "Ready"
        assert outs["resumedAt"]
        assert fake.applied == {"start": 1}
        assert world.state(vm, rg)[0] == "running"
        (started, ready), = world.arm.reboots[machine.lower()]
        assert world.arm.agent_status(machine, world.clock.now) == ("Ready", ready)
        # A VM that runs already (started by hand since) is not started again.
        again = stub.Create(provider_pb2.CreateRequest(
            urn=reg.urn, properties=checked.inputs, timeout=3600, type=RESUME,
            name=reg.name))
        assert from_struct(again.properties)["agentStatus"] == "Ready"
        assert fake.applied == {"start": 1}
        leaked = {m for m in host.imported_modules()
                  if m.split(".")[0] in ("offline", "tests", "conftest", "program_mocks")}
        assert leaked == set()
