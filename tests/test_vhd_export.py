"""The VHD export (`capture: [..., {vhd: {storageAccountId, container}}]`): the generalized
build VM's OS and data disks copied as page blobs (grant read access, Copy Blob, revoke),
offline through the real compute and blob clients against the simulated Azure
(offline/arm/storage.py). Convergent after a crash, access always revoked, the SAS in no
output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from conftest import CORP, load_pipeline, load_stack_dict, problems_of, stack_config
from pydantic import TypeAdapter
from vm_world import VmWorld

from offline.arm import SimulatedArm
from offline.arm.storage import digest, simulated_blob_service
from offline.arm.tenancy import add_existing
from offline.arm.vm_rest import SimulatedClock, simulated_client
from offline.arm_transport import StaticTokenCredential
from offline.faults import FaultPlan
from offline.latency import LatencyModel
from offline.up import UpResult, up
from vmimage.config import values
from vmimage.config.capture.vhd import blob_names
from vmimage.config.validate import load_spec
from vmimage.providers import vm_action
from vmimage.providers.export_vhd import (
    ACCESS_SECONDS,
    SOURCE_DISK,
    ExportVhdError,
    ExportVhdProvider,
    export_vhds,
    scrubbed,
)
from vmimage.vocabulary import EXPORT_VHD, GALLERY_IMAGE_VERSION

ACCOUNT = (f"{CORP}/rg-vmimage-uploads/providers/Microsoft.Storage/storageAccounts/"
           "stvmimageimport")
EXPECTED = [f"https://stvmimageimport.blob.core.windows.net/exports/app-ws2022-1.1.0-{d}.vhd"
            for d in ("osdisk", "lun0", "lun1")]


def tenant(arm: SimulatedArm) -> None:
    add_existing(arm, ACCOUNT, region="westeurope")


def export_up(state: Path, **how: Any) -> UpResult:
    return up(stack_config("import"), tenant=tenant, state_path=state, **how)


def exports(result: UpResult) -> list[Any]:
    return [o for o in result.run.operations if "ExportVhd" in o.resource]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[UpResult, Path]:
    state = tmp_path_factory.mktemp("vhd") / "state.json"
    result = export_up(state)
    assert result.ok, (result.run.failures, result.run.error)
    return result, state


def test_the_disks_become_page_blobs_named_in_the_outputs(
        exported: tuple[UpResult, Path]) -> None:
    result, _ = exported
    outputs = result.run.outputs
    assert outputs["vhdBlobs"] == {"1.1.0": EXPECTED}  # 1.0.0 is imported: a VHD already
    for url in EXPECTED:  # the URLs are what the config's own blob URL type accepts
        assert TypeAdapter(values.VhdUri).validate_python(url).account == "stvmimageimport"
    arm = result.run.arm
    blobs = {k: b for k, b in arm.storage.blobs.items()}
    assert sorted(blobs) == sorted(f"stvmimageimport/exports/{u.rsplit('/', 1)[-1]}"
                                   for u in EXPECTED)
    for blob in blobs.values():
        assert blob.status == "success" and blob.size % 512 == 0  # a fixed VHD: page-aligned
        assert blob.metadata[SOURCE_DISK].lower() == blob.source_disk  # ARM ids: any case
    assert arm.storage.copies == dict.fromkeys(blobs, 1)
    assert arm.disk_access == {}  # every disk's access revoked


def test_the_export_starts_after_the_gallery_version_and_before_nothing_is_left(
        exported: tuple[UpResult, Path]) -> None:
    result, _ = exported
    run = result.run
    (export,) = [r for r in run.registrations if r.type == EXPORT_VHD]
    version = next(r for r in run.registrations if r.type == GALLERY_IMAGE_VERSION
                   and r.inputs.get("galleryImageVersionName") == "1.1.0")
    assert version.urn in export.dependencies
    assert export.start_s >= version.end_s
    ops = [o.op for o in exports(result)]
    assert ops.count("beginGetAccess") == 3 and ops.count("copyBlob") == 3
    assert ops.count("endGetAccess") == 3 and ops[-1] == "endGetAccess"


def test_no_sas_in_state_outputs_or_report(exported: tuple[UpResult, Path],
                                           tmp_path: Path) -> None:
    result, state = exported
    text = state.read_text() + json.dumps(result.run.outputs, default=str)
    assert "sig=" not in text and "blob.storage.azure.net" not in text
    assert "stvmimageimport.blob.core.windows.net/exports/" in text  # the URLs are there
    record = next(r for r in json.loads(state.read_text())["resources"]
                  if r["type"] == EXPORT_VHD)
    assert record["outputs"]["blobs"] == EXPECTED


def test_a_crash_mid_copy_converges_without_copying_again(
        exported: tuple[UpResult, Path], tmp_path: Path) -> None:
    reference, _ = exported
    ops = [o.op for o in reference.run.operations]
    last_copy = len(ops) - ops[::-1].index("copyBlob")  # crash once all copies started
    first_revoke = ops.index("endGetAccess") + 1  # ... or once all finished
    for crash_after in (last_copy, first_revoke):
        state = tmp_path / f"crash-{crash_after}.json"
        plan = FaultPlan.parse(f"crash-after={crash_after}")
        crashed = export_up(state, faults=plan)
        assert plan.crashed is not None and not crashed.ok and crashed.saved
        arm = crashed.run.arm
        assert arm.disk_access, "the crash left access granted"
        assert set(arm.storage.copies.values()) == {1}
        rerun = export_up(state)
        assert rerun.ok, (rerun.run.failures, rerun.run.error)
        assert rerun.run.outputs["vhdBlobs"] == {"1.1.0": EXPECTED}
        assert rerun.run.arm.storage.copies == {}  # nothing copied again
        assert all(b.status == "success" for b in rerun.run.arm.storage.blobs.values())
        assert rerun.run.arm.disk_access == {}
        third = export_up(state)
        assert {c.action for c in third.changes or []} == {"same"}


def test_a_granted_disk_keeps_its_vm_from_starting(exported: tuple[UpResult, Path],
                                                  tmp_path: Path) -> None:
    reference, _ = exported
    ops = [o.op for o in reference.run.operations]
    plan = FaultPlan.parse(f"crash-after={ops.index('copyBlob') + 1}")
    crashed = export_up(tmp_path / "state.json", faults=plan)
    arm = crashed.run.arm
    (disk,) = arm.disk_access
    vm = next(k for k in arm.vms if k.endswith("vm-build-app-ws2022-1-1-0"))
    arm.faults = None  # the crashed run's plan is spent; ask the ARM it left behind
    client = simulated_client(arm, SimulatedClock(arm.latest_time()))
    with pytest.raises(HttpResponseError, match="active SAS"):
        client.virtual_machines.begin_start("rg-vmimage-import", vm.rsplit("/", 1)[-1]).result()
    assert "_osdisk_1_" in disk  # the first disk granted: the OS disk (ids kept lowercase)


def test_a_failed_copy_is_revoked_and_copied_again_next_run(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    # A copy slower than the SAS lives: it fails when the access expires.
    slow = export_up(state, latency=LatencyModel({"blob.copy": ACCESS_SECONDS + 600}))
    assert not slow.ok
    (failure,) = [f for f in slow.run.failures if f.type == EXPORT_VHD]
    assert "the copy failed" in failure.message and "sig=" not in failure.message
    arm = slow.run.arm
    assert arm.disk_access == {}  # revoked although the export failed
    assert all(b.status == "failed" for b in arm.storage.blobs.values())
    again = export_up(state)
    assert again.ok, (again.run.failures, again.run.error)
    assert set(again.run.arm.storage.copies.values()) == {1}  # each copied again, once
    assert again.run.arm.disk_access == {}


def test_an_account_azure_does_not_have_fails_the_export_by_name(tmp_path: Path) -> None:
    result = up(stack_config("import"), state_path=tmp_path / "state.json",
                tenant=lambda arm: add_existing(
                    arm, ACCOUNT.replace("stvmimageimport", "stother"), region="westeurope"))
    # The imported 1.0.0 needs its own account; the export names the one it cannot reach.
    messages = [f.message for f in result.run.failures]
    assert not result.ok and any("stvmimageimport" in m for m in messages), messages


def test_refused_configs_name_their_key_paths() -> None:
    pipeline = load_stack_dict("import")["vmimage:pipeline"]
    pipeline["capture"] = [{"vhd": {"storageAccountId": ACCOUNT, "container": "Ex"}},
                           {"vhd": {"storageAccountId": "/nope", "container": "ok-name"}}]
    problems = problems_of(pipeline)
    assert any(p.startswith("capture[0].vhd.container: 'Ex' is not a blob container")
               for p in problems), problems
    assert any(p.startswith("capture[1].vhd.storageAccountId:") for p in problems), problems
    pipeline["capture"] = ["gallery", {"vhd": {"storageAccountId": ACCOUNT,
                                               "container": "exports", "sas": "x"}}]
    assert any(p.startswith("capture[1].vhd.sas: unknown key") for p in problems_of(pipeline))


def test_blob_names_are_deterministic_per_disk() -> None:
    assert blob_names("app", "1.2.3", [3, 0]) == {
        "osDisk": "app-1.2.3-osdisk.vhd", "0": "app-1.2.3-lun0.vhd", "3": "app-1.2.3-lun3.vhd"}


def test_a_sas_is_scrubbed_from_messages() -> None:
    sas = "https://md-x.z1.blob.storage.azure.net/abc/abcd?sv=2018-03-28&sr=b&sig=SECRETSIG"
    text = scrubbed(f"failed: {sas} and again sv=2018-03-28&sr=b&sig=SECRETSIG", sas)
    assert "SECRETSIG" not in text and text.count("<SAS>") == 2
    assert digest(sas) != sas


def test_the_provider_hands_the_export_a_blob_client_on_the_same_credential(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`create`, as the engine's provider host runs it: the compute client and a blob
    service factory, both on the one credential azure-native would use; the blob endpoint
    of the account in the stack's cloud."""
    world = VmWorld(latency={"blob.copy": 0, "disk.access": 0})
    vm = world.add_vm("vm1", power="deallocated", generalized=True)
    add_existing(world.arm, ACCOUNT, region="westeurope")
    credential = StaticTokenCredential()
    made: list[tuple[str, Any]] = []

    def blob_service(url: str, *, credential: Any) -> Any:
        made.append((url, credential))
        return simulated_blob_service(world.arm, world.clock)(url)

    monkeypatch.setattr(vm_action, "make_compute_client", lambda *a, **k: world.client()[0])
    monkeypatch.setattr(vm_action, "make_credential", lambda settings, **_: (credential, "t"))
    monkeypatch.setattr(vm_action, "make_blob_service", blob_service)
    props = {"resourceGroupName": "rg-build", "vmName": "vm1", "vmId": vm,
             "vmUniqueId": "u1", "location": "westeurope", "storageAccountId": ACCOUNT,
             "container": "exports", "blobNames": {"osDisk": "img-1.0.0-osdisk.vhd"},
             "subscriptionId": "00000000-0000-0000-0000-000000000000", "environment": None}
    result = ExportVhdProvider().create(props)
    assert made == [("https://stvmimageimport.blob.core.windows.net", credential)]
    assert result.outs is not None and result.outs["copiedDisks"] == 1
    assert result.outs["blobs"] == [
        "https://stvmimageimport.blob.core.windows.net/exports/img-1.0.0-osdisk.vhd"]
    assert world.arm.disk_access == {}
    usgov = ExportVhdProvider().create({**props, "environment": "usgovernment"})
    assert made[-1][0] == "https://stvmimageimport.blob.core.usgovcloudapi.net"
    assert usgov.outs is not None and usgov.outs["copiedDisks"] == 0  # the same disk: kept


