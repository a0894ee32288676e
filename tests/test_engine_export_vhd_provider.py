"""The VHD export as the Pulumi engine runs it: the ExportVhd dynamic resource in the
provider host (`python -u -m pulumi.dynamic`), over gRPC, with the inputs the program
registers for `capture: [gallery, {vhd: ...}]`, against a local HTTPS Azure: ARM (Grant
Access as the long-running operation it is) and the storage account's blob host
(tests/fake_azure.py), reached through the proxy and credentials alone. A host killed
mid-copy leaves the copy running; the next host's Create waits for it, copies nothing
again and revokes the access the dead one left."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from conftest import CORP, load_stack_dict
from engine_host import clean_env, configure, from_struct, provider_stub, start, to_struct, vm_of
from fake_azure import FAST
from google.protobuf import json_format
from program_mocks import run_program
from pulumi.runtime.proto import provider_pb2

from offline.arm.tenancy import add_existing
from vmimage.vocabulary import EXPORT_VHD

ACCOUNT = (f"{CORP}/rg-vmimage-uploads/providers/Microsoft.Storage/storageAccounts/"
           "stvmimageimport")
BLOB = "https://stvmimageimport.blob.core.windows.net/exports/app-ws2022-1.1.0-osdisk.vhd"
#: How long the test waits for the killed host's copy to have started (not asserted on).
STARTED_WITHIN_S = 120


def export_registration(*, preview: bool) -> Any:
    recorded = run_program(load_stack_dict("import"), stack="import", preview=preview)
    (reg,) = [r for r in recorded.resources if r.type == EXPORT_VHD]
    return reg


def check(stub: Any, reg: Any, props: Any = None) -> Any:
    return stub.Check(provider_pb2.CheckRequest(
        urn=reg.urn, olds=to_struct({}), news=props or reg.request.object, type=EXPORT_VHD,
        name=reg.name))


def create(stub: Any, reg: Any, inputs: Any) -> Any:
    return stub.Create(provider_pb2.CreateRequest(urn=reg.urn, properties=inputs,
                                                  timeout=3600, type=EXPORT_VHD, name=reg.name))


def wire(response: Any) -> str:
    """Everything the host answered, as text."""
    return json.dumps(json_format.MessageToDict(response))


def test_preview_checks_with_unknowns(tmp_path, engine) -> None:
    reg = export_registration(preview=True)
    with start(tmp_path, engine, clean_env()) as host:
        stub = provider_stub(host)
        configure(stub)
        checked = check(stub, reg)
        assert list(checked.failures) == []
        broken = {**from_struct(checked.inputs), "blobNames": {"0": "x.vhd"}}
        failures = check(stub, reg, to_struct(broken)).failures
        assert [(f.property, f.reason) for f in failures] == [
            ("blobNames", "blobNames must name the osDisk blob")]


def test_create_exports_and_a_host_killed_mid_copy_is_not_copied_again(
        tmp_path, engine, azure) -> None:
    reg = export_registration(preview=False)
    rg, vm = vm_of(reg)
    fake, world = azure.azure, azure.azure.world
    world.add_vm(vm, rg=rg, power="deallocated", generalized=True)
    add_existing(world.arm, ACCOUNT, region="westeurope")
    # Grant Access ends after a poll; a copy runs for an hour of simulated time (each
    # request is a second): the first host is killed long before it ends.
    world.set_latency(**{"disk.access": 1, "blob.copy": 3600})
    env = clean_env(**azure.env(**FAST))
    with start(tmp_path, engine, env) as host, ThreadPoolExecutor(1) as pool:
        stub = provider_stub(host)
        configure(stub)
        checked = check(stub, reg)
        assert list(checked.failures) == []
        first = pool.submit(create, stub, reg, checked.inputs)
        deadline = time.monotonic() + STARTED_WITHIN_S
        while not world.arm.storage.copies and time.monotonic() < deadline and not first.done():
            time.sleep(0.05)
        assert world.arm.storage.copies, first.exception() if first.done() else "no copy"
        host.process.kill()  # mid-copy: the access it granted stays granted
        with pytest.raises(grpc.RpcError):
            first.result()
    assert set(world.arm.storage.copies.values()) == {1} and world.arm.disk_access
    ((method, url, status),) = [e for e in fake.blob_log if e[0] == "PUT" and "/exports/" in e[1]]
    assert (url, status) == (BLOB, 202)
    world.clock.sleep(3600)  # the copy Azure kept running ends
    grants = fake.arm.applied["grantAccess"]
    with start(tmp_path, engine, env) as host:
        stub = provider_stub(host)
        configure(stub)
        checked = check(stub, reg)
        created = create(stub, reg, checked.inputs)
        outs = from_struct(created.properties)
        assert outs["blobs"] == [BLOB] and outs["copiedDisks"] == 0
        assert outs["exportedAt"]
        text = wire(created)
        assert "sig=" not in text and "blob.storage.azure.net" not in text
        assert set(world.arm.storage.copies.values()) == {1}  # not copied again
        assert fake.arm.applied["grantAccess"] == grants  # nor access granted again
        assert world.arm.disk_access == {}  # the dead host's grant revoked
        (blob,) = world.arm.storage.blobs.values()
        assert blob.status == "success"
        leaked = {m for m in host.imported_modules()
                  if m.split(".")[0] in ("offline", "tests", "conftest", "program_mocks")}
        assert leaked == set()
    # The long-running Grant Access was polled as ARM answers it, over HTTPS.
    grants_log = [(m, s) for m, p, s in fake.arm.log if p.endswith("/beginGetAccess")]
    assert grants_log == [("POST", 202)]
    assert any("/operationResults/" in p and s == 200 for _, p, s in fake.arm.log)
    assert not any("sig=" in u for _, u, _ in fake.blob_log)
