"""A simulated Azure Resource Manager: the rules the program must respect, enforced.

Resources are stored by ARM id. Every operation happens at a simulated time (seconds
from the start of the run), so a rule such as "capture needs a generalized VM" is checked
against the VM's state *when the capture starts*; a program whose capture does not wait
for generalize is refused exactly as ARM would refuse it.

What is enforced (each raises `ArmError` with ARM's error code):
- parents exist before children (ResourceGroupNotFound, ParentResourceNotFound,
  NotFound for referenced ids);
- names: lengths and characters per type, Windows computer names <= 15 (InvalidParameter);
- a PUT to a live name updates it; changing an immutable property is refused
  (PropertyChangeNotAllowed), per `IMMUTABLE_PROPERTIES`;
- VM power and OS states: run commands need a running VM; generalize needs a stopped or
  deallocated VM (OperationNotAllowed); capture needs OSState/generalized;
- data disks: LUNs 0-63 and unique per VM (InvalidParameter); disks and NICs attached to
  a VM are leased (cannot be deleted or attached elsewhere);
- gallery image versions: Major.Minor.Patch of 32-bit integers, immutable, target regions
  include the source region; a VM can only use a version in a region it replicates to;
- managed images support no Trusted Launch VM.
"""

from __future__ import annotations

import bisect
import ipaddress
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pulumi.runtime.rpc import wrap_rpc_secret

from offline import guest
from offline.latency import LatencyModel
from offline.limits import Capacity, SlidingWindow, waves
from offline.marketplace import CATALOG, CatalogImage
from offline.secrets import unwrap
from vmimage.azure import naming
from vmimage.vocabulary import (
    DYNAMIC_PREFIX,
    GALLERY,
    GALLERY_IMAGE,
    GALLERY_IMAGE_VERSION,
    GENERALIZE,
    GET_CLIENT_CONFIG,
    GET_GALLERY_IMAGE_VERSION,
    GET_MANAGED_IMAGE,
    GET_RUN_COMMAND,
    GET_SUBNET,
    GET_VIRTUAL_MACHINE,
    HEALTH_GATE,
    MANAGED_IMAGE,
    NAT_GATEWAY,
    NIC,
    NSG,
    PUBLIC_IP,
    PUBLISH,
    RANDOM_PASSWORD,
    RESOURCE_GROUP,
    RESTART,
    RESUME,
    RETIRE_BATCH,
    RUN_COMMAND,
    SCALE_SET,
    STEP_TAG,
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
MAX_SCALE_SET_CAPACITY = 1000  # instances per scale set (Flexible, gallery image)

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
    VM_EXTENSION: ("location", "publisher", "type"),
}


class ArmError(Exception):
    """What ARM answers when it refuses: HTTP status, error code, message, and how long
    the operation ran before it failed (0: refused at once)."""

    def __init__(self, status: int, code: str, message: str, after_s: float = 0.0) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.after_s = after_s


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


Handler = Callable[["SimulatedArm", dict[str, Any], float], "Outcome"]


@dataclass
class Outcome:
    """Result of one create: its ARM id, extra outputs, and how long it took."""

    id: str
    duration: float
    outputs: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    #: How long it takes when it updates a live resource (None: an ordinary update).
    update_duration: float | None = None