def test_a_revoke_with_no_answer_leaves_the_other_disks_revoked() -> None:
    """A connection error (no HTTP answer) revoking one disk: every other disk is still
    revoked, and the error names the disk whose read access is still granted."""
    world = VmWorld(latency={"blob.copy": 0, "disk.access": 0})
    world.add_vm("vm1", power="deallocated", generalized=True)
    world.add_vm("vm2", power="deallocated", generalized=True)
    add_existing(world.arm, ACCOUNT, region="westeurope")
    client, _ = world.client()
    other = client.virtual_machines.get("rg-build", "vm2").storage_profile.os_disk.managed_disk
    vm = client.virtual_machines.get("rg-build", "vm1")
    vm.storage_profile.data_disks = [SimpleNamespace(lun=0, managed_disk=other)]
    revoked: list[str] = []

    def revoke(rg: str, name: str) -> Any:
        revoked.append(name)
        if len(revoked) == 1:
            raise ServiceRequestError("Connection reset by peer")
        return client.disks.begin_revoke_access(rg, name)

    flaky = SimpleNamespace(
        virtual_machines=SimpleNamespace(get=lambda rg, name: vm),
        disks=SimpleNamespace(begin_grant_access=client.disks.begin_grant_access,
                              begin_revoke_access=revoke))
    with pytest.raises(ExportVhdError) as stuck:
        export_vhds(flaky, simulated_blob_service(world.arm, world.clock), "rg-build", "vm1",
                    account_url="https://stvmimageimport.blob.core.windows.net",
                    container="exports", blob_names={"osDisk": "a.vhd", "0": "b.vhd"},
                    sleep=world.clock.sleep, clock=lambda: world.clock.now)
    first, second = revoked
    assert str(stuck.value).startswith(f"read access is still granted on {first} (")
    assert "Connection reset" in str(stuck.value) and second not in str(stuck.value)
    (granted,) = world.arm.disk_access
    assert granted.endswith(first.lower())  # the second disk's revoke was still sent


