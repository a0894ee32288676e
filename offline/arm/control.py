"""The simulated control plane: resources by ARM id, each operation at a simulated time
(seconds from the start of the run), so a rule such as "capture needs a generalized VM" is
checked against the VM's state *when the capture starts*. A PUT goes to its resource
type's handler (offline/arm/dispatch.py); DELETE, VM power and OS state, the guest
agent's and health extension's reports, and private IP allocation live here."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from offline import guest
from offline.arm.model import (
    SUBSCRIPTION_ID,
    ArmError,
    ArmResource,
    Outcome,
    VmTimeline,
    changed_immutable,
    get_path,
)
from offline.arm.storage import BlobStore, DiskGrant
from offline.latency import LatencyModel
from offline.limits import Capacity, SlidingWindow
from offline.marketplace import CATALOG, CatalogImage
from offline.secrets import unwrap
from vmimage.vocabulary import (
    AZURE_NATIVE_PREFIX,
    GALLERY_IMAGE_VERSION,
    NIC,
    ROLE_TAG,
    RUN_COMMAND,
    VIRTUAL_MACHINE,
)

#: What a PUT of one resource type does: validates as ARM would, returns an Outcome.
Handler = Callable[["ControlPlane", dict[str, Any], float], Outcome]
#: What one invoke (a provider's lookup) answers.
Invoke = Callable[["ControlPlane", dict[str, Any], float], dict[str, Any]]


class ControlPlane:
    """The simulated control plane. Pure Python; the Pulumi bridge is offline.engine.
    `handlers`: what a PUT of each resource type does (offline/arm/dispatch.py)."""

    def __init__(self, handlers: Mapping[str, Handler], latency: LatencyModel | None = None,
                 faults: Any | None = None) -> None:
        self.handlers = handlers
        self.latency = latency or LatencyModel()
        self.faults = faults
        self.resources: dict[str, ArmResource] = {}
        self.vms: dict[str, VmTimeline] = {}
        self.leases: dict[str, str] = {}  # disk or NIC id -> VM id holding it
        self.generalize_posts: dict[str, int] = {}  # VM id -> generalize POSTs that applied
        # managed disk id -> its active read access (offline/arm/storage.py), and the
        # storage accounts' containers and blobs
        self.disk_access: dict[str, DiskGrant] = {}
        self.storage = BlobStore()
        # How secrets are kept in a state file (offline/state.py): identity until a state
        # is restored into this ARM.
        self.seal_secrets: Callable[[Any], Any] = lambda value: value
        # marketplace images the simulated Azure knows (offline/marketplace.py)
        self.marketplace: dict[tuple[str, str, str], CatalogImage] = dict(CATALOG)
        # run command id -> (start, what the simulated guest made of its script)
        self.guest_runs: dict[str, tuple[float, guest.GuestRun]] = {}
        # The simulated guest as a test sets it (a fault, then its fix); None: the fault
        # plan's, or a healthy one.
        self.guest: guest.GuestState | None = None
        # VM id -> restarts: (when ARM rebooted it, when its agent reported Ready again)
        self.reboots: dict[str, list[tuple[float, float]]] = {}
        # VM id -> when its Application Health extension first reports healthy (inf: never)
        self.healthy_at: dict[str, float] = {}
        # vCPU quota limits by usage name (lower-case), beyond offline/quota.py's default
        self.quotas: dict[str, int] = {}
        # Existing resources (lower-case ids) the simulated credentials may read but not
        # write under (`--existing ID;access=read`).
        self.read_only: set[str] = set()
        # The subscription the current write goes to: the deployment's, or an explicit
        # azure-native provider's `subscriptionId` (offline/engine.py sets it per call).
        self.subscription = SUBSCRIPTION_ID
        # Told of each REST call of a VM action as it completes (op, start, end): the
        # engine records them as the resource's operations.
        self.on_vm_call: Callable[[str, float, float], None] | None = None
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
        azure = token.startswith(AZURE_NATIVE_PREFIX)  # random:* makes no call to Azure
        if self.faults is not None and provider_retries and azure:
            retry_wait = float(self.faults.before_call(token, inputs) or 0.0)
            at += retry_wait
        if azure:  # a dynamic provider's calls count as theirs; random:* is local
            # ARM's write throttling: the request gets through when a token is there (the
            # client retries 429s after their Retry-After).
            admitted = self.writes.admit(at)
            retry_wait += admitted - at
            at = admitted
        props = unwrap(inputs)
        handler = self.handlers.get(token)
        if handler is None:
            raise ArmError(400, "NoRegisteredProviderFound", f"no simulated handler for {token}")
        try:
            outcome = handler(self, props, at)
        except ArmError as err:
            if err.kept is not None:
                self.resources[err.kept.lower()] = ArmResource(
                    err.kept, token, err.kept.rsplit("/", 1)[-1], inputs, at + err.after_s)
            raise
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
        if self.guest is not None:
            return self.guest
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
        # `restart-hang=1`: a build VM's guest never boots again, so its agent never
        # reports Ready.
        tags = get_path(unwrap(self.resources[vm_id.lower()].props), "tags") or {}
        hangs = self.faults is not None and tags.get(ROLE_TAG) == "build" \
            and self.faults.hangs_restart()
        self.reboots.setdefault(vm_id.lower(), []).append(
            (rebooted, float("inf") if hangs else rebooted + self.latency("guest.boot")))
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

    def next_private_ip(self, subnet_id: str, at: float) -> str:
        """The lowest address of the subnet no live NIC holds (Azure's dynamic
        allocation). The first four addresses (and the last) are Azure's."""
        subnet = self.resources[subnet_id.lower()]
        network = ipaddress.ip_network(subnet.props["addressPrefix"])
        taken = {str(config.get("privateIPAddress"))
                 for nic in self.resources.values()
                 if nic.token == NIC and (nic.deleted_at is None or nic.deleted_at > at)
                 for config in nic.outputs.get("ipConfigurations") or []
                 if str(get_path(config, "subnet.id") or "").lower() == subnet.id.lower()}
        for offset in range(4, network.num_addresses - 1):
            if str(network[offset]) not in taken:
                return str(network[offset])
        raise ArmError(400, "SubnetIsFull",
                       f"Subnet '{subnet.name}' has no free address for another NIC.")

    def read(self, resource_id: str, parents: list[tuple[str, str]],
             at: float) -> dict[str, Any]:
        """GET one resource as ARM answers it: 404 with the code naming what is missing."""
        for parent_id, code in parents:
            parent = self.resources.get(parent_id.lower())
            if parent is None or not parent.alive(at):
                raise ArmError(404, code, f"'{parent_id.rsplit('/', 1)[-1]}' was not found.")
        resource = self.resources.get(resource_id.lower())
        if resource is None or not resource.alive(at):
            raise ArmError(404, "ResourceNotFound",
                           f"The Resource '{resource_id.split('/providers/', 1)[-1]}' was not "
                           "found.")
        return {**unwrap(resource.props), **unwrap(resource.outputs), "id": resource.id,
                "name": resource.name}
