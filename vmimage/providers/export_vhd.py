"""Export a generalized build VM's disks as VHD page blobs (`capture: [..., {vhd: ...}]`).

Per managed disk (the OS disk and each data disk): Disks - Grant Access (Read, for
`ACCESS_SECONDS`) gives a SAS URL; Copy Blob (`start_copy_from_url`) copies it server
side into a page blob of the container; the copy is polled until it ends; access is
revoked, always (a disk with an active SAS cannot be attached to a VM or its VM started,
docs/azure-behaviours.md). A managed disk's export is a fixed-format VHD, what Azure
Stack Hub, Hyper-V and Partner Center take.

- `export_vhds`: the procedure against a real `ComputeManagementClient` and a blob
  service factory (azure-storage-blob's `BlobServiceClient`, as the user's credential);
- `EXPORT_VHD`: it as a VM action (vmimage/providers/vm_action.py), and `ExportVhd`, the
  Pulumi dynamic resource recording it, once, for one VM and one container.

Convergent: each blob records the disk it was copied from (metadata), so a run after a
crash keeps a finished copy, waits for a pending one and restarts a failed or aborted
one. The SAS is a secret: it is never reported, logged, recorded or put in an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from vmimage.azure.client import describe
from vmimage.providers.vm_action import (
    BASE_BUNDLE,
    VmAction,
    VmActionError,
    VmActionProvider,
    VmActionResource,
    VmArgs,
    reporter,
)

__all__ = ["EXPORT_VHD", "ExportVhd", "ExportVhdArgs", "ExportVhdError", "export_vhds"]

BUNDLE = (*BASE_BUNDLE, __name__)

#: How long a disk's read SAS lives: long enough for a large disk's server-side copy
#: (a copy still running when it expires fails, and a later run starts it again).
ACCESS_SECONDS = 8 * 3600
#: Blob metadata the export writes, so a later run knows what a blob was copied from.
SOURCE_DISK = "vmimagesourcedisk"
SOURCE_VM = "vmimagesourcevm"
#: The blob name of the OS disk in `blobNames` (data disks: their LUN as text).
OS_DISK = "osDisk"


class ExportVhdError(VmActionError):
    """A disk could not be exported; the message names the disk and blob, never a SAS."""


@dataclass
class _Disk:
    key: str
    """`osDisk` or the LUN, as `blobNames` keys it."""
    disk_id: str
    blob: Any
    """Its BlobClient."""
    copying: bool = False
    copied: bool = False


def _disk_parts(disk_id: str) -> tuple[str, str]:
    """(resource group, name) of a managed disk's ARM id."""
    parts = disk_id.split("/")
    lowered = [p.lower() for p in parts]
    return parts[lowered.index("resourcegroups") + 1], parts[-1]


def scrubbed(text: str, secret: str | None) -> str:
    """`text` without the SAS (nor its query string, which holds the signature)."""
    if secret:
        text = text.replace(secret, "<SAS>")
        query = secret.partition("?")[2]
        if query:
            text = text.replace(query, "<SAS>")
    return text


def vm_disks(client: Any, resource_group: str, vm_name: str) -> list[tuple[str, str]]:
    """(key, managed disk id) of the VM's OS disk and each data disk, by LUN."""
    vm = client.virtual_machines.get(resource_group, vm_name)
    profile = vm.storage_profile
    os_disk = getattr(profile.os_disk, "managed_disk", None)
    if os_disk is None or not os_disk.id:
        raise ExportVhdError(f"{vm_name}: the OS disk is not a managed disk; nothing to export")
    disks = [(OS_DISK, str(os_disk.id))]
    for data in sorted(profile.data_disks or [], key=lambda d: d.lun):
        if data.managed_disk is None or not data.managed_disk.id:
            raise ExportVhdError(f"{vm_name}: data disk LUN {data.lun} is not a managed disk")
        disks.append((str(data.lun), str(data.managed_disk.id)))
    return disks