def test_an_export_added_to_a_captured_build_copies_its_frozen_vm(tmp_path: Path) -> None:
    """The README's promise: adding the export later exports a build already captured, as
    long as its VM exists; nothing else of the build changes."""
    state = tmp_path / "state.json"
    plain = load_stack_dict("import")
    plain["vmimage:pipeline"]["capture"] = "gallery"
    first = up(stack_config("import", plain["vmimage:pipeline"]), tenant=tenant,
               state_path=state)
    assert first.ok and first.run.outputs["vhdBlobs"] == {}
    later = export_up(state)
    assert later.ok, (later.run.failures, later.run.error)
    assert later.run.outputs["vhdBlobs"] == {"1.1.0": EXPECTED}
    changed = {(c.urn.rsplit("::", 1)[-1], c.action) for c in later.changes or []
               if c.action != "same"}
    assert changed == {("vmimage-v1-1-0-capture-vhd", "create")}


def test_grant_access_is_a_long_running_operation_the_client_polls() -> None:
    """As Azure answers Disks - Grant Access: 202 at once, the operation polled until it
    ends, the SAS only in the Location URL's final answer (not in the operation status)."""
    world = VmWorld(latency={"disk.access": 20})
    world.add_vm("vm1", power="deallocated", generalized=True)
    client, _ = world.client()
    disk = client.virtual_machines.get("rg-build", "vm1").storage_profile.os_disk
    name = disk.managed_disk.id.rsplit("/", 1)[-1]
    start = world.clock.now
    access = client.disks.begin_grant_access(
        "rg-build", name, {"access": "Read", "durationInSeconds": 3600}).result()
    assert world.clock.now >= start + 20  # it waited for the operation, in simulated time
    assert access.access_sas.startswith("https://md-") and "sig=" in access.access_sas
    log = [(m, p.rsplit("/", 2)[-2].lower(), s) for m, p, s in world.rest.log
           if p.endswith("/beginGetAccess") or "/operation" in p.lower()]
    assert log[0] == ("POST", name.lower(), 202)
    assert ("GET", "operations", 200) in log and log[-1] == ("GET", "operationresults", 200)
    polled = [world.rest.handle("GET", p, {}, None)[2] for m, p, _ in list(world.rest.log)
              if m == "GET" and "/operations/" in p]
    assert polled and all("accessSAS" not in json.dumps(b) for b in polled)
    (grant,) = world.arm.disk_access.values()
    assert grant.expires_at == start + 20 + 3600  # from when the operation ended
    running = VmWorld(latency={"disk.access": 20})
    running.add_vm("vm2")
    client, _ = running.client()
    os_disk = client.virtual_machines.get("rg-build", "vm2").storage_profile.os_disk
    with pytest.raises(HttpResponseError) as refused:  # refused at once, not as an operation
        client.disks.begin_grant_access("rg-build", os_disk.managed_disk.id.rsplit("/", 1)[-1],
                                        {"access": "Read", "durationInSeconds": 60})
    assert refused.value.status_code == 409 and running.arm.disk_access == {}


