"""The simulator's VM REST surface, so VM actions offline (generalize, restart) run the
very same procedures as on Azure, through a real ComputeManagementClient. Time is
simulated: every call advances a clock by its modeled latency, and sleeping advances it
too."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import HttpResponseError

from offline import quota
from offline.arm.control import ControlPlane
from offline.arm.model import SUBSCRIPTION_ID, ArmError, get_path, timestamp
from offline.arm_transport import SimulatedArmTransport, offline_compute_client
from offline.secrets import unwrap
from vmimage.azure.client import TRANSPORT
from vmimage.providers.vm_action import VmAction, VmActionError
from vmimage.vocabulary import RUN_COMMAND

SKUS_PATH = re.compile(r"/subscriptions/[^/]+/providers/Microsoft\.Compute/skus$",
                       re.IGNORECASE)
USAGES_PATH = re.compile(r"/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/"
                         r"(?P<location>[^/]+)/usages$", re.IGNORECASE)
VM_LIST_PATH = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"virtualMachines/?$", re.IGNORECASE)
VM_PATH = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"virtualMachines/(?P<name>[^/?]+)(?P<action>/[A-Za-z]+)?(?:/(?P<command>[^/?]+))?$",
    re.IGNORECASE,
)
GALLERY_VERSION_PATH = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"galleries/(?P<gallery>[^/]+)/images/(?P<image>[^/]+)/versions/(?P<version>[^/?]+)$",
    re.IGNORECASE,
)
MARKETPLACE_PATH = re.compile(
    r"/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/(?P<location>[^/]+)/"
    r"publishers/(?P<publisher>[^/]+)/artifacttypes/vmimage/offers/(?P<offer>[^/]+)/"
    r"skus/(?P<sku>[^/]+)/versions(?:/(?P<version>[^/?]+))?$",
    re.IGNORECASE,
)

Reply = tuple[int, dict[str, str], Any]  # a JSON body: an object, a list (ARM lists), None


@dataclass
class SimulatedClock:
    now: float

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)

    def __call__(self) -> float:
        return self.now


@dataclass
class VmRestFacade:
    """An `ArmBackend` (offline.arm_transport) over the simulated VM states."""

    arm: ControlPlane
    clock: SimulatedClock
    calls: list[tuple[str, float, float]] = field(default_factory=list)  # (op, start, end)
    # Told of each call as it completes, so a crash between two calls falls between them.
    on_call: Callable[[str, float, float], None] | None = None

    def handle(self, method: str, path: str, query: dict[str, str],
               body: dict[str, Any] | None) -> Reply:
        match, image = VM_PATH.match(path), MARKETPLACE_PATH.match(path)
        version = GALLERY_VERSION_PATH.match(path)
        listing = VM_LIST_PATH.match(path)
        if method == "GET" and SKUS_PATH.match(path):
            location = re.search(r"location eq '([^']+)'", query.get("$filter", ""))
            return 200, {}, {"value": quota.skus(location[1] if location else "")}
        usages = USAGES_PATH.match(path)
        if method == "GET" and usages is not None:
            return 200, {}, {"value": quota.usages(self.arm.quotas, self._running(
                usages["location"]))}
        if match is None and image is None and version is None and listing is None:
            return _error(404, "NotFound", f"no simulated route for {method} {path}")
        if self.arm.faults is not None:
            canned = self.arm.faults.rest_fault(method, path)
            if canned is not None:
                return canned
        if listing is not None and method == "GET":
            return self._timed("list", "vm.instanceView", lambda: self._list(listing["rg"]))
        if version is not None and method == "PATCH":
            return self._timed("publish", "update", lambda: self._patch_version(
                version["rg"], version["gallery"], version["image"], version["version"],
                body or {}))
        if image is not None and method == "GET":
            return self._timed("marketplace", "vm.instanceView",
                               lambda: self._marketplace(**image.groupdict()))
        if match is None:
            return _error(405, "MethodNotAllowed", f"{method} {path} is not simulated")
        rg, name, action = match["rg"], match["name"], (match["action"] or "").lower()
        vm_id = self.arm.provider_id(rg, "Microsoft.Compute/virtualMachines", name).lower()
        if vm_id not in self.arm.vms:
            return _error(404, "ResourceNotFound", f"The Resource '{name}' was not found.")
        try:
            if action == "/runcommands" and match["command"]:
                command = match["command"]
                if method == "PUT":
                    return self._put_command(rg, name, command, body or {})
                if method == "GET":
                    return self._timed("runCommand.get", "vm.instanceView",
                                       lambda: self._get_command(vm_id, command))
            if method == "GET" and action == "/instanceview":
                return self._timed("instanceView", "vm.instanceView", lambda: self._view(vm_id))
            if method == "POST" and action == "/deallocate":
                return self._timed("deallocate", "vm.deallocate", lambda: self._deallocate(vm_id))
            if method == "POST" and action == "/generalize":
                return self._timed("generalize", "vm.generalize", lambda: self._generalize(vm_id))
            if method == "POST" and action == "/restart":
                return self._restart(vm_id)
            if method == "POST" and action == "/start":
                return self._start(vm_id)
            if method == "DELETE" and not action:
                return self._delete(vm_id)
        except ArmError as err:
            return _error(err.status, err.code, err.message)
        return _error(405, "MethodNotAllowed", f"{method} {action or '/'} is not simulated")

    def _timed(self, op: str, latency_key: str, action: Any) -> Reply:
        start = self.clock.now
        self.clock.sleep(self.arm.latency(latency_key))
        reply = action()
        self._record(op, start)
        return reply

    def _put_command(self, rg: str, vm_name: str, command: str,
                     body: dict[str, Any]) -> Reply:
        """PUT a managed run command: the simulated ARM and guest decide what it does; the
        reply comes when ARM would answer (a synchronous script has ended)."""
        properties = body.get("properties") or {}
        props = {"resourceGroupName": rg, "vmName": vm_name, "runCommandName": command,
                 "location": body.get("location"), **properties}
        start = self.clock.now
        try:
            outcome = self.arm.put(RUN_COMMAND, props, start, provider_retries=False)
        except ArmError as err:
            self.clock.sleep(err.after_s)
            self._record(f"runCommand {command}", start)
            raise
        self.clock.sleep(outcome.duration)
        self._record(f"runCommand {command}", start)
        return 200, {}, {"id": outcome.id, "name": command, "location": body.get("location"),
                         "properties": {**properties, "provisioningState": "Succeeded"}}

    def _get_command(self, vm_id: str, command: str) -> Reply:
        command_id = f"{vm_id}/runCommands/{command}"
        view = self.arm.run_command_view(command_id, self.clock.now)
        if view is None:
            return _error(404, "ResourceNotFound",
                          f"The Resource 'runCommands/{command}' was not found.")
        # As ARM answers: the command as it was sent, with its instance view.
        sent = unwrap(self.arm.resources[command_id.lower()].props)
        properties = {"source": sent.get("source") or {},
                      "asyncExecution": bool(sent.get("asyncExecution")),
                      "provisioningState": "Failed" if view.get("executionState") == "Failed"
                      and sent.get("treatFailureAsDeploymentFailure") else "Succeeded",
                      "instanceView": view}
        return 200, {}, {"id": command_id, "name": command, "properties": properties}

    def _marketplace(self, location: str, publisher: str, offer: str, sku: str,
                     version: str | None) -> Reply:
        """Marketplace image versions, as ARM lists and describes them."""
        entry = self.arm.marketplace.get((publisher.lower(), offer.lower(), sku.lower()))
        if entry is None or (version is not None and version not in entry.versions):
            return _error(404, "NotFound", f"Artifact: VMImage was not found "
                          f"({publisher}:{offer}:{sku}:{version or ''}).")
        base = (f"/Subscriptions/{SUBSCRIPTION_ID}/Providers/Microsoft.Compute/Locations/"
                f"{location}/Publishers/{publisher}/ArtifactTypes/VMImage/Offers/{offer}/"
                f"Skus/{sku}/Versions")
        if version is None:
            return 200, {}, [{"name": v, "location": location, "id": f"{base}/{v}"}
                             for v in entry.versions]
        return 200, {}, {"name": version, "location": location, "id": f"{base}/{version}",
                         "properties": {"hyperVGeneration": entry.generation,
                                        "architecture": entry.architecture}}

    def _record(self, op: str, start: float) -> None:
        self.calls.append((op, start, self.clock.now))
        if self.on_call is not None:
            self.on_call(op, start, self.clock.now)

    def _view(self, vm_id: str) -> Reply:
        power, os_state = self.arm.vm_state(vm_id, self.clock.now)
        statuses = [{"code": "ProvisioningState/succeeded"}, {"code": f"PowerState/{power}"}]
        if os_state == "generalized":
            statuses.append({"code": "OSState/generalized"})
        agent, reported = self.arm.agent_status(vm_id, self.clock.now)
        view: dict[str, Any] = {"statuses": statuses, "vmAgent": {"statuses": [
            {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": agent,
             "time": timestamp(reported)}]}}
        health = self.arm.health_state(vm_id, self.clock.now)
        if health is not None:
            view["vmHealth"] = {"status": {"code": f"HealthState/{health}", "level": "Info"}}
        return 200, {}, view

    def _restart(self, vm_id: str) -> Reply:
        """ARM's restart LRO, answered when it has finished (the client polls nothing)."""
        start = self.clock.now
        self.clock.sleep(self.arm.restart(vm_id, start))
        self._record("restart", start)
        return 200, {}, None

    def _running(self, location: str) -> list[str]:
        """The sizes of the VMs that run (or are allocated) in a region now."""
        return [str(get_path(unwrap(r.props), "hardwareProfile.vmSize"))
                for key, r in self.arm.resources.items()
                if key in self.arm.vms and r.alive(self.clock.now)
                and unwrap(r.props).get("location") == location
                and self.arm.vm_state(key, self.clock.now)[0] != "deallocated"]

    def _list(self, rg: str) -> Reply:
        """The group's live VMs, with their tags (what RetireBatch selects by)."""
        prefix = self.arm.provider_id(rg, "Microsoft.Compute/virtualMachines", "").lower()
        vms = [{"id": r.id, "name": r.name, "location": unwrap(r.props).get("location"),
                "tags": unwrap(r.props).get("tags") or {}}
               for key, r in self.arm.resources.items()
               if key.startswith(prefix) and "/" not in key[len(prefix):]
               and r.alive(self.clock.now)]
        return 200, {}, {"value": vms}

    def _delete(self, vm_id: str) -> Reply:
        """ARM's DELETE of a VM (its NIC and disks with it), answered when done."""
        start = self.clock.now
        self.clock.sleep(self.arm.delete(vm_id, start))
        self._record("delete", start)
        return 200, {}, None

    def _start(self, vm_id: str) -> Reply:
        """ARM's start LRO, answered when it has finished."""
        start = self.clock.now
        self.clock.sleep(self.arm.start(vm_id, start))
        self._record("start", start)
        return 200, {}, None

    def _patch_version(self, rg: str, gallery: str, image: str, version: str,
                       body: dict[str, Any]) -> Reply:
        """A gallery version's updatable publishing settings (excludeFromLatest)."""
        version_id = self.arm.provider_id(rg, "Microsoft.Compute/galleries", gallery,
                                          "images", image, "versions", version)
        resource = self.arm.resources.get(version_id.lower())
        if resource is None or not resource.alive(self.clock.now):
            return _error(404, "ResourceNotFound", f"The Resource '{version}' was not found.")
        publishing = get_path(body, "properties.publishingProfile") or {}
        props = dict(resource.props)
        props["publishingProfile"] = {**(unwrap(props.get("publishingProfile")) or {}),
                                      **publishing}
        resource.props = props
        return 200, {}, {"id": resource.id, "name": version, "location": props.get("location"),
                         "properties": {"provisioningState": "Succeeded",
                                        "publishingProfile": props["publishingProfile"]}}

    def _deallocate(self, vm_id: str) -> Reply:
        self.arm.vms[vm_id].set(self.clock.now, "deallocated")
        return 200, {}, None

    def _generalize(self, vm_id: str) -> Reply:
        power, _ = self.arm.vm_state(vm_id, self.clock.now)
        if power not in ("stopped", "deallocated"):
            raise ArmError(
                409, "OperationNotAllowed",
                f"Operation 'generalize' is not allowed on VM since the VM is {power}. "
                "Stop or deallocate it first.",
            )
        self.arm.vms[vm_id].set(self.clock.now, os_state="generalized")
        self.arm.generalize_posts[vm_id] = self.arm.generalize_posts.get(vm_id, 0) + 1
        return 200, {}, None


