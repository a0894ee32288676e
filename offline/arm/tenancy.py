"""The simulated tenant around a pipeline: what exists before it (a subnet, managed
identities, disk encryption sets, storage accounts), and the rules ARM applies to what
refers to them. Sources in docs/azure-behaviours.md ("Tenancy").

- `add_existing_subnet` / `add_existing`: resources the simulated Azure holds before any
  run (`python -m offline up --existing-subnet ID=PREFIX --existing ID[@REGION]`);
- a NIC's subnet, a VM's identities and disk encryption sets, a NAT gateway's public IP
  must exist; a disk encryption set serves disks of its own region only;
- a gallery version's replication mode never changes; a Shallow one has one replica in
  its source region; encryption per target region names a set of that region, in every
  region once in one, for the OS disk and each data disk the version captures;
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from offline.arm.control import ControlPlane
from offline.arm.model import SUBSCRIPTION_ID, ArmError, ArmResource, get_path
from vmimage.azure import arm_ids
from vmimage.vocabulary import (
    DISK_ENCRYPTION_SET,
    GALLERY_IMAGE_VERSION,
    MANAGED_IMAGE,
    STORAGE_ACCOUNT,
    SUBNET,
    USER_ASSIGNED_IDENTITY,
)

#: What an existing resource's id says it is.
_TOKENS = {"user-assigned identity": USER_ASSIGNED_IDENTITY,
           "disk encryption set": DISK_ENCRYPTION_SET, "subnet": SUBNET,
           "gallery image version": GALLERY_IMAGE_VERSION, "managed image": MANAGED_IMAGE,
           "storage account": STORAGE_ACCOUNT}


def kind_of(resource_id: str) -> str:
    """'subnet', 'user-assigned identity' or 'disk encryption set'; ValueError else."""
    for kind in arm_ids.KINDS:
        try:
            arm_ids.parse(resource_id, kind)
        except ValueError:
            continue
        return kind
    raise ValueError(f"{resource_id!r} is not the ARM id of a {', '.join(arm_ids.KINDS)}")


def add_existing(arm: ControlPlane, resource_id: str, *, region: str,
                 props: dict[str, Any] | None = None) -> ArmResource:
    """A resource that exists before the run (ready at t=0), made by someone else."""
    kind = kind_of(resource_id)
    defaults: dict[str, Any] = {"location": region}
    if kind == "gallery image version":  # another gallery's: replicated to its region
        defaults["publishingProfile"] = {"targetRegions": [{"name": region}]}
    resource = ArmResource(resource_id, _TOKENS[kind], resource_id.rsplit("/", 1)[-1],
                           {**defaults, **(props or {})}, ready_at=0.0)
    arm.resources[resource_id.lower()] = resource
    return resource


def add_existing_subnet(arm: ControlPlane, subnet_id: str, prefix: str) -> ArmResource:
    network = ipaddress.ip_network(prefix)  # ValueError for a bad prefix
    if kind_of(subnet_id) != "subnet":
        raise ValueError(f"{subnet_id!r} is not the ARM id of a subnet")
    return add_existing(arm, subnet_id, region="", props={"addressPrefix": str(network)})


def parse_existing(item: str, default_region: str) -> tuple[str, str]:
    """'ID@REGION' or 'ID' -> (id, region)."""
    resource_id, _, region = item.partition("@")
    kind_of(resource_id)
    return resource_id, region or default_region


# -- rules on what refers to them --------------------------------------------------------------

def check_vm_references(arm: ControlPlane, p: dict[str, Any], profile: dict[str, Any],
                        at: float) -> None:
    """A VM's (or a scale set's model's) identities and disk encryption sets."""
    for identity in get_path(p, "identity.userAssignedIdentities") or []:
        if not _alive(arm, identity, at):
            raise ArmError(400, "FailedIdentityOperation",
                           f"Identity '{identity}' was not found (the VM's user-assigned "
                           "identities must exist).")
    storage = profile.get("storageProfile") or {}
    disks = [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]
    for disk in disks:
        des = get_path(disk, "managedDisk.diskEncryptionSet.id")
        if des:
            require_encryption_set(arm, des, str(p.get("location")), at)