def export_vhds(client: Any, storage: Callable[[str], Any], resource_group: str,
                vm_name: str, *, account_url: str, container: str,
                blob_names: dict[str, str], vm_unique_id: str = "",
                sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic,
                progress: Callable[[str], None] | None = None,
                poll_s: float = 15.0) -> dict[str, Any]:
    """Copy every disk of the VM into `container` as the blob `blob_names` names for it.
    Returns the blobs' URLs (no SAS) in disk order and how many disks this run copied."""
    # lazy: the bundle imports the Azure SDK only when it acts (vmimage/providers/bundle.py)
    from azure.core.exceptions import (
        HttpResponseError,
        ResourceExistsError,
        ServiceRequestError,
    )

    report = reporter(vm_name, clock, progress)
    service = storage(account_url)
    folder = service.get_container_client(container)
    try:
        folder.create_container()
        report(f"created container {container}")
    except ResourceExistsError:
        pass
    except HttpResponseError as err:
        raise ExportVhdError(f"{vm_name}: container {container} of {account_url}: "
                             f"{describe(err)}") from err
    except ServiceRequestError as err:
        raise ExportVhdError(f"{vm_name}: storage account {account_url} does not answer "
                             f"({str(err).splitlines()[0]}): does it exist, in this cloud?"
                             ) from None
    disks = []
    for key, disk_id in vm_disks(client, resource_group, vm_name):
        if key not in blob_names:
            raise ExportVhdError(f"{vm_name}: disk {key} has no blob name; the config's "
                                 f"disks are {sorted(blob_names)}: run again after a refresh")
        disks.append(_Disk(key, disk_id, folder.get_blob_client(blob_names[key])))
    try:
        for disk in disks:
            _start(client, disk, vm_unique_id, report)
        _wait(disks, sleep, clock, report, poll_s)
    finally:
        _revoke_all(client, disks, report)
    return {"blobs": [d.blob.url for d in disks],
            "copiedDisks": sum(1 for d in disks if d.copied)}


def _ours(props: Any, disk: _Disk, vm_unique_id: str) -> bool:
    meta = {k.lower(): v for k, v in (props.metadata or {}).items()}
    return meta.get(SOURCE_DISK, "").lower() == disk.disk_id.lower() \
        and meta.get(SOURCE_VM, "") == vm_unique_id


def _start(client: Any, disk: _Disk, vm_unique_id: str,
           report: Callable[[str], None]) -> None:
    """Leave a finished copy of this disk, wait for a pending one, else (re)start it."""
    # lazy: as in export_vhds
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    name = disk.blob.blob_name
    try:
        props = disk.blob.get_blob_properties()
    except ResourceNotFoundError:
        props = None
    status = (props.copy.status or "") if props is not None else ""
    if props is not None and _ours(props, disk, vm_unique_id):
        if status == "success":
            report(f"{name}: copied already")
            return
        if status == "pending":
            report(f"{name}: a copy is under way; waiting for it")
            disk.copying = True
            return
        report(f"{name}: the last copy {status or 'never finished'}; copying again")
    elif props is not None and status == "pending":
        # Another source's copy into the same name: Copy Blob refuses a blob with a
        # pending copy (409 PendingCopyOperation) until it is aborted.
        disk.blob.abort_copy(props.copy.id)
    rg, disk_name = _disk_parts(disk.disk_id)
    sas: str | None = None
    try:
        report(f"{name}: granting read access to {disk_name}")
        access = client.disks.begin_grant_access(
            rg, disk_name, {"access": "Read", "durationInSeconds": ACCESS_SECONDS}).result()
        sas = access.access_sas
        disk.blob.start_copy_from_url(sas, metadata={SOURCE_DISK: disk.disk_id,
                                                     SOURCE_VM: vm_unique_id})
    except HttpResponseError as err:
        raise ExportVhdError(scrubbed(f"{name}: copying disk {disk_name}: {describe(err)}",
                                      sas)) from None
    disk.copying = disk.copied = True
    report(f"{name}: copying {disk_name}")


def _wait(disks: list[_Disk], sleep: Callable[[float], None], clock: Callable[[], float],
          report: Callable[[str], None], poll_s: float) -> None:
    """Until every copy ended: all succeeded, or an error naming each that did not."""
    deadline = clock() + ACCESS_SECONDS + 15 * 60
    failed: list[str] = []
    while any(d.copying for d in disks):
        for disk in disks:
            if not disk.copying:
                continue
            copy = disk.blob.get_blob_properties().copy
            if copy.status == "pending":
                continue
            disk.copying = False
            if copy.status == "success":
                report(f"{disk.blob.blob_name}: copied")
            else:
                failed.append(f"{disk.blob.blob_name}: the copy {copy.status} "
                              f"({copy.status_description or 'no reason given'})")
        if any(d.copying for d in disks):
            if clock() > deadline:
                raise ExportVhdError("copies still pending after the disks' access expired: "
                                     + ", ".join(d.blob.blob_name for d in disks if d.copying))
            sleep(poll_s)
    if failed:
        raise ExportVhdError("; ".join(failed) + "; run again to copy them again")