def test_a_confidential_stack_exports_no_vhd_a_trusted_launch_one_does() -> None:
    """A confidential OS disk is not an image on its own (its VM guest state, and with
    DiskWithVMGuestState its contents, are bound to the VM's vTPM): refused by key path.
    A Trusted Launch disk exports as the disk alone (its VM guest state is that VM's)."""
    export = {"vhd": {"storageAccountId": ACCOUNT, "container": "exports"}}
    for encryption in ("VMGuestStateOnly", "DiskWithVMGuestState"):
        raw = load_pipeline("confidential")
        raw["capture"] = ["gallery", export]
        raw["security"] = {**raw.get("security", {}), "encryptionType": encryption}
        problems = problems_of(raw)
        assert any(p.startswith("capture[1].vhd: a confidential VM's OS disk does not "
                                "export") and "security.type is ConfidentialVM" in p
                   for p in problems), problems
    trusted = load_pipeline("confidential")
    trusted["capture"] = ["gallery", export]
    trusted["security"] = {"type": "TrustedLaunch"}
    assert load_spec(trusted, location="westeurope").spec.vhd_export is not None


def retiring(pipeline: dict[str, Any], version: str) -> dict[str, Any]:
    for build in pipeline["builds"]:
        if build["version"] == version:
            build["retired"] = True
    return pipeline


