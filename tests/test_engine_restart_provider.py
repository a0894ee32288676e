"""The restart step as the Pulumi engine runs it: the Restart dynamic resource in the
provider host (`python -u -m pulumi.dynamic`), over gRPC, with the inputs the program
registers for a `{restart: {}}` step (preview and update), against a local HTTPS Azure.
The same host, bundle and credentials path as Generalize (test_engine_dynamic_provider)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import load_stack_dict
from engine_host import clean_env, configure, from_struct, provider_stub, start, to_struct, vm_of
from fake_azure import FAST
from program_mocks import run_program
from pulumi.runtime.proto import provider_pb2

RESTART = "pulumi-python:dynamic/vmimage:Restart"


def restart_registration(*, preview: bool) -> Any:
    config = load_stack_dict("dev")
    build = config["vmimage:pipeline"]["builds"][0]
    build["customize"] = [*build["customize"], {"restart": {"timeoutSeconds": 600}},
                          {"inline": "echo after the reboot"}]
    recorded = run_program(config, stack="dev", preview=preview)
    (reg,) = [r for r in recorded.resources if r.type == RESTART]
    return reg


def check(stub: Any, reg: Any, olds: Any = None) -> Any:
    return stub.Check(provider_pb2.CheckRequest(
        urn=reg.urn, olds=olds or to_struct({}), news=reg.request.object, type=RESTART,
        name=reg.name))


def test_preview_checks_with_unknowns(tmp_path, engine) -> None:
    reg = restart_registration(preview=True)
    with start(tmp_path, engine, clean_env()) as host:
        stub = provider_stub(host)
        configure(stub)
        checked = check(stub, reg)
        assert list(checked.failures) == []
        diff = stub.Diff(provider_pb2.DiffRequest(
            id="x", urn=reg.urn, olds=to_struct({**reg.inputs, "vmId": "old"}),
            news=checked.inputs))
        assert "vmId" in list(diff.replaces)  # an unknown VM may be another VM


def test_create_restarts_and_waits_for_the_agent_then_updates_in_place(
        tmp_path, engine, azure) -> None:
    reg = restart_registration(preview=False)
    rg, vm = vm_of(reg)
    fake, world = azure.azure.arm, azure.azure.world
    machine = world.add_vm(vm, rg=rg)
    world.set_latency(**{"guest.boot": 3})  # three requests after the reboot
    before = world.arm.agent_status(machine, world.clock.now)[1]
    with start(tmp_path, engine, clean_env(**azure.env(**FAST))) as host:
        stub = provider_stub(host)
        configure(stub)
        checked = check(stub, reg)
        assert list(checked.failures) == []
        created = stub.Create(provider_pb2.CreateRequest(
            urn=reg.urn, properties=checked.inputs, timeout=3600, type=RESTART,
            name=reg.name))
        outs = from_struct(created.properties)
        assert outs["agentStatus"] == "Ready" and outs["restartedAt"]
        assert fake.applied == {"restart": 1}
        # it waited for a report newer than the stale one
        (rebooted, ready), = world.arm.reboots[machine.lower()]
        assert ready > before and world.clock.now >= ready
        # moving it after another step is an update that calls nothing
        news = from_struct(checked.inputs)
        news["after"] = "another-step"
        requests = len(fake.log)
        diff = stub.Diff(provider_pb2.DiffRequest(
            id=created.id, urn=reg.urn, olds=created.properties, news=to_struct(news),
            old_inputs=checked.inputs))
        assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
        assert list(diff.replaces) == []
        updated = stub.Update(provider_pb2.UpdateRequest(
            id=created.id, urn=reg.urn, olds=created.properties, news=to_struct(news),
            old_inputs=checked.inputs))
        assert from_struct(updated.properties)["restartedAt"] == outs["restartedAt"]
        stub.Delete(provider_pb2.DeleteRequest(id=created.id, urn=reg.urn,
                                               properties=created.properties))
        assert len(fake.log) == requests  # neither sent anything to Azure
        leaked = {m for m in host.imported_modules()
                  if m.split(".")[0] in ("offline", "tests", "conftest", "program_mocks")}
        assert leaked == set()


def test_an_agent_that_never_reports_fails_with_the_timeout(tmp_path, engine,
                                                            azure) -> None:
    reg = restart_registration(preview=False)
    rg, vm = vm_of(reg)
    world = azure.azure.world
    world.add_vm(vm, rg=rg)
    world.set_latency(**{"guest.boot": 1e9})  # the booted guest's agent never reports
    props = from_struct(reg.request.object)
    props["timeoutSeconds"] = 1  # five reads after the reboot, every 0.2 s
    with start(tmp_path, engine, clean_env(**azure.env(**FAST))) as host:
        stub = provider_stub(host)
        configure(stub)
        import grpc

        with pytest.raises(grpc.RpcError) as info:
            stub.Create(provider_pb2.CreateRequest(urn=reg.urn, properties=to_struct(props),
                                                   timeout=3600, type=RESTART, name=reg.name))
        assert "did not report Ready within 1s" in str(info.value.details())