def _revoke_all(client: Any, disks: list[_Disk], report: Callable[[str], None]) -> None:
    """End access to every disk, whatever happened: revoking a disk with no active SAS
    changes nothing, and a run after a crash may find one its predecessor granted."""
    # lazy: as in export_vhds
    from azure.core.exceptions import AzureError

    stuck = []
    for disk in disks:
        rg, disk_name = _disk_parts(disk.disk_id)
        try:
            client.disks.begin_revoke_access(rg, disk_name).result()
        except AzureError as err:
            # Any error (an answer or none: no connection, a dropped one), per disk: each
            # other disk's revoke is still tried, or it keeps its SAS.
            stuck.append(f"{disk_name} ({describe(err)})")
    if stuck:
        raise ExportVhdError("read access is still granted on " + ", ".join(stuck)
                             + "; revoke it (az disk revoke-access) or run again")
    report("access revoked on every disk")


# ----- the VM action ---------------------------------------------------------------------

def account_of(storage_account_id: str) -> str:
    """A storage account's name: the last segment of its ARM id."""
    return storage_account_id.rstrip("/").rsplit("/", 1)[-1]


def _run(client: Any, props: dict[str, Any], *, storage: Callable[[str], Any],
         blob_endpoint: Callable[[str], str], **how: Any) -> dict[str, Any]:
    if props.get("retired"):
        # Asked to export a retired build with no earlier export on record: its VM is
        # deleted (or is, in this run), so there is nothing to copy. Refused before Azure.
        raise ExportVhdError(
            f"{props['retired']}, so there is nothing to export; to export it, run once "
            "with the build not retired (while its VM exists), then retire it")
    return export_vhds(
        client, storage, props["resourceGroupName"], props["vmName"],
        account_url=blob_endpoint(account_of(props["storageAccountId"])),
        container=props["container"], blob_names=dict(props["blobNames"]),
        vm_unique_id=str(props.get("vmUniqueId") or ""), **how)


def _check(news: dict[str, Any]) -> list[tuple[str, str]]:
    names = news.get("blobNames")
    if isinstance(names, dict) and OS_DISK not in names:
        return [("blobNames", f"blobNames must name the {OS_DISK} blob")]
    return []


EXPORT_VHD = VmAction(
    name="exportVhd", inputs=("storageAccountId", "container", "blobNames", "retired"),
    outputs=("blobs", "copiedDisks"), done_at="exportedAt", run=_run,
    required=("resourceGroupName", "vmName", "vmId", "storageAccountId", "container"),
    check=_check, replaces=("storageAccountId", "container", "blobNames"), storage=True)
EXPORT_VHD_INPUTS = EXPORT_VHD.all_inputs


class ExportVhdProvider(VmActionProvider):
    """What the engine's provider host runs for `ExportVhd`. Deleting it leaves the blobs:
    they are the export, not a by-product."""

    action = EXPORT_VHD
    bundle = BUNDLE


@dataclass(kw_only=True)
class ExportVhdArgs(VmArgs):
    """Inputs of `ExportVhd`: the generalized build VM (vm_*), where its disks go."""

    storage_account_id: str
    container: str
    blob_names: dict[str, str]
    """The blob of each disk: `osDisk`, and each data disk's LUN as text."""
    retired: str | None = None
    """Set (to the keys that say so) when the build is retired: its export is only ever
    the record of an earlier one, and a create is refused."""


class ExportVhd(VmActionResource, module="vmimage", name="ExportVhd"):
    """A build VM's disks, copied as VHD page blobs into a container."""

    provider = ExportVhdProvider
    blobs: pulumi.Output[list[str]]
    copied_disks: pulumi.Output[int]
    exported_at: pulumi.Output[str]