class SimulatedArm:
    """The simulated control plane. Pure Python; the Pulumi bridge is offline.engine."""

    def __init__(self, latency: LatencyModel | None = None,
                 faults: Any | None = None) -> None:
        self.latency = latency or LatencyModel()
        self.faults = faults
        self.resources: dict[str, ArmResource] = {}
        self.vms: dict[str, VmTimeline] = {}
        self.leases: dict[str, str] = {}  # disk or NIC id -> VM id holding it
        self.generalize_posts: dict[str, int] = {}  # VM id -> generalize POSTs that applied
        # How secrets are kept in a state file (offline/state.py): identity until a state
        # is restored into this ARM.
        self.seal_secrets: Callable[[Any], Any] = lambda value: value
        # marketplace images the simulated Azure knows (offline/marketplace.py)
        self.marketplace: dict[tuple[str, str, str], CatalogImage] = dict(CATALOG)
        # run command id -> (start, what the simulated guest made of its script)
        self.guest_runs: dict[str, tuple[float, guest.GuestRun]] = {}
        # VM id -> restarts: (when ARM rebooted it, when its agent reported Ready again)
        self.reboots: dict[str, list[tuple[float, float]]] = {}
        # VM id -> when its Application Health extension first reports healthy (inf: never)
        self.healthy_at: dict[str, float] = {}
        # vCPU quota limits by usage name (lower-case), beyond offline/quota.py's default
        self.quotas: dict[str, int] = {}
        # Told of each REST call of a VM action as it completes (op, start, end): the
        # engine records them as the resource's operations.
        self.on_vm_call: Callable[[str, float, float], None] | None = None
        self._ip_cursor: dict[str, int] = {}
        # What bounds Azure besides durations (offline/limits.py): ARM's write throttling,
        # the compute provider's VM PUT limit, and each image's replicas per region.
        model = self.latency
        self.writes = SlidingWindow(int(model("arm.writeBucket")), model("arm.writeBucket")
                                    / model("arm.writeRefillPerSecond"))
        self.vm_puts = SlidingWindow(int(model("compute.putVmPer3Min")), 180.0)
        self.image_serving: dict[tuple[str, str], Capacity] = {}

    # -- ids --------------------------------------------------------------------------
    @staticmethod
    def rg_id(rg: str) -> str:
        return f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{rg}"

    def provider_id(self, rg: str, *segments: str) -> str:
        return f"{self.rg_id(rg)}/providers/" + "/".join(segments)

    def find(self, resource_id: str | None, at: float, what: str) -> ArmResource:
        resource = self.resources.get((resource_id or "").lower())
        if resource is None or not resource.alive(at):
            raise ArmError(404, "NotFound", f"{what} {resource_id!r} does not exist (yet)")
        return resource

    def require_group(self, rg: str, at: float) -> None:
        group = self.resources.get(self.rg_id(rg).lower())
        if group is None or not group.alive(at):
            raise ArmError(
                404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found."
            )

    def require_parent(self, parent_id: str, at: float, what: str) -> ArmResource:
        parent = self.resources.get(parent_id.lower())
        if parent is None or not parent.alive(at):
            raise ArmError(
                404, "ParentResourceNotFound",
                f"Can not perform requested operation on nested resource. Parent {what} "
                f"'{parent_id.rsplit('/', 1)[-1]}' not found.",
            )
        return parent

    # -- create or update -------------------------------------------------------------
    def put(self, token: str, inputs: dict[str, Any], at: float, *,
            provider_retries: bool = True) -> Outcome:
        """Create (or update in place) one resource starting at simulated time `at`.
        `provider_retries`: transient faults are the provider's to absorb here (False for
        calls of the REST facade, whose client meets them itself)."""
        # Transient 429/5xx answers the provider retried: the operation starts later and
        # its duration includes the wait.
        retry_wait, start = 0.0, at
        if self.faults is not None and provider_retries:
            retry_wait = float(self.faults.before_call(token, inputs) or 0.0)
            at += retry_wait
        if not token.startswith(DYNAMIC_PREFIX):  # a dynamic provider's calls count as theirs
            # ARM's write throttling: the request gets through when a token is there (the
            # client retries 429s after their Retry-After).
            admitted = self.writes.admit(at)
            retry_wait += admitted - at
            at = admitted
        props = unwrap(inputs)
        handler = HANDLERS.get(token)
        if handler is None:
            raise ArmError(400, "NoRegisteredProviderFound", f"no simulated handler for {token}")
        outcome = handler(self, props, at)
        existing = self.resources.get(outcome.id.lower())
        if existing is not None and existing.deleted_at is None:
            # A resource restored from a state file holds its secrets sealed: compare the
            # new values sealed the same way, or every secret would look changed.
            changed = changed_immutable(token, self.seal_secrets(existing.props),
                                        self.seal_secrets(inputs))
            if changed:
                raise ArmError(
                    409, "PropertyChangeNotAllowed",
                    f"Changing property '{changed[0]}' is not allowed on "
                    f"'{outcome.id.rsplit('/', 1)[-1]}'.",
                )
            outcome.duration = self.latency("update") if outcome.update_duration is None \
                else outcome.update_duration
        outcome.duration += retry_wait
        # Stored with secrets still marked, so persisted state can seal them.
        self.resources[outcome.id.lower()] = ArmResource(
            outcome.id, token, outcome.name or outcome.id.rsplit("/", 1)[-1], inputs,
            start + outcome.duration, outcome.outputs,
        )
        return outcome

    def delete(self, resource_id: str, at: float) -> float:
        """DELETE one resource at `at`. ARM answers 204 for one that is gone already (and
        azure-native counts that as deleted); refuses a leased disk or NIC, and a run
        command or extension of a VM that is not running (409). A VM takes its run
        commands along, and the NICs it holds with deleteOption Delete."""
        resource = self.resources.get(resource_id.lower())
        if resource is None or resource.deleted_at is not None:
            return 0.0
        holder = self.leases.get(resource.id.lower())
        if holder is not None and self.resources[holder].deleted_at is None:
            raise ArmError(
                409, "OperationNotAllowed",
                f"'{resource.name}' is attached to VM '{holder.rsplit('/', 1)[-1]}' and "
                "cannot be deleted while leased.",
            )
        if resource.token == RUN_COMMAND:
            vm_id = resource.id.lower().split("/runcommands/", 1)[0]
            power = self.vm_state(vm_id, at)[0] if vm_id in self.vms else "deleted"
            if power not in ("running", "deleted"):
                raise ArmError(409, "OperationNotAllowed",
                               "Cannot modify extensions in the VM when the VM is not running.")
        duration = self.latency("delete")
        resource.deleted_at = at + duration
        if resource.token == VIRTUAL_MACHINE:
            vm_id = resource.id.lower()
            for leased, vm in list(self.leases.items()):
                if vm == vm_id:
                    del self.leases[leased]
            nics = {n["id"].lower() for n in get_path(unwrap(resource.props),
                                                       "networkProfile.networkInterfaces") or []
                    if n.get("deleteOption") == "Delete"}
            for key, child in self.resources.items():
                if child.deleted_at is None and (
                        key.startswith((vm_id + "/runcommands/", vm_id + "/extensions/"))
                        or key in nics):
                    child.deleted_at = resource.deleted_at
        return duration

    def latest_time(self) -> float:
        """The last moment anything in this ARM changed (creates, deletes, VM events)."""
        times = [r.ready_at for r in self.resources.values()]
        times += [r.deleted_at for r in self.resources.values() if r.deleted_at is not None]
        times += [t for timeline in self.vms.values() for t in timeline.times]
        return max(times, default=0.0)

    # -- VM state -----------------------------------------------------------------------
    def guest_state(self) -> guest.GuestState:
        """The simulated guest, as the fault plan makes it (healthy without one)."""
        if self.faults is None:
            return guest.GuestState()
        return self.faults.guest_state()

    def run_command_view(self, command_id: str, at: float) -> dict[str, Any] | None:
        """A run command's instance view at `at`, as `$expand=instanceView` returns it."""
        resource = self.resources.get(command_id.lower())
        if resource is None or resource.deleted_at is not None:
            return None
        start, run = self.guest_runs.get(command_id.lower(), (resource.ready_at, None))
        if run is None:
            return {"executionState": "Succeeded", "exitCode": 0}
        if not run.reports or at < start + run.duration_s:
            return {"executionState": "Running", "startTime": start}
        return {"executionState": "Succeeded" if run.succeeded else "Failed",
                "exitCode": run.exit_code, "output": run.output, "error": run.error,
                "startTime": start, "endTime": start + run.duration_s}

    def vm_state(self, vm_id: str, at: float) -> tuple[str, str]:
        return self.vms[vm_id.lower()].at(at)

    def image_replicas(self, image_id: str, region: str) -> int:
        """How many replicas of an image serve VM creations in `region` (a managed image,
        which has none, serves as one)."""
        image = self.resources.get(image_id.lower())
        if image is None or image.token != GALLERY_IMAGE_VERSION:
            return 1
        for target in get_path(unwrap(image.props), "publishingProfile.targetRegions") or []:
            if target.get("name") == region:
                return int(target.get("regionalReplicaCount") or 1)
        return 1

    def image_serving_slots(self, image_id: str, region: str) -> Capacity:
        key = (image_id.lower(), region)
        if key not in self.image_serving:
            self.image_serving[key] = Capacity(int(
                self.image_replicas(image_id, region) * self.latency("gallery.createsPerReplica")))
        return self.image_serving[key]

    def restart(self, vm_id: str, at: float) -> float:
        """ARM's restart of a running VM at `at`; returns how long the LRO takes. The
        guest agent reports Ready again only once the guest has booted."""
        power, os_state = self.vm_state(vm_id, at)
        if power != "running" or os_state == "generalized":
            raise ArmError(409, "OperationNotAllowed",
                           f"Operation 'restart' is not allowed on VM "
                           f"'{vm_id.rsplit('/', 1)[-1]}' since the VM is {power}.")
        rebooted = at + self.latency("vm.restart")
        self.reboots.setdefault(vm_id.lower(), []).append(
            (rebooted, rebooted + self.latency("guest.boot")))
        return rebooted - at

    def start(self, vm_id: str, at: float) -> float:
        """ARM's start of a deallocated or stopped VM (not a generalized one); returns how
        long the LRO takes. The agent reports Ready once the guest has booted."""
        power, os_state = self.vm_state(vm_id, at)
        if power not in ("deallocated", "stopped") or os_state == "generalized":
            raise ArmError(409, "OperationNotAllowed",
                           f"Operation 'start' is not allowed on VM "
                           f"'{vm_id.rsplit('/', 1)[-1]}' since the VM is {power} and "
                           f"{os_state}.")
        started = at + self.latency("vm.start")
        self.vms[vm_id.lower()].set(started, "running")
        self.reboots.setdefault(vm_id.lower(), []).append(
            (started, started + self.latency("guest.boot")))
        return started - at

    def health_state(self, vm_id: str, at: float) -> str | None:
        """What a VM's Application Health extension reports at `at` (None: it has none)."""
        healthy_at = self.healthy_at.get(vm_id.lower())
        if healthy_at is None:
            return None
        if self.vm_state(vm_id, at)[0] != "running":
            return "unknown"
        if healthy_at == float("inf"):
            return "unhealthy"
        return "healthy" if at >= healthy_at else "initializing"

    def agent_status(self, vm_id: str, at: float) -> tuple[str, float]:
        """The guest agent's status in the instance view at `at`: (display status, time
        of its report). Until a rebooted guest reports again, the instance view keeps the
        last report from before the reboot."""
        power, _ = self.vm_state(vm_id, at)
        if power != "running":
            return "Not Ready", at
        reported = self.resources[vm_id.lower()].ready_at  # provisioning ends with Ready
        for _rebooted, ready in self.reboots.get(vm_id.lower(), []):
            if ready <= at:
                reported = ready
        return "Ready", reported

    def next_private_ip(self, subnet_id: str) -> str:
        subnet = self.resources[subnet_id.lower()]
        network = ipaddress.ip_network(subnet.props["addressPrefix"])
        # Azure reserves the first four addresses of every subnet.
        offset = self._ip_cursor.get(subnet.id.lower(), 4)
        self._ip_cursor[subnet.id.lower()] = offset + 1
        return str(network[offset])


