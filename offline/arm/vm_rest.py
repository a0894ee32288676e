"""The simulator's VM REST API: the one model of Microsoft.Compute's VM endpoints that the
VM actions (generalize, restart, resume, health gate, publish, retire) call, offline
through a real ComputeManagementClient; the runner and the tests both use it. Time is
simulated: every call advances a clock by its modeled latency, and sleeping advances it
too. What it answers (sources in docs/azure-behaviours.md):

- instanceView lists `ProvisioningState/succeeded`, `PowerState/<state>` and, once
  flagged, `OSState/generalized`; its `vmAgent` status is the agent's last report;
- POST deallocate, restart and start are long-running operations: 202 with
  `Azure-AsyncOperation`, `Location` and `Retry-After` (the time left); polled, they
  report InProgress until done, then Succeeded (or Failed: the VM is left as it was);
- POST beginGetAccess (Disks - Grant Access) is one too: 202 at once (refused at once, 404
  or 409, for a missing disk or one of a running VM), the SAS in the `Location` URL's answer
  once the operation ends; endGetAccess answers 200 when done;
- POST generalize answers 200 only for a stopped or deallocated VM, 409
  OperationNotAllowed for a running one, and 409 Conflict while a deallocation is still
  in flight; a deallocate during one is refused with 409 Conflict too;
- errors use ARM's body shape `{"error": {"code": ..., "message": ...}}`.

Scripting for tests: `inject` queues canned replies per (method, path suffix) ahead of the
real behaviour; `crash_after` raises `SimulatedCrash` once an action has taken effect
(between deallocate and generalize: a process dying there); `fail_operation` makes the
next long-running operation of a kind end Failed; `posts`, `applied` and `log` count what
was asked and what took effect.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import HttpResponseError

from offline import quota
from offline.arm import storage
from offline.arm.control import ControlPlane
from offline.arm.model import SUBSCRIPTION_ID, ArmError, SimulatedCrash, get_path, timestamp
from offline.arm_transport import SimulatedArmTransport, offline_compute_client
from offline.secrets import unwrap
from vmimage.azure.client import TRANSPORT, blob_endpoint
from vmimage.providers.vm_action import VmAction, VmActionError, subscription_of
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
GALLERY_IMAGE_PATH = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/"
    r"galleries/[^/]+/images/[^/?]+$", re.IGNORECASE)
MARKETPLACE_PATH = re.compile(
    r"/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/(?P<location>[^/]+)/"
    r"publishers/(?P<publisher>[^/]+)/artifacttypes/vmimage/offers/(?P<offer>[^/]+)/"
    r"skus/(?P<sku>[^/]+)/versions(?:/(?P<version>[^/?]+))?$",
    re.IGNORECASE,
)

DISK_PATH = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"disks/(?P<name>[^/?]+)/(?P<action>beginGetAccess|endGetAccess)$", re.IGNORECASE)
OPERATION_PATH = re.compile(
    r"/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/(?P<location>[^/]+)/"
    r"(?P<kind>operations|operationResults)/(?P<op>[^/?]+)$",
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
class Operation:
    """An ARM long-running operation on one VM: what it does, when it ends."""

    vm_id: str
    kind: str  # deallocate, restart, start, beginGetAccess (of one of the VM's disks)
    start: float
    end: float
    fails: bool = False
    done: bool = False
    result: Any = None
    """What the `Location` URL answers once done (Grant Access: the `AccessUri`)."""
    applied: str = ""
    """The name `applied` counts it by (default: its kind)."""


@dataclass
class VmRest:
    """An `ArmBackend` (offline.arm_transport) over the control plane's VMs."""

    arm: ControlPlane
    clock: SimulatedClock
    calls: list[tuple[str, float, float]] = field(default_factory=list)  # (op, start, end)
    # Told of each call as it completes, so a crash between two calls falls between them.
    on_call: Callable[[str, float, float], None] | None = None
    #: Every POST to a VM received, by action ("deallocate", "generalize"), faults included.
    posts: Counter[str] = field(default_factory=Counter)
    #: VM actions that took effect, by action (a long-running one: when it succeeded).
    applied: Counter[str] = field(default_factory=Counter)
    #: (method, path, status) of every request, in order.
    log: list[tuple[str, str, int]] = field(default_factory=list)
    operations: dict[str, Operation] = field(default_factory=dict)
    _canned: dict[tuple[str, str], deque[Reply | None]] = field(default_factory=dict)
    _crash: dict[str, int] = field(default_factory=dict)
    _failing: Counter[str] = field(default_factory=Counter)
    _op_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- scripting (tests) -----------------------------------------------------------
    def inject(self, method: str, path_suffix: str, status: int, *, code: str = "",
               message: str = "", headers: dict[str, str] | None = None,
               times: int = 1, after: int = 0) -> None:
        """Queue `times` canned error replies for requests whose path ends with
        `path_suffix` (e.g. "/generalize", "/instanceView"), served before the model,
        once `after` such requests have been answered normally."""
        reply = error(status, code or DEFAULT_CODES.get(status, "Error"),
                      message or f"injected {status}", headers)
        queue = self._canned.setdefault((method.upper(), path_suffix.lower()), deque())
        queue.extend([None] * after + [reply] * times)

    def crash_after(self, action: str, count: int = 1) -> None:
        """Raise SimulatedCrash right after the `count`-th `action` took effect (for a
        long-running one: when its operation succeeded), before the client sees it."""
        self._crash[action] = self.applied[action] + count

    def fail_operation(self, kind: str = "deallocate") -> None:
        """The next deallocate operation ends Failed; the VM keeps running."""
        self._failing[kind] += 1

    # -- ArmBackend --------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str],
               body: dict[str, Any] | None) -> Reply:
        method = method.upper()
        reply = self._answer(method, path, query, body)
        self.log.append((method, path, reply[0]))
        return reply

    def _answer(self, method: str, path: str, query: dict[str, str],
                body: dict[str, Any] | None) -> Reply:
        match, image = VM_PATH.match(path), MARKETPLACE_PATH.match(path)
        version = GALLERY_VERSION_PATH.match(path)
        listing, operation = VM_LIST_PATH.match(path), OPERATION_PATH.match(path)
        disk = DISK_PATH.match(path)
        if method == "POST" and match is not None and match["action"]:
            self.posts[match["action"][1:].lower()] += 1
        canned = self._canned_reply(method, path)
        if canned is not None:
            return canned
        if method == "GET" and SKUS_PATH.match(path):
            location = re.search(r"location eq '([^']+)'", query.get("$filter", ""))
            return 200, {}, {"value": quota.skus(location[1] if location else "")}
        if method == "GET" and GALLERY_IMAGE_PATH.match(path):
            return self._gallery_image(path)
        if method == "GET" and version is not None:
            return self._gallery_version(path)
        usages = USAGES_PATH.match(path)
        if method == "GET" and usages is not None:
            return 200, {}, {"value": quota.usages(self.arm.quotas, self._running(
                usages["location"]))}
        if not any((match, image, version, listing, operation, disk)):
            return error(404, "NotFound", f"no simulated route for {method} {path}")
        if self.arm.faults is not None:
            transient = self.arm.faults.rest_fault(method, path)
            if transient is not None:
                return transient
        if operation is not None and method == "GET":
            return self._poll(operation["op"], operation["kind"].lower())
        if disk is not None and method == "POST" and disk["action"].lower() == "endgetaccess":
            return self._timed("endGetAccess", "disk.access",
                               lambda: self._revoke_access(disk["rg"], disk["name"]))
        if disk is not None and method == "POST":
            return self._grant_access(disk["rg"], disk["name"], body or {})
        if listing is not None and method == "GET":
            return self._timed("list", "vm.instanceView", lambda: self._list(listing["rg"]))
        if version is not None and method == "PATCH":
            return self._timed("publish", "update", lambda: self._patch_version(
                path, version["version"], body or {}))
        if image is not None and method == "GET":
            return self._timed("marketplace", "vm.instanceView",
                               lambda: self._marketplace(**image.groupdict()))
        if match is None:
            return error(405, "MethodNotAllowed", f"{method} {path} is not simulated")
        return self._vm(method, match, body)

    def _vm(self, method: str, match: re.Match[str], body: dict[str, Any] | None) -> Reply:
        """One VM's routes: its instance view, run commands, actions and DELETE."""
        rg, name, action = match["rg"], match["name"], (match["action"] or "").lower()
        vm_id = self.arm.provider_id(rg, "Microsoft.Compute/virtualMachines", name).lower()
        if vm_id not in self.arm.vms:
            return error(404, "ResourceNotFound",
                         f"The Resource 'Microsoft.Compute/virtualMachines/{name}' under "
                         f"resource group '{rg}' was not found.")
        try:
            if action == "/runcommands" and match["command"]:
                command = match["command"]
                if method == "PUT":
                    return self._put_command(rg, name, command, body or {})
                if method == "GET":
                    return self._timed("runCommand.get", "vm.instanceView",
                                       lambda: self._get_command(vm_id, command))
            if method == "GET" and not action:
                return self._timed("get", "vm.instanceView",
                                   lambda: (200, {}, storage.vm_model(self.arm, vm_id)))
            if method == "GET" and action == "/instanceview":
                return self._timed("instanceView", "vm.instanceView", lambda: self._view(vm_id))
            if method == "POST" and action in VM_ACTIONS:
                return VM_ACTIONS[action](self, vm_id)
            if method == "DELETE" and not action:
                return self._delete(vm_id)
        except ArmError as err:
            return error(err.status, err.code, err.message)
        return error(405, "MethodNotAllowed", f"{method} {action or '/'} is not simulated")

    def _canned_reply(self, method: str, path: str) -> Reply | None:
        for (canned_method, suffix), queue in self._canned.items():
            if queue and canned_method == method and path.lower().endswith(suffix):
                return queue.popleft()  # None: answered normally this time
        return None

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
            return error(404, "ResourceNotFound",
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
            return error(404, "NotFound", f"Artifact: VMImage was not found "
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

    def _gallery_image(self, path: str) -> Reply:
        """An image definition, by its whole id (any subscription): as ARM answers a GET,
        its properties nested under `properties`."""
        found = self.arm.resources.get(path.lower())
        if found is None or not found.alive(self.clock.now):
            shown = path.split("/providers/", 1)[-1]
            return error(404, "ResourceNotFound",
                         f"The Resource '{shown}' under resource group was not found.")
        props = {k: v for k, v in unwrap(found.props).items()
                 if k not in ("location", "tags", "resourceGroupName", "galleryName",
                              "galleryImageName")}
        return 200, {}, {"id": found.id, "name": found.name, "type":
                         "Microsoft.Compute/galleries/images",
                         "location": found.props.get("location"), "properties": props}

    def _gallery_version(self, path: str) -> Reply:
        """An image version, by its whole id (any subscription), as ARM answers a GET:
        its tags, and its properties (the publishing profile with its publishedDate)."""
        found = self.arm.resources.get(path.lower())
        if found is None or not found.alive(self.clock.now):
            shown = path.split("/providers/", 1)[-1]
            return error(404, "ResourceNotFound",
                         f"The Resource '{shown}' under resource group was not found.")
        sent = {**unwrap(found.props), **unwrap(found.outputs)}
        props = {k: v for k, v in sent.items()
                 if k in ("publishingProfile", "storageProfile", "safetyProfile")}
        return 200, {}, {"id": found.id, "name": found.name, "type":
                         "Microsoft.Compute/galleries/images/versions",
                         "location": sent.get("location"), "tags": sent.get("tags") or {},
                         "properties": {**props, "provisioningState": "Succeeded"}}

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
        self._applied("delete")
        return 200, {}, None

    def _patch_version(self, path: str, version: str, body: dict[str, Any]) -> Reply:
        """A gallery version's updatable publishing settings (excludeFromLatest), by its
        whole id: in whichever subscription the path names."""
        resource = self.arm.resources.get(path.lower())
        if resource is None or not resource.alive(self.clock.now):
            return error(404, "ResourceNotFound", f"The Resource '{version}' was not found.")
        publishing = get_path(body, "properties.publishingProfile") or {}
        props = dict(resource.props)
        props["publishingProfile"] = {**(unwrap(props.get("publishingProfile")) or {}),
                                      **publishing}
        resource.props = props
        # What a GET answers (the outputs over the props) holds the new setting too.
        held = resource.outputs.get("publishingProfile")
        if held is not None:
            resource.outputs = {**resource.outputs,
                                "publishingProfile": {**held, **publishing}}
        return 200, {}, {"id": resource.id, "name": version, "location": props.get("location"),
                         "properties": {"provisioningState": "Succeeded",
                                        "publishingProfile": props["publishingProfile"]}}

    def _revoke_access(self, rg: str, name: str) -> Reply:
        """Disks - Revoke Access: 200 once done."""
        storage.revoke_access(self.arm, self.arm.provider_id(rg, "Microsoft.Compute/disks",
                                                             name), self.clock.now)
        self._applied("revokeAccess")
        return 200, {}, None

    def _grant_access(self, rg: str, name: str, body: dict[str, Any]) -> Reply:
        """Disks - Grant Access, as Azure answers it: a long-running operation (202, polled;
        the `AccessUri` in the Location URL's final answer). Refused at once for a disk
        that is not there or whose VM runs."""
        disk_id = self.arm.provider_id(rg, "Microsoft.Compute/disks", name)
        now = self.clock.now
        end = now + self.arm.latency("disk.access")
        try:
            sas = storage.grant_access(self.arm, disk_id, body, now, ready_at=end)
        except LookupError as err:
            return error(404, "ResourceNotFound", str(err))
        except PermissionError as err:
            return error(409, "OperationNotAllowed", str(err))
        owner = storage.disk_owner(self.arm, disk_id, now)
        assert owner is not None  # grant_access found it
        return self._operation(owner[0], "beginGetAccess", end, result={"accessSAS": sas},
                               applied="grantAccess")

    # -- the VM actions ------------------------------------------------------------------
    def _deallocate(self, vm_id: str) -> Reply:
        """ARM's deallocate LRO: the VM is deallocating until it ends (or back as it was,
        when it fails)."""
        now = self.clock.now
        power, _ = self.arm.vm_state(vm_id, now)
        if power == "deallocating":
            raise ArmError(409, "Conflict", f"Operation 'deallocate' on VM '{_name(vm_id)}' is "
                           "not allowed: another operation is in progress.")
        fails = self._failing["deallocate"] > 0
        self._failing["deallocate"] -= int(fails)
        end = now + self.arm.latency("vm.deallocate")
        timeline = self.arm.vms[vm_id]
        if power != "deallocated":
            timeline.set(now, "deallocating")
        timeline.set(end, power if fails else "deallocated")
        return self._operation(vm_id, "deallocate", end, fails=fails)

    def _restart(self, vm_id: str) -> Reply:
        """ARM's restart LRO: it ends at the reboot; the agent reports later."""
        now = self.clock.now
        return self._operation(vm_id, "restart", now + self.arm.restart(vm_id, now))

    def _start(self, vm_id: str) -> Reply:
        """ARM's start LRO of a deallocated or stopped VM; not while a disk of it is
        exported (its read access granted)."""
        now = self.clock.now
        exported = storage.granted_disks(self.arm, vm_id, now)
        if exported:
            raise ArmError(409, "OperationNotAllowed",
                           f"Operation 'start' is not allowed on VM '{_name(vm_id)}': disk "
                           f"'{_name(exported[0])}' has an active SAS; revoke its access "
                           "first.")
        return self._operation(vm_id, "start", now + self.arm.start(vm_id, now))

    def _generalize(self, vm_id: str) -> Reply:
        start = self.clock.now
        self.clock.sleep(self.arm.latency("vm.generalize"))
        power, _ = self.arm.vm_state(vm_id, self.clock.now)
        if power == "deallocating":
            raise ArmError(409, "Conflict", f"Operation 'generalize' on VM '{_name(vm_id)}' "
                           "cannot run: another operation is in progress.")
        if power not in ("stopped", "deallocated"):
            raise ArmError(
                409, "OperationNotAllowed",
                f"Operation 'generalize' is not allowed on VM '{_name(vm_id)}' since the VM "
                f"is {power}. Stop or deallocate it first.",
            )
        self.arm.vms[vm_id].set(self.clock.now, os_state="generalized")
        self.arm.generalize_posts[vm_id] = self.arm.generalize_posts.get(vm_id, 0) + 1
        self._record("generalize", start)
        self._applied("generalize")
        return 200, {}, None

    def _operation(self, vm_id: str, kind: str, end: float, *, fails: bool = False,
                   result: Any = None, applied: str = "") -> Reply:
        """An ARM long-running operation: 202, with the URLs the client polls and when to
        ask again (ARMPolling honours Retry-After)."""
        op_id = f"op-{next(self._op_ids)}"
        self.operations[op_id] = Operation(vm_id, kind, self.clock.now, end, fails,
                                           result=result, applied=applied or kind)
        location = unwrap(self.arm.resources[vm_id].props).get("location") or "westeurope"
        base = (f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Compute/locations/"
                f"{location}")
        api = "?api-version=2024-11-01"
        return 202, {"Azure-AsyncOperation": f"{base}/operations/{op_id}{api}",
                     "Location": f"{base}/operationResults/{op_id}{api}",
                     **self._retry_after(end)}, None

    def _poll(self, op_id: str, kind: str) -> Reply:
        """A poll of an operation: InProgress until it ends, then its outcome."""
        op = self.operations.get(op_id)
        if op is None:
            return error(404, "NotFound", f"Operation '{op_id}' was not found.")
        if not op.done and self.clock.now >= op.end:
            op.done = True
            self.calls.append((op.kind, op.start, op.end))
            if self.on_call is not None:
                self.on_call(op.kind, op.start, op.end)
            if not op.fails:
                self._applied(op.applied)
        if kind == "operationresults":  # the Location URL: 202 until done, then its result
            return (200, {}, op.result) if op.done else (202, self._retry_after(op.end), None)
        status = "InProgress" if not op.done else "Failed" if op.fails else "Succeeded"
        reply: dict[str, Any] = {"name": op_id, "status": status}
        if status == "Failed":
            reply["error"] = {"code": "InternalExecutionError",
                              "message": f"{op.kind.capitalize()} of VM '{_name(op.vm_id)}' "
                                         "failed."}
        return 200, self._retry_after(op.end) if not op.done else {}, reply

    def _retry_after(self, end: float) -> dict[str, str]:
        return {"Retry-After": f"{max(end - self.clock.now, 0.0):g}"}

    def _applied(self, action: str) -> None:
        self.applied[action] += 1
        if self._crash.get(action) == self.applied[action]:
            del self._crash[action]
            raise SimulatedCrash(self.applied[action], f"{action} call(s)")


#: The POST actions on a VM, by path suffix: a new VM action is one line here and its
#: method above.
VM_ACTIONS: dict[str, Callable[[VmRest, str], Reply]] = {
    "/deallocate": VmRest._deallocate, "/generalize": VmRest._generalize,
    "/restart": VmRest._restart, "/start": VmRest._start,
}
DEFAULT_CODES = {409: "Conflict", 429: "TooManyRequests", 500: "InternalServerError",
                 503: "ServiceUnavailable"}


def error(status: int, code: str, message: str,
          headers: dict[str, str] | None = None) -> Reply:
    """ARM's error reply: `{"error": {"code": ..., "message": ...}}`."""
    return status, dict(headers or {}), {"error": {"code": code, "message": message}}


def _name(vm_id: str) -> str:
    return vm_id.rsplit("/", 1)[-1]


def run_action(
    arm: ControlPlane, action: VmAction, props: dict[str, Any], start: float,
    on_call: Callable[[str, float, float], None] | None = None,
) -> tuple[dict[str, Any], float]:
    """Run a VM action's real procedure against the simulated VM, in simulated time.
    Returns what it reported and when it ended; its failure is ARM's refusal of it."""
    clock = SimulatedClock(start)
    # The VM's subscription, as the provider's client has it (the paths carry it).
    own = props.get("subscriptionId") or subscription_of(props.get("vmId"))
    client = simulated_client(arm, clock, on_call=on_call, subscription=own)
    clients: dict[str, Any] = {}
    if action.storage:
        clients = {"storage": storage.simulated_blob_service(arm, clock, on_call),
                   "blob_endpoint": blob_endpoint}
    if action.subscriptions:
        clients["client_for"] = lambda other: simulated_client(arm, clock, on_call=on_call,
                                                               subscription=other)
    try:
        result = action.run(client, props, sleep=clock.sleep, clock=clock, **clients)
    except VmActionError as err:
        raise ArmError(409, f"{action.name.capitalize()}Failed", str(err),
                       after_s=clock.now - start) from None
    except HttpResponseError as err:
        code = getattr(err.error, "code", None) or str(err.status_code)
        raise ArmError(err.status_code or 500, code, err.message,
                       after_s=clock.now - start) from None
    return result, clock.now


def simulated_client(arm: ControlPlane, clock: SimulatedClock,
                     on_call: Callable[[str, float, float], None] | None = None,
                     subscription: str | None = None) -> Any:
    """A real ComputeManagementClient over the simulated ARM, with the real client's
    retry settings (vmimage/azure/client.py): only the socket differs. Retry-After
    sleeps of the SDK's own retry policy pass in simulated time too."""
    rest = VmRest(arm, clock, on_call=on_call)
    transport = SimulatedArmTransport(rest, on_sleep=clock.sleep)
    retries = {k: v for k, v in TRANSPORT.items() if k.startswith("retry_")}
    if subscription is not None:  # the paths carry it: reads of another subscription
        retries["subscription_id"] = subscription
    return offline_compute_client(rest, transport=transport, **retries)