def _error(status: int, code: str, message: str) -> Reply:
    return status, {}, {"error": {"code": code, "message": message}}


def run_action(
    arm: ControlPlane, action: VmAction, props: dict[str, Any], start: float,
    on_call: Callable[[str, float, float], None] | None = None,
) -> tuple[dict[str, Any], float]:
    """Run a VM action's real procedure against the simulated VM, in simulated time.
    Returns what it reported and when it ended; its failure is ARM's refusal of it."""
    clock = SimulatedClock(start)
    client = simulated_client(arm, clock, on_call=on_call)
    try:
        result = action.run(client, props, sleep=clock.sleep, clock=clock)
    except VmActionError as err:
        raise ArmError(409, f"{action.name.capitalize()}Failed", str(err),
                       after_s=clock.now - start) from None
    except HttpResponseError as err:
        code = getattr(err.error, "code", None) or str(err.status_code)
        raise ArmError(err.status_code or 500, code, err.message,
                       after_s=clock.now - start) from None
    return result, clock.now


def simulated_client(arm: ControlPlane, clock: SimulatedClock,
                     on_call: Callable[[str, float, float], None] | None = None) -> Any:
    """A real ComputeManagementClient over the simulated ARM, with the real client's
    retry settings (vmimage/azure/client.py): only the socket differs. Retry-After
    sleeps of the SDK's own retry policy pass in simulated time too."""
    facade = VmRestFacade(arm, clock, on_call=on_call)
    transport = SimulatedArmTransport(facade, on_sleep=clock.sleep)
    retries = {k: v for k, v in TRANSPORT.items() if k.startswith("retry_")}
    return offline_compute_client(facade, transport=transport, **retries)
