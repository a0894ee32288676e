"""Managed disks' export access and Azure Blob Storage, as the VHD export meets them
(vmimage/providers/export_vhd.py). Sources in docs/azure-behaviours.md ("VHD export").

- a VM's managed disks (its OS disk, a data disk per LUN) have ids of their own; Disks -
  Grant Access (a long-running operation, offline/arm/vm_rest.py) answers a read SAS URL
  that expires `durationInSeconds` after the operation ends; it is refused for a disk of
  a running VM; while a disk's access is granted its VM cannot be started; End Access
  (revoke) ends it, and a copy still reading from it fails;
- a storage account (declared with `--existing`) holds containers and page blobs; Copy
  Blob from a URL is asynchronous: the blob is `pending` until the copy ends `success`
  after simulated time (`blob.copy`), or `failed` when its source's SAS is revoked or
  expires first; a blob with a pending copy refuses another (409 PendingCopyOperation)
  until it is aborted; a managed disk's copy is a fixed-format VHD page blob: the disk's
  bytes and a 512-byte footer, a multiple of 512.

The simulated Azure keeps only a digest of each SAS, never the SAS itself (it would
otherwise land in the state file). `BlobRest` is the blob service's backend behind
`SimulatedBlobTransport`, under the real azure-storage-blob client.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict

from offline.arm.model import get_path
from offline.arm_transport import StaticTokenCredential
from offline.secrets import unwrap
from vmimage.azure import naming
from vmimage.vocabulary import STORAGE_ACCOUNT

#: What a VM's OS disk is when its config gives no size (a marketplace image's usual).
DEFAULT_OS_DISK_GB = 30
VHD_FOOTER_BYTES = 512
GIB = 1 << 30


def digest(sas: str) -> str:
    return hashlib.sha256(sas.encode()).hexdigest()


@dataclass
class DiskGrant:
    """A disk's active read access: the digest of its SAS and when it expires."""

    sas_digest: str
    expires_at: float


@dataclass
class Blob:
    """A page blob, as its properties say at a time (`status_at`)."""

    source_disk: str
    copy_id: str
    started: float
    ends: float
    size: int
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = "pending"  # success, failed, aborted once decided
    description: str = ""

    def status_at(self, at: float, grants: dict[str, DiskGrant]) -> str:
        """The copy's status at `at`: a pending copy succeeds at its end while its
        source stays readable; a revoked or expired source fails it."""
        if self.status != "pending":
            return self.status
        grant = grants.get(self.source_disk.lower())
        readable_until = grant.expires_at if grant is not None else self.started
        if readable_until < min(at, self.ends):
            self.status, self.description = "failed", "the copy source is no longer readable"
        elif at >= self.ends:
            self.status = "success"
        return self.status


@dataclass
class BlobStore:
    """Containers by `account/container`, blobs by `account/container/blob`."""

    containers: set[str] = field(default_factory=set)
    blobs: dict[str, Blob] = field(default_factory=dict)
    #: Copies started, by blob key (not kept in state: a run's own count, for tests).
    copies: Counter[str] = field(default_factory=Counter)

    def dump(self, shift: float) -> dict[str, Any]:
        return {"containers": sorted(self.containers),
                "blobs": {k: {**asdict(b), "started": b.started - shift, "ends": b.ends - shift}
                          for k, b in sorted(self.blobs.items())}}

    def load(self, data: dict[str, Any]) -> None:
        self.containers.update(data.get("containers") or [])
        for key, blob in (data.get("blobs") or {}).items():
            self.blobs[key] = Blob(**blob)


# -- a VM's disks --------------------------------------------------------------------------


def vm_disks(arm: Any, vm_key: str) -> list[tuple[int | None, str, int]]:
    """(LUN or None for the OS disk, managed disk id, size in GiB) of a VM: implicit disks
    named as Azure names them, `<vm>_OsDisk_1_<hex>`, unique to the VM created."""
    resource = arm.resources[vm_key]
    props = unwrap(resource.props)
    rg = resource.id.split("/")[4]
    unique = naming.short_hash(str(resource.outputs.get("vmId")), length=12)
    disk = arm.provider_id(rg, "Microsoft.Compute/disks", "")
    os_gb = get_path(props, "storageProfile.osDisk.diskSizeGB") or DEFAULT_OS_DISK_GB
    found: list[tuple[int | None, str, int]] = [
        (None, f"{disk}{resource.name}_OsDisk_1_{unique}", int(os_gb))]
    for data in sorted(get_path(props, "storageProfile.dataDisks") or [],
                       key=lambda d: int(d["lun"])):
        found.append((int(data["lun"]), f"{disk}{resource.name}_lun{data['lun']}_{unique}",
                      int(data.get("diskSizeGB") or 32)))
    return found


def disk_owner(arm: Any, disk_id: str, at: float) -> tuple[str, int] | None:
    """The live VM a managed disk belongs to, and the disk's size in GiB."""
    for vm_key in arm.vms:
        resource = arm.resources.get(vm_key)
        if resource is None or not resource.alive(at):
            continue
        for _lun, found, size in vm_disks(arm, vm_key):
            if found.lower() == disk_id.lower():
                return vm_key, size
    return None