# ---------------------------------------------------------------------------------------
# Handlers, one per resource type. Each validates as ARM would and returns an Outcome.


def _name_check(rule: naming.NameRule, name: str) -> None:
    problems = rule.problems(name)
    if problems:
        raise ArmError(400, "InvalidResourceName", problems[0])


def _resource_group(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    name = p["resourceGroupName"]
    _name_check(naming.RESOURCE_GROUP, name)
    return Outcome(arm.rg_id(name), arm.latency("resourceGroup.create"), {"name": name})


def _nsg(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    priorities = [r.get("priority") for r in p.get("securityRules") or []]
    if len(priorities) != len(set(priorities)):
        raise ArmError(400, "SecurityRuleConflict", "Two security rules share a priority.")
    rid = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Network/networkSecurityGroups",
        p["networkSecurityGroupName"],
    )
    return Outcome(rid, arm.latency("network.create"), {"name": p["networkSecurityGroupName"]})


def _vnet(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    _name_check(naming.VIRTUAL_NETWORK, p["virtualNetworkName"])
    for prefix in get_path(p, "addressSpace")["addressPrefixes"]:
        ipaddress.ip_network(prefix)
    rid = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Network/virtualNetworks", p["virtualNetworkName"]
    )
    return Outcome(rid, arm.latency("network.create"), {"name": p["virtualNetworkName"]})


def _subnet(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    vnet_id = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Network/virtualNetworks", p["virtualNetworkName"]
    )
    vnet = arm.require_parent(vnet_id, at, "virtual network")
    prefix = ipaddress.ip_network(p["addressPrefix"])
    spaces = [ipaddress.ip_network(s) for s in vnet.props["addressSpace"]["addressPrefixes"]]
    if not any(prefix.subnet_of(space) for space in spaces):  # type: ignore[arg-type]
        raise ArmError(
            400, "NetcfgInvalidSubnet",
            f"Subnet {prefix} is not valid in virtual network address space.",
        )
    nsg_id = get_path(p, "networkSecurityGroup.id")
    if nsg_id:
        arm.find(nsg_id, at, "network security group")
    nat_id = get_path(p, "natGateway.id")
    if nat_id:
        arm.find(nat_id, at, "NAT gateway")
    rid = f"{vnet_id}/subnets/{p['subnetName']}"
    return Outcome(rid, arm.latency("network.create"), {"name": p["subnetName"]})


def _public_ip(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    rid = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Network/publicIPAddresses", p["publicIpAddressName"]
    )
    return Outcome(rid, arm.latency("publicIp.create"), {"ipAddress": "20.0.0.1"})


def _nic(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    configs = []
    for config in p.get("ipConfigurations") or []:
        subnet_id = get_path(config, "subnet.id")
        arm.find(subnet_id, at, "subnet")
        public = get_path(config, "publicIPAddress.id")
        if public:
            arm.find(public, at, "public IP address")
        configs.append({**config, "privateIPAddress": arm.next_private_ip(subnet_id)})
    rid = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Network/networkInterfaces", p["networkInterfaceName"]
    )
    return Outcome(rid, arm.latency("nic.create"), {"ipConfigurations": configs})


def _vm(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    rg, name = p["resourceGroupName"], p["vmName"]
    arm.require_group(rg, at)
    _name_check(naming.VIRTUAL_MACHINE, name)
    rid = arm.provider_id(rg, "Microsoft.Compute/virtualMachines", name)
    os_profile = p.get("osProfile") or {}
    windows = "windowsConfiguration" in os_profile
    problems = naming.computer_name_problems(os_profile.get("computerName", ""), windows=windows)
    if problems:
        raise ArmError(400, "InvalidParameter", problems[0])
    if not windows and not get_path(os_profile, "linuxConfiguration.disablePasswordAuthentication"):
        if not os_profile.get("adminPassword"):
            raise ArmError(400, "InvalidParameter", "A Linux VM needs a password or SSH key.")
    if windows and not os_profile.get("adminPassword"):
        raise ArmError(400, "InvalidParameter", "Required parameter 'adminPassword' is missing.")
    storage = p.get("storageProfile") or {}
    image_ref = storage.get("imageReference") or {}
    disks = storage.get("dataDisks") or []
    luns = [d["lun"] for d in disks]
    if any(not 0 <= lun <= 63 for lun in luns) or len(set(luns)) != len(luns):
        raise ArmError(400, "InvalidParameter", f"Data disk LUNs must be unique and 0-63: {luns}")
    if image_ref.get("id"):
        _check_vm_image(arm, image_ref["id"], p, disks, at)
    _tenancy().check_vm_references(arm, p, p, at)
    nic_ids = [n["id"] for n in get_path(p, "networkProfile.networkInterfaces") or []]
    for nic_id in nic_ids:
        arm.find(nic_id, at, "network interface")
        holder = arm.leases.get(nic_id.lower())
        if holder and holder != rid.lower() and arm.resources[holder].deleted_at is None:
            raise ArmError(
                400, "NicInUse",
                f"Network interface {nic_id.rsplit('/', 1)[-1]} is used by VM "
                f"{holder.rsplit('/', 1)[-1]}.",
            )
    existing = arm.resources.get(rid.lower())
    if existing is not None and existing.deleted_at is None:
        if arm.vm_state(rid, at)[1] == "generalized":
            raise ArmError(409, "OperationNotAllowed",
                           f"Operation 'PUT' is not allowed on VM '{name}' since the VM is "
                           "generalized.")
        # An update of a live VM: leases and states carry on.
        return Outcome(rid, 0, {"vmId": existing.outputs["vmId"],
                                **_tenancy().identity_output(p)}, name)
    for nic_id in nic_ids:
        arm.leases[nic_id.lower()] = rid.lower()
    for disk in disks:
        arm.leases[f"{rid}/disks/lun{disk['lun']}".lower()] = rid.lower()
    # The compute provider's VM PUT limit, then (from an image of this pipeline) a free
    # slot among the VM creations its replicas in the region serve at once.
    begin = arm.vm_puts.admit(at)
    if image_ref.get("id"):
        slots = arm.image_serving_slots(image_ref["id"], str(p.get("location")))
        begin = slots.admit(begin, arm.latency("vm.create"))
    duration = begin - at + arm.latency("vm.create")
    timeline = VmTimeline()
    timeline.set(at + duration, "running", "specialized")
    arm.vms[rid.lower()] = timeline
    # Like Azure's vmId: unique per VM created, so a VM recreated under the same name
    # is told apart (deterministic here: name and creation time).
    unique = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{rid}@{at}"))
    return Outcome(rid, duration, {"vmId": unique, **_tenancy().identity_output(p)}, name)


def _check_vm_image(
    arm: SimulatedArm, image_id: str, p: dict[str, Any], disks: list[dict[str, Any]], at: float
) -> None:
    image = arm.find(image_id, at, "image")
    location = p.get("location")
    if image.token == GALLERY_IMAGE_VERSION:
        regions = [r["name"] for r in get_path(image.props, "publishingProfile.targetRegions")]
        if location not in regions:
            raise ArmError(
                400, "GalleryImageNotReplicatedToRegion",
                f"Gallery image version '{image.name}' is not replicated to region "
                f"'{location}'; it is in {regions}.",
            )
    elif location != image.props.get("location"):
        raise ArmError(400, "InvalidParameter", "A managed image can only be used in its region.")
    captured = image.outputs.get("dataDiskLuns", [])
    wanted = sorted(int(d["lun"]) for d in disks if d.get("createOption") == "FromImage")
    if wanted != sorted(captured):
        raise ArmError(
            400, "InvalidParameter",
            f"Data disks from image must match the image's LUNs {sorted(captured)}; got {wanted}.",
        )


def _run_command(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    """A managed run command: needs a running VM with its agent; what the script does to
    the VM and to the command's result is the simulated guest's (offline/guest.py)."""
    rg, vm_name = p["resourceGroupName"], p["vmName"]
    arm.require_group(rg, at)
    vm_id = arm.provider_id(rg, "Microsoft.Compute/virtualMachines", vm_name)
    vm = arm.require_parent(vm_id, at, "virtual machine")
    step = (p.get("tags") or {}).get(STEP_TAG)
    if arm.faults is not None and arm.faults.evicts(unwrap(vm.props), step=step):
        arm.vms[vm_id.lower()].set(at, "deallocated")  # Azure took the Spot capacity back
    power, os_state = arm.vm_state(vm_id, at)
    if power != "running":
        raise ArmError(
            409, "OperationNotAllowed",
            f"Run command '{p['runCommandName']}' needs a running VM with its guest agent; "
            f"VM '{vm_name}' is {power}.",
        )
    name = p["runCommandName"]
    if arm.faults is not None:
        arm.faults.before_script(name, vm_name, step=step)
    asynchronous = bool(p.get("asyncExecution"))
    run = guest.run_script(
        get_path(p, "source.script") or "", windows=_is_windows(vm), asynchronous=asynchronous,
        latency=arm.latency, state=arm.guest_state(), vm_name=vm_name)
    if run.power_off_after_s is not None:
        arm.vms[vm_id.lower()].set(at + run.power_off_after_s, "stopped")
    rid = f"{vm_id}/runCommands/{name}"
    arm.guest_runs[rid.lower()] = (at, run)
    if asynchronous:
        # ARM answers once the script has started; its end is only in the instance view.
        return Outcome(rid, arm.latency("runCommand.async"), {}, name)
    if not run.reports:
        # The agent never reports: ARM gives up on the extension after its own timeout.
        raise ArmError(
            409, "VMExtensionProvisioningTimeout",
            f"Run command '{name}' on VM '{vm_name}' never reported back: "
            + "; ".join(run.notes), after_s=arm.latency("runCommand.agentLost"))
    if not run.succeeded and p.get("treatFailureAsDeploymentFailure"):
        raise ArmError(
            409, "VMExtensionProvisioningError",
            f"Run command '{name}' on VM '{vm_name}' failed: the script exited with code "
            f"{run.exit_code}. Script output:\n{(run.error or run.output).strip()}",
            after_s=run.duration_s)
    return Outcome(rid, run.duration_s, {}, name)


def _is_windows(vm: ArmResource) -> bool:
    return "windowsConfiguration" in (get_path(unwrap(vm.props), "osProfile") or {})


def _gallery(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    _name_check(naming.GALLERY, p["galleryName"])
    rid = arm.provider_id(p["resourceGroupName"], "Microsoft.Compute/galleries", p["galleryName"])
    return Outcome(rid, arm.latency("gallery.create"))


def _gallery_image(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    gallery_id = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Compute/galleries", p["galleryName"]
    )
    arm.require_parent(gallery_id, at, "gallery")
    _name_check(naming.GALLERY_IMAGE, p["galleryImageName"])
    rid = f"{gallery_id}/images/{p['galleryImageName']}"
    return Outcome(rid, arm.latency("galleryImage.create"))


def _captured_vm(arm: SimulatedArm, vm_id: str | None, at: float, what: str) -> ArmResource:
    vm = arm.find(vm_id, at, "source virtual machine")
    power, os_state = arm.vm_state(vm.id, at)
    if os_state != "generalized":
        raise ArmError(
            409, "OperationNotAllowed",
            f"{what} from VM '{vm.name}' needs OSState/generalized, but at t={at:.0f}s the "
            f"VM is {power} and {os_state}: deprovision and generalize it first.",
        )
    return vm


def _disk_luns(vm: ArmResource) -> list[int]:
    return sorted(int(d["lun"]) for d in get_path(vm.props, "storageProfile.dataDisks") or [])


def _gallery_image_version(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    image_id = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Compute/galleries", p["galleryName"],
        "images", p["galleryImageName"],
    )
    arm.require_parent(image_id, at, "gallery image")
    version = p["galleryImageVersionName"]
    if naming.parse_version(version) is None:
        raise ArmError(
            400, "InvalidParameter",
            f"Gallery image version name '{version}' must be Major.Minor.Patch (32-bit integers).",
        )
    rid = f"{image_id}/versions/{version}"
    regions = [r["name"] for r in get_path(p, "publishingProfile.targetRegions") or []]
    if regions and p.get("location") not in regions:
        raise ArmError(
            400, "InvalidParameter",
            f"Target regions must include the source region '{p.get('location')}'.",
        )
    for region in get_path(p, "publishingProfile.targetRegions") or []:
        count = region.get("regionalReplicaCount", 1)
        if not 1 <= count <= 100:
            raise ArmError(400, "InvalidParameter", f"Replica count {count} is out of 1-100.")
    tenancy = _tenancy()
    tenancy.check_gallery_version(arm, p, at)
    existing = arm.resources.get(rid.lower())
    if existing is not None and existing.deleted_at is None:
        # Versions are immutable but for updatable publishing settings; no recapture.
        return Outcome(rid, 0, existing.outputs)
    duration = arm.latency("galleryImageVersion.capture")
    if len(set(regions) - {p.get("location")}) > 0:
        duration += arm.latency("galleryImageVersion.replicate")
    if get_path(p, "storageProfile.osDiskImage"):  # imported from VHD blobs
        luns = tenancy.vhd_source_luns(arm, p, at)
        tenancy.check_data_disk_encryption(p, luns)
        return Outcome(rid, duration, {"dataDiskLuns": luns})
    vm = _captured_vm(
        arm, get_path(p, "storageProfile.source.virtualMachineId"), at, "Capturing an image version"
    )
    tenancy.check_data_disk_encryption(p, _disk_luns(vm))
    return Outcome(rid, duration, {"dataDiskLuns": _disk_luns(vm), "sourceVmId": vm.id})


def _managed_image(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    _name_check(naming.MANAGED_IMAGE, p["imageName"])
    rid = arm.provider_id(p["resourceGroupName"], "Microsoft.Compute/images", p["imageName"])
    existing = arm.resources.get(rid.lower())
    if existing is not None and existing.deleted_at is None:
        return Outcome(rid, 0, existing.outputs)
    vm = _captured_vm(arm, get_path(p, "sourceVirtualMachine.id"), at, "Capturing a managed image")
    if get_path(vm.props, "securityProfile.securityType") == "TrustedLaunch":
        raise ArmError(
            400, "InvalidParameter",
            "Managed images do not support Trusted Launch VMs; capture to a gallery instead.",
        )
    duration = arm.latency("managedImage.create")
    return Outcome(rid, duration, {"dataDiskLuns": _disk_luns(vm), "sourceVmId": vm.id})


def _scale_set(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    rg, name = p["resourceGroupName"], p["vmScaleSetName"]
    arm.require_group(rg, at)
    _name_check(naming.VIRTUAL_MACHINE, name)
    profile = p.get("virtualMachineProfile") or {}
    image_id = get_path(profile, "storageProfile.imageReference.id")
    if image_id:
        disks = get_path(profile, "storageProfile.dataDisks") or []
        _check_vm_image(arm, image_id, p, disks, at)
    _tenancy().check_vm_references(arm, p, profile, at)
    capacity = get_path(p, "sku.capacity") or 0
    if not 0 <= capacity <= MAX_SCALE_SET_CAPACITY:
        raise ArmError(
            400, "InvalidParameter",
            f"Scale set capacity {capacity} is out of 0-{MAX_SCALE_SET_CAPACITY}.",
        )
    if p.get("orchestrationMode") == "Flexible":
        if p.get("platformFaultDomainCount") is None:
            raise ArmError(
                400, "InvalidParameter",
                "Flexible orchestration requires platformFaultDomainCount.",
            )
        rolling = get_path(p, "upgradePolicy.mode") == "Rolling"
        extensions = get_path(profile, "extensionProfile.extensions") or []
        if rolling and not any(
            str(e.get("type", "")).startswith("ApplicationHealth") for e in extensions
        ):
            raise ArmError(
                400, "BadRequest",
                "Rolling Upgrade mode is not supported for this Virtual Machine Scale Set "
                "because a health extension was not provided.",
            )
    for config in get_path(profile, "networkProfile.networkInterfaceConfigurations") or []:
        for ip_config in config.get("ipConfigurations") or []:
            arm.find(get_path(ip_config, "subnet.id"), at, "subnet")
    rid = arm.provider_id(rg, "Microsoft.Compute/virtualMachineScaleSets", name)
    # Instances boot in waves of what the image's replicas in the region serve at once.
    per_wave = arm.image_replicas(image_id or "", str(p.get("location"))) \
        * int(arm.latency("gallery.createsPerReplica"))
    duration = arm.latency("vmss.create") * waves(capacity, per_wave) \
        + arm.latency("vmss.instance") * max(capacity - 1, 0)
    return Outcome(rid, duration, {"uniqueId": str(uuid.uuid5(uuid.NAMESPACE_URL, rid))}, name,
                   update_duration=_rolling_upgrade_s(arm, rid, p, capacity))


def _rolling_upgrade_s(arm: SimulatedArm, rid: str, p: dict[str, Any],
                       capacity: int) -> float | None:
    """A live scale set moved to another image rolls its instances in batches of
    maxBatchInstancePercent, each reimaged, then healthy, then paused: that long."""
    existing = arm.resources.get(rid.lower())
    image = "virtualMachineProfile.storageProfile.imageReference.id"
    if existing is None or existing.deleted_at is not None or \
            get_path(unwrap(existing.props), image) == get_path(p, image):
        return None
    policy = get_path(p, "upgradePolicy.rollingUpgradePolicy") or {}
    per_batch = max(1, math.ceil(capacity * int(policy.get("maxBatchInstancePercent") or 20)
                                 / 100))
    pause = str(policy.get("pauseTimeBetweenBatches") or "PT0S")
    pause_s = float(pause.removeprefix("PT").removesuffix("S") or 0)
    return math.ceil(capacity / per_batch) * (
        arm.latency("vmss.reimage") + arm.latency("guest.health") + pause_s)


def _random_password(arm: SimulatedArm, p: dict[str, Any], at: float) -> Outcome:
    # Deterministic per name, so repeated offline runs are comparable; never printed.
    seed = uuid.uuid5(uuid.NAMESPACE_OID, repr(sorted(p.items()))).hex
    result = (seed * 2)[: int(p.get("length", 16)) - 4] + "Aa1!"
    # The id is printed and stored: derive it apart from the password's seed.
    resource_id = "random-" + uuid.uuid5(uuid.NAMESPACE_URL, seed).hex[:8]
    return Outcome(resource_id, arm.latency("random.create"), {"result": wrap_rpc_secret(result)})


def _vm_action(arm: SimulatedArm, which: str, p: dict[str, Any], at: float) -> Outcome:
    """A VM action (vmimage/providers/vm_action.py): its procedure run against this ARM
    through the real compute client; its REST calls reported as they complete."""
    from offline.vm_rest import run_action
    from vmimage.providers.generalize import GENERALIZE as GENERALIZE_ACTION
    from vmimage.providers.health_gate import HEALTH as HEALTH_ACTION
    from vmimage.providers.publish import PUBLISH as PUBLISH_ACTION
    from vmimage.providers.restart import RESTART as RESTART_ACTION
    from vmimage.providers.resume import RESUME as RESUME_ACTION
    from vmimage.providers.retire import RETIRE as RETIRE_ACTION

    action = {"generalize": GENERALIZE_ACTION, "restart": RESTART_ACTION,
              "resume": RESUME_ACTION, "health": HEALTH_ACTION,
              "publish": PUBLISH_ACTION, "retire": RETIRE_ACTION}[which]
    reported, end = run_action(arm, action, p, at, on_call=arm.on_vm_call)
    outputs = {k: reported.get(k) for k in action.outputs}
    outputs[action.done_at] = timestamp(end)
    # Keyed apart from the VM itself (the provider's id is the VM id); a VM may be
    # restarted more than once, each after another step.
    rid = f"{which}-{p['vmId']}"
    for mark in ("after", "evictedAt"):  # one VM, acted on more than once
        if mark in action.inputs:
            rid += f"-{naming.short_hash(str(p.get(mark)), length=8)}"
    return Outcome(rid, end - at, outputs, which)


HANDLERS: dict[str, Handler] = {
    RESOURCE_GROUP: _resource_group,
    NSG: _nsg,
    VIRTUAL_NETWORK: _vnet,
    SUBNET: _subnet,
    PUBLIC_IP: _public_ip,
    NIC: _nic,
    VIRTUAL_MACHINE: _vm,
    RUN_COMMAND: _run_command,
    GALLERY: _gallery,
    GALLERY_IMAGE: _gallery_image,
    GALLERY_IMAGE_VERSION: _gallery_image_version,
    MANAGED_IMAGE: _managed_image,
    SCALE_SET: _scale_set,
    RANDOM_PASSWORD: _random_password,
    # Dynamic resources: the VM actions' real procedures, through the simulated REST API.
    GENERALIZE: lambda arm, p, at: _vm_action(arm, "generalize", p, at),
    RESTART: lambda arm, p, at: _vm_action(arm, "restart", p, at),
    RESUME: lambda arm, p, at: _vm_action(arm, "resume", p, at),
    HEALTH_GATE: lambda arm, p, at: _vm_action(arm, "health", p, at),
    PUBLISH: lambda arm, p, at: _vm_action(arm, "publish", p, at),
    RETIRE_BATCH: lambda arm, p, at: _vm_action(arm, "retire", p, at),
    VM_EXTENSION: lambda arm, p, at: _tenancy().vm_extension(arm, p, at),
    NAT_GATEWAY: lambda arm, p, at: _tenancy().nat_gateway(arm, p, at),
}


def _tenancy() -> Any:
    """offline/tenancy.py builds on this module, so it is imported when first used."""
    from offline import tenancy

    return tenancy


# ---------------------------------------------------------------------------------------
# Invokes (the provider's lookups), answered from the resources the simulator holds.


def _read(arm: SimulatedArm, resource_id: str, parents: list[tuple[str, str]],
          at: float) -> dict[str, Any]:
    """GET one resource as ARM answers it: 404 with the code naming what is missing."""
    for parent_id, code in parents:
        parent = arm.resources.get(parent_id.lower())
        if parent is None or not parent.alive(at):
            raise ArmError(404, code, f"'{parent_id.rsplit('/', 1)[-1]}' was not found.")
    resource = arm.resources.get(resource_id.lower())
    if resource is None or not resource.alive(at):
        raise ArmError(404, "ResourceNotFound",
                       f"The Resource '{resource_id.split('/providers/', 1)[-1]}' was not "
                       "found.")
    return {**unwrap(resource.props), **unwrap(resource.outputs), "id": resource.id,
            "name": resource.name}


def _get_gallery_image_version(arm: SimulatedArm, a: dict[str, Any], at: float) -> dict[str, Any]:
    rg = arm.rg_id(a["resourceGroupName"])
    gallery = arm.provider_id(a["resourceGroupName"], "Microsoft.Compute/galleries",
                              a["galleryName"])
    image = f"{gallery}/images/{a['galleryImageName']}"
    return _read(arm, f"{image}/versions/{a['galleryImageVersionName']}",
                 [(rg, "ResourceGroupNotFound"), (gallery, "ParentResourceNotFound"),
                  (image, "ParentResourceNotFound")], at)


def _get_image(arm: SimulatedArm, a: dict[str, Any], at: float) -> dict[str, Any]:
    rg = arm.rg_id(a["resourceGroupName"])
    return _read(arm, arm.provider_id(a["resourceGroupName"], "Microsoft.Compute/images",
                                      a["imageName"]),
                 [(rg, "ResourceGroupNotFound")], at)


Invoke = Callable[[SimulatedArm, dict[str, Any], float], dict[str, Any]]

INVOKES: dict[str, Invoke] = {
    GET_GALLERY_IMAGE_VERSION: _get_gallery_image_version,
    GET_MANAGED_IMAGE: _get_image,
    GET_SUBNET: lambda arm, a, at: _tenancy().get_subnet(arm, a, at),
    GET_CLIENT_CONFIG: lambda arm, a, at: _tenancy().get_client_config(arm, a, at),
    GET_VIRTUAL_MACHINE: lambda arm, a, at: _tenancy().get_virtual_machine(arm, a, at),
    GET_RUN_COMMAND: lambda arm, a, at: _tenancy().get_run_command(arm, a, at),
}