def identity_output(p: dict[str, Any]) -> dict[str, Any]:
    """What ARM answers for a VM's identity: its user-assigned identities as a map from
    id to principal (the request sends a list of ids), as azure-native's output type says."""
    identity = p.get("identity")
    if not identity:
        return {}
    ids = identity.get("userAssignedIdentities") or []
    return {"identity": {**identity, "userAssignedIdentities": {
        i: {"principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, i)),
            "clientId": str(uuid.uuid5(uuid.NAMESPACE_DNS, i))} for i in ids}}}


def require_encryption_set(arm: ControlPlane, des: str, region: str, at: float) -> None:
    resource = arm.resources.get(des.lower())
    if resource is None or not resource.alive(at):
        raise ArmError(404, "NotFound", f"Disk encryption set '{des}' was not found.")
    if resource.props.get("location") != region:
        raise ArmError(400, "InvalidParameter",
                       f"Disk encryption set '{resource.name}' is in "
                       f"'{resource.props.get('location')}'; disks in '{region}' need a disk "
                       "encryption set of their own region.")


def _alive(arm: ControlPlane, resource_id: str, at: float) -> bool:
    resource = arm.resources.get(resource_id.lower())
    return resource is not None and resource.alive(at)


def check_gallery_version(arm: ControlPlane, p: dict[str, Any], at: float) -> None:
    """Shallow replication and per-region encryption of a gallery image version."""
    profile = p.get("publishingProfile") or {}
    targets = profile.get("targetRegions") or []
    if profile.get("replicationMode") == "Shallow":
        for target in targets:
            if target.get("name") != p.get("location"):
                raise ArmError(400, "InvalidParameter",
                               f"A Shallow image version cannot replicate to "
                               f"'{target.get('name')}': only its source region "
                               f"'{p.get('location')}'.")
            if int(target.get("regionalReplicaCount") or 1) != 1:
                raise ArmError(400, "InvalidParameter",
                               "A Shallow image version has exactly one replica.")
    encrypted = [t for t in targets if t.get("encryption")]
    if encrypted and len(encrypted) != len(targets):
        missing = next(t.get("name") for t in targets if not t.get("encryption"))
        raise ArmError(400, "InvalidParameter",
                       f"A disk encryption set is required for the disks in target region "
                       f"'{missing}' (every target region of an encrypted version needs one).")
    for target in encrypted:
        encryption = target["encryption"]
        sets = [get_path(encryption, "osDiskImage.diskEncryptionSetId"),
                *(d.get("diskEncryptionSetId") for d in encryption.get("dataDiskImages") or [])]
        for des in filter(None, sets):
            require_encryption_set(arm, des, str(target.get("name")), at)


def check_data_disk_encryption(p: dict[str, Any], luns: list[int]) -> None:
    """Every data disk the version captures is named in each region's encryption."""
    for target in get_path(p, "publishingProfile.targetRegions") or []:
        encryption = target.get("encryption")
        if not encryption:
            continue
        named = sorted(int(d["lun"]) for d in encryption.get("dataDiskImages") or [])
        if named != sorted(luns):
            raise ArmError(400, "InvalidParameter",
                           f"Encryption in '{target.get('name')}' names data disk LUNs "
                           f"{named}, but the source has {sorted(luns)}.")


def vhd_source_luns(arm: ControlPlane, p: dict[str, Any], at: float) -> list[int]:
    """A version made from VHD blobs: their storage account must exist and hold every
    blob (by its host name); the LUNs it captures are the data disk images'. What the
    blobs hold (a fixed VHD, a whole number of MiB) only real Azure checks."""
    images = [get_path(p, "storageProfile.osDiskImage") or {},
              *(get_path(p, "storageProfile.dataDiskImages") or [])]
    for image in images:
        source = image.get("source") or {}
        account = arm.find(source.get("storageAccountId"), at, "storage account")
        host = str(source.get("uri", "")).removeprefix("https://").split(".", 1)[0]
        if host != account.name.lower():
            raise ArmError(400, "InvalidParameter",
                           f"The blob '{source.get('uri')}' is not in storage account "
                           f"'{account.name}'.")
    return sorted(int(d["lun"]) for d in get_path(p, "storageProfile.dataDiskImages") or [])


def get_client_config(_arm: ControlPlane, _a: dict[str, Any], _at: float) -> dict[str, Any]:
    return {"subscriptionId": SUBSCRIPTION_ID, "tenantId": "00000000-0000-0000-0000-0000000000a1",
            "clientId": "00000000-0000-0000-0000-0000000000c1", "objectId": ""}
