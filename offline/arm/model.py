"""What the simulated ARM is made of: its errors, resources, VM timelines, the outcome
of a create, and the table of properties ARM refuses to change. No behaviour here: the
control plane (control.py) and one module per resource family build on it."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from offline.secrets import unwrap
from vmimage.azure import naming
from vmimage.vocabulary import (
    EXPORT_VHD,
    GALLERY,
    GALLERY_IMAGE,
    GALLERY_IMAGE_VERSION,
    GENERALIZE,
    HEALTH_GATE,
    MANAGED_IMAGE,
    NAT_GATEWAY,
    NIC,
    NSG,
    PUBLIC_IP,
    PUBLISH,
    RESOURCE_GROUP,
    RESTART,
    RESUME,
    RETIRE_BATCH,
    RUN_COMMAND,
    SCALE_SET,
    SUBNET,
    VIRTUAL_MACHINE,
    VIRTUAL_NETWORK,
    VM_EXTENSION,
)

SUBSCRIPTION_ID = "00000000-0000-0000-0000-00000000c0de"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # simulated t=0, for timestamps ARM reports


def timestamp(at: float) -> str:
    """Simulated time `at` as the ISO 8601 timestamp ARM would report."""
    return (EPOCH + timedelta(seconds=at)).isoformat()

# Properties ARM refuses to change on an existing resource: a changed value means the
# resource must be replaced (and, since ARM keys resources by name, under a new name).
# The change summary and the simulator share this table.
IMMUTABLE_PROPERTIES: dict[str, tuple[str, ...]] = {
    VIRTUAL_MACHINE: (
        "location", "storageProfile.imageReference", "storageProfile.osDisk.createOption",
        "osProfile.computerName", "osProfile.adminUsername", "zones",
        "securityProfile.securityType",
    ),
    GALLERY_IMAGE_VERSION: (
        "location", "storageProfile", "publishingProfile.storageAccountType",
        "publishingProfile.replicationMode",
    ),
    GALLERY_IMAGE: (
        "location", "osType", "osState", "hyperVGeneration", "identifier",
    ),
    GALLERY: ("location",),
    MANAGED_IMAGE: ("location", "sourceVirtualMachine", "hyperVGeneration"),
    SCALE_SET: ("location", "orchestrationMode", "zones"),
    RUN_COMMAND: ("location",),
    NIC: ("location",),
    VIRTUAL_NETWORK: ("location",),
    SUBNET: ("defaultOutboundAccess",),
    NAT_GATEWAY: ("location",),
    NSG: ("location",),
    PUBLIC_IP: ("location", "sku"),
    RESOURCE_GROUP: ("location",),
    GENERALIZE: ("vmId", "vmUniqueId"),
    RESTART: ("vmId", "vmUniqueId"),
    RESUME: ("vmId", "vmUniqueId", "evictedAt"),
    HEALTH_GATE: ("vmId", "vmUniqueId"),
    PUBLISH: ("vmId", "vmUniqueId", "galleryImageVersionName", "excludeFromLatest"),
    RETIRE_BATCH: ("vmId", "vmUniqueId"),
    EXPORT_VHD: ("vmId", "vmUniqueId", "storageAccountId", "container", "blobNames"),
    VM_EXTENSION: ("location", "publisher", "type"),
}


class ArmError(Exception):
    """What ARM answers when it refuses: HTTP status, error code, message, and how long
    the operation ran before it failed (0: refused at once)."""

    def __init__(self, status: int, code: str, message: str, after_s: float = 0.0,
                 kept: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.after_s = after_s
        # The id of a resource ARM keeps although the PUT failed (a run command whose
        # script failed stays on the VM, Failed), or None.
        self.kept = kept


class SimulatedCrash(Exception):
    """The client process dies here: the offline `up` killed mid-run (`--faults
    crash-after=K`), or a VM action's process right after a REST action took effect
    (`VmRest.crash_after`). An Exception, not a BaseException: azure-core runs LRO polling
    in a worker thread that only hands `Exception`s back to `.result()`; neither
    azure-core's RetryPolicy (AzureError only) nor the VM actions (HttpResponseError
    only) catch it."""

    def __init__(self, after: int, what: str = "operations") -> None:
        super().__init__(
            f"simulated crash after {after} {what}; re-run with the same --state to "
            "converge"
        )
        self.after = after


@dataclass
class ArmResource:
    id: str
    token: str  # Pulumi type token, e.g. azure-native:compute:VirtualMachine
    name: str
    props: dict[str, Any]
    ready_at: float  # simulated time its create finished
    outputs: dict[str, Any] = field(default_factory=dict)
    deleted_at: float | None = None

    def alive(self, at: float) -> bool:
        return self.ready_at <= at and (self.deleted_at is None or at < self.deleted_at)


@dataclass
class VmTimeline:
    """Power and OS state over simulated time; events may be scheduled ahead (sysprep)."""

    times: list[float] = field(default_factory=list)
    states: list[tuple[str, str]] = field(default_factory=list)

    def set(self, at: float, power: str | None = None, os_state: str | None = None) -> None:
        current = self.at(at)
        state = (power or current[0], os_state or current[1])
        index = bisect.bisect_right(self.times, at)
        self.times.insert(index, at)
        self.states.insert(index, state)

    def at(self, t: float) -> tuple[str, str]:
        index = bisect.bisect_right(self.times, t) - 1
        return self.states[index] if index >= 0 else ("creating", "specialized")

    def final(self) -> tuple[str, str]:
        return self.states[-1] if self.states else ("creating", "specialized")


def get_path(props: dict[str, Any], path: str) -> Any:
    value: Any = props
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def changed_immutable(token: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old, new = unwrap(old), unwrap(new)
    return [
        path for path in IMMUTABLE_PROPERTIES.get(token, ())
        if get_path(old, path) != get_path(new, path)
    ]


@dataclass
class Outcome:
    """Result of one create: its ARM id, extra outputs, and how long it took."""

    id: str
    duration: float
    outputs: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    #: How long it takes when it updates a live resource (None: an ordinary update).
    update_duration: float | None = None


def name_check(rule: naming.NameRule, name: str) -> None:
    """ARM's refusal of a name its resource type does not allow."""
    problems = rule.problems(name)
    if problems:
        raise ArmError(400, "InvalidResourceName", problems[0])