def granted_disks(arm: Any, vm_key: str, at: float) -> list[str]:
    """The VM's disks whose read access is active at `at`."""
    return [disk for _lun, disk, _size in vm_disks(arm, vm_key)
            if (grant := arm.disk_access.get(disk.lower())) is not None
            and grant.expires_at > at]


def vm_model(arm: Any, vm_key: str) -> dict[str, Any]:
    """A VM as GET answers it (the parts the export reads: its managed disks)."""
    resource = arm.resources[vm_key]
    disks = vm_disks(arm, vm_key)
    return {"id": resource.id, "name": resource.name,
            "location": unwrap(resource.props).get("location"),
            "properties": {"vmId": resource.outputs.get("vmId"), "storageProfile": {
                "osDisk": {"name": disks[0][1].rsplit("/", 1)[-1], "createOption": "FromImage",
                           "diskSizeGB": disks[0][2], "managedDisk": {"id": disks[0][1]}},
                "dataDisks": [{"lun": lun, "name": disk.rsplit("/", 1)[-1],
                               "createOption": "FromImage", "diskSizeGB": size,
                               "managedDisk": {"id": disk}} for lun, disk, size in disks[1:]]}}}


_grants = itertools.count(1)


def grant_access(arm: Any, disk_id: str, body: dict[str, Any], at: float,
                 ready_at: float | None = None) -> str:
    """Disks - Grant Access asked at `at`: a read SAS URL of the disk's blob, valid
    `durationInSeconds` from when the operation ends (`ready_at`). LookupError: no such
    disk; PermissionError: its VM runs."""
    owner = disk_owner(arm, disk_id, at)
    if owner is None:
        raise LookupError(f"The Resource 'Microsoft.Compute/disks/{disk_id.rsplit('/', 1)[-1]}' "
                          "was not found.")
    power, _ = arm.vm_state(owner[0], at)
    if power not in ("deallocated", "stopped"):
        raise PermissionError(f"Disk '{disk_id.rsplit('/', 1)[-1]}' is attached to VM "
                              f"'{owner[0].rsplit('/', 1)[-1]}', which is {power}: stop and "
                              "deallocate it before getting a SAS of its disk.")
    duration = float(body.get("durationInSeconds") or 0)
    token = uuid.uuid5(uuid.NAMESPACE_URL, f"{disk_id}@{at}#{next(_grants)}").hex
    sas = (f"https://md-{naming.short_hash(disk_id.lower(), length=12)}.z1.blob.storage.azure"
           f".net/{token[:12]}/abcd?sv=2018-03-28&sr=b&si={token[12:]}&sig={token}")
    ready = at if ready_at is None else ready_at
    arm.disk_access[disk_id.lower()] = DiskGrant(digest(sas), ready + duration)
    return sas


def revoke_access(arm: Any, disk_id: str, at: float) -> None:
    """Disks - Revoke Access: the SAS stops working; a copy still reading from it fails."""
    grant = arm.disk_access.pop(disk_id.lower(), None)
    if grant is None:
        return
    grant.expires_at = min(grant.expires_at, at)
    for blob in arm.storage.blobs.values():
        if blob.source_disk.lower() == disk_id.lower():
            blob.status_at(at, {disk_id.lower(): grant})


# -- the blob service ----------------------------------------------------------------------

Reply = tuple[int, dict[str, str]]