def test_a_retired_build_keeps_its_blobs_listed(exported: tuple[UpResult, Path],
                                                 tmp_path: Path) -> None:
    """Retiring the build deletes its VM; the export stays as recorded: its blobs stay in
    storage and in `vhdBlobs`, and nothing is copied or granted again."""
    _, exported_state = exported
    state = tmp_path / "state.json"
    for suffix in ("", ".key"):  # the state and the key that seals its secrets
        shutil.copy2(f"{exported_state}{suffix}", f"{state}{suffix}")  # its mode too
    pipeline = retiring(load_stack_dict("import")["vmimage:pipeline"], "1.1.0")
    retired = up(stack_config("import", pipeline), tenant=tenant, state_path=state)
    assert retired.ok, (retired.run.failures, retired.run.error)
    assert retired.run.outputs["vhdBlobs"] == {"1.1.0": EXPECTED}
    assert retired.run.outputs["buildVmStates"]["1.1.0"]["powerState"] == "deleted"
    (export,) = [c for c in retired.changes or [] if c.urn.endswith("capture-vhd")]
    assert export.action == "same"
    arm = retired.run.arm
    deleted = {o.resource.rsplit("::", 1)[-1] for o in retired.run.operations
               if o.op == "delete"}
    assert "vmimage-v1-1-0-build-vm" in deleted, deleted
    assert len(arm.storage.blobs) == 3 and arm.storage.copies == {}
    again = up(stack_config("import", pipeline), tenant=tenant, state_path=state)
    assert again.ok and again.run.outputs["vhdBlobs"] == {"1.1.0": EXPECTED}


def test_an_export_added_as_the_build_is_retired_is_refused(tmp_path: Path) -> None:
    """Nothing to export once the build is retired: the export says which keys, copies and
    grants nothing; the next run without the retirement exports it."""
    state = tmp_path / "state.json"
    plain = load_stack_dict("import")["vmimage:pipeline"]
    plain["capture"] = "gallery"
    assert up(stack_config("import", plain), tenant=tenant, state_path=state).ok
    both = retiring(load_stack_dict("import")["vmimage:pipeline"], "1.1.0")
    refused = up(stack_config("import", both), tenant=tenant, state_path=state)
    assert not refused.ok
    (failure,) = [f for f in refused.run.failures if f.type == EXPORT_VHD]
    assert failure.message.startswith(
        "builds[1].retired (or gallery.retention) with capture[1].vhd: version 1.1.0's "
        "build VM is retired, so there is nothing to export"), failure.message
    arm = refused.run.arm
    assert arm.storage.copies == {} and arm.disk_access == {}
    assert not [o for o in exports(refused) if o.op in ("beginGetAccess", "copyBlob")]