@dataclass
class BlobRest:
    """The blob endpoints of the simulated storage accounts, at the clock's time."""

    arm: Any
    clock: Callable[[], float]
    on_call: Callable[[str, float, float], None] | None = None

    def handle(self, method: str, host: str, path: str, query: dict[str, str],
               headers: MutableMapping[str, str]) -> Reply:
        account = host.split(".", 1)[0]
        if not any(r.token == STORAGE_ACCOUNT and r.name.lower() == account
                   and r.alive(self.clock()) for r in self.arm.resources.values()):
            # No such account: its blob host does not resolve.
            raise ServiceRequestError(f"Failed to resolve '{host}' (Name or service not known)")
        container, _, name = unquote(path).lstrip("/").partition("/")
        if query.get("restype") == "container" and not name:
            return self._create_container(method, f"{account}/{container}")
        if f"{account}/{container}" not in self.arm.storage.containers:
            return _fail(404, "ContainerNotFound")
        key = f"{account}/{container}/{name}"
        if method == "HEAD":
            return self._properties(key)
        if method == "PUT" and query.get("comp") == "copy":
            return self._abort(key, query.get("copyid", ""))
        if method == "PUT" and "x-ms-copy-source" in headers:
            return self._copy(key, headers)
        return _fail(405, "UnsupportedHttpVerb")

    def _create_container(self, method: str, key: str) -> Reply:
        if method != "PUT":
            return _fail(405, "UnsupportedHttpVerb")
        if key in self.arm.storage.containers:
            return _fail(409, "ContainerAlreadyExists")
        self.arm.storage.containers.add(key)
        return 201, {}

    def _properties(self, key: str) -> Reply:
        blob = self.arm.storage.blobs.get(key)
        if blob is None:
            return _fail(404, "BlobNotFound")
        status = blob.status_at(self.clock(), self.arm.disk_access)
        headers = {"x-ms-blob-type": "PageBlob", "Content-Length": str(blob.size),
                   "x-ms-copy-id": blob.copy_id, "x-ms-copy-status": status,
                   "x-ms-copy-progress": f"{blob.size if status == 'success' else 0}/{blob.size}"}
        if blob.description:
            headers["x-ms-copy-status-description"] = blob.description
        headers.update({f"x-ms-meta-{k}": v for k, v in blob.metadata.items()})
        return 200, headers

    def _abort(self, key: str, copy_id: str) -> Reply:
        blob = self.arm.storage.blobs.get(key)
        if blob is None or blob.copy_id != copy_id \
                or blob.status_at(self.clock(), self.arm.disk_access) != "pending":
            return _fail(409, "NoPendingCopyOperation")
        blob.status, blob.description = "aborted", "aborted by the client"
        return 204, {}

    def _copy(self, key: str, headers: MutableMapping[str, str]) -> Reply:
        now = self.clock()
        existing = self.arm.storage.blobs.get(key)
        if existing is not None and existing.status_at(now, self.arm.disk_access) == "pending":
            return _fail(409, "PendingCopyOperation")
        source = headers["x-ms-copy-source"]
        disk = next((d for d, g in self.arm.disk_access.items()
                     if g.sas_digest == digest(source) and g.expires_at > now), None)
        owner = disk_owner(self.arm, disk, now) if disk is not None else None
        if disk is None or owner is None:
            return _fail(403, "CannotVerifyCopySource")
        metadata = {k[len("x-ms-meta-"):].lower(): v for k, v in headers.items()
                    if k.lower().startswith("x-ms-meta-")}
        blob = Blob(source_disk=disk, copy_id=str(uuid.uuid4()), started=now,
                    ends=now + self.arm.latency("blob.copy"),
                    size=owner[1] * GIB + VHD_FOOTER_BYTES, metadata=metadata)
        self.arm.storage.blobs[key] = blob
        self.arm.storage.copies[key] += 1
        if self.on_call is not None:
            self.on_call("copyBlob", now, now)
        return 202, {"x-ms-copy-id": blob.copy_id, "x-ms-copy-status": "pending"}


def _fail(status: int, code: str) -> Reply:
    """The blob service's refusal: its code in `x-ms-error-code` (a HEAD has no body)."""
    return status, {"x-ms-error-code": code}


class _NoSocket:
    def close(self) -> None:
        pass


class SimulatedBlobTransport(HttpTransport):
    """azure-core transport over `BlobRest`: the real BlobServiceClient, no socket."""

    def __init__(self, backend: BlobRest, *,
                 on_sleep: Callable[[float], None] | None = None) -> None:
        self.backend = backend
        self.on_sleep = on_sleep
        self.requests: list[tuple[str, str]] = []

    def __enter__(self) -> SimulatedBlobTransport:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def sleep(self, duration: float) -> None:
        if self.on_sleep is not None:
            self.on_sleep(float(duration))

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        url = urlsplit(request.url)
        # The request's URL without its query: what a log of requests may show.
        self.requests.append((request.method, f"{url.scheme}://{url.netloc}{url.path}"))
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        status, headers = self.backend.handle(request.method, url.netloc, url.path, query,
                                              case_insensitive_dict(request.headers))
        hdrs = case_insensitive_dict({"x-ms-request-id": str(uuid.uuid4()),
                                      "x-ms-version": "2025-01-05", **headers})
        content = b""
        hdrs.setdefault("Content-Length", "0")

        def chunks(response: object, pipeline: object, decompress: bool) -> Iterator[bytes]:
            yield content

        response = HttpResponseImpl(
            request=request, internal_response=_NoSocket(), status_code=status,
            reason="", content_type=None, headers=hdrs, stream_download_generator=chunks)
        if not kwargs.get("stream", False):
            response.read()
        return response


def simulated_blob_service(arm: Any, clock: Any,
                           on_call: Callable[[str, float, float], None] | None = None,
                           ) -> Callable[[str], Any]:
    """What the export's `storage` factory is offline: a real BlobServiceClient per
    account URL, over the simulated blob service, in simulated time."""
    # lazy: azure-storage-blob loads only for a run that exports VHDs
    from azure.storage.blob import BlobServiceClient

    def make(account_url: str) -> Any:
        transport = SimulatedBlobTransport(BlobRest(arm, clock, on_call), on_sleep=clock.sleep)
        return BlobServiceClient(account_url, credential=StaticTokenCredential(),
                                 transport=transport, retry_total=3)
    return make
