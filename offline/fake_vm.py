"""A scripted ARM backend for virtual machines' power and OS state.

Follows the Azure rules the VM actions depend on (see docs/generalize.md):

- instanceView lists `ProvisioningState/succeeded`, `PowerState/<state>` and, once
  flagged, `OSState/generalized`; its `vmAgent` status is the agent's last report;
- POST deallocate answers 202 with `Azure-AsyncOperation` and `Location`; the operation
  reports InProgress a few times, then Succeeded (VM deallocated) or Failed (VM unchanged);
- POST generalize answers 200 only for a stopped or deallocated VM (idempotent once
  generalized), 409 OperationNotAllowed for a running one, and 409 Conflict while a
  deallocation is still in flight;
- POST restart (a running VM only) is an operation like deallocate; after it the agent's
  status stays the one from before the reboot until the booted guest reports again;
- POST start (a deallocated or stopped VM, not a generalized one) likewise: the VM runs,
  and its agent reports once the guest has booted;
- PATCH of a gallery image version updates its publishing profile (`versions`);
- GET of a group's VMs lists them with their tags; DELETE of a VM marks it deleted;
- errors use ARM's body shape `{"error": {"code": ..., "message": ...}}`.

Fault scripting (`inject`) queues canned replies per (method, path suffix) ahead of the
real behaviour; `crash_after` raises `SimulatedCrash` once a POST of some kind has taken
effect, which is how a process dying between deallocate and generalize is modelled.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from offline.arm_transport import Reply
from vmimage.vocabulary import SEAL_CHECKS_COMMAND, SEAL_COMMAND, SEALED_MARKER

__all__ = ["FakeVm", "FakeVmArm", "SimulatedCrash", "arm_error"]

_VM_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.Compute/virtualMachines/(?P<vm>[^/]+)(?:/(?P<action>[^/]+))?"
    r"(?:/(?P<command>[^/]+))?$",
    re.IGNORECASE,
)
_VERSION_PATH = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"galleries/(?P<gallery>[^/]+)/images/(?P<image>[^/]+)/versions/(?P<version>[^/]+)$",
    re.IGNORECASE,
)
_LIST_PATH = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"virtualMachines/?$", re.IGNORECASE)
_OP_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)/"
    r"(?P<kind>operations|operationResults)/(?P<op>[^/]+)$",
    re.IGNORECASE,
)


class SimulatedCrash(Exception):
    """The client process 'dies' here. An Exception, not a BaseException: azure-core runs
    LRO polling in a worker thread that only hands `Exception`s back to `.result()`
    (a BaseException would silently end the thread). Neither azure-core's RetryPolicy
    (AzureError only) nor generalize_vm (HttpResponseError only) catches it."""


def arm_error(status: int, code: str, message: str,
              headers: dict[str, str] | None = None) -> Reply:
    return status, dict(headers or {}), {"error": {"code": code, "message": message}}


@dataclass
class FakeVm:
    resource_group: str
    name: str
    os_type: str = "Linux"
    location: str = "westeurope"
    power_state: str = "running"
    generalized: bool = False
    #: The guest powers itself off after this many instanceView reads, counted from the
    #: start of its seal (0 = already off at the next read). None = never.
    stops_after_polls: int | None = None
    #: The power state it then shows: stopped (the guest powered off), or deallocated
    #: (Azure took it away meanwhile: a Spot eviction).
    stopped_as: str = "stopped"
    #: Run commands sent to the VM, by name: {"script", "async", "state", "output"}.
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The checks before sysprep fail with this output (their synchronous PUT fails).
    checks_fail: str | None = None
    #: A seal sent now fails in the guest with this output (its instance view says Failed).
    seal_fails: str | None = None
    #: What a seal that succeeded reports (Windows: the ImageState line).
    seal_output: str = SEALED_MARKER
    #: InProgress answers before a deallocate operation finishes.
    deallocate_polls: int = 2
    #: The next deallocate operation ends Failed (and is then cleared).
    fail_next_deallocate: bool = False
    instance_view_reads: int = 0
    #: When the guest agent last reported (its status in the instance view: Ready).
    agent_reported_at: datetime = field(
        default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    #: InProgress answers before a restart operation finishes.
    restart_polls: int = 1
    #: Instance-view reads after a restart before the booted agent reports again (until
    #: then the view keeps its report from before the reboot). None: it never does.
    agent_boot_reads: int | None = 2
    _agent_reports_in: int | None = None
    #: What the Application Health extension reports, read by read ("initializing",
    #: then "healthy"...); the last one stays. Empty: the VM has no health extension.
    health: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    deleted: bool = False


@dataclass
class _Operation:
    vm: FakeVm
    kind: str
    polls_left: int
    fail: bool
    status: str = "InProgress"


@dataclass
class FakeVmArm:
    """In-process ARM for Microsoft.Compute/virtualMachines power/OS state."""

    subscription_id: str = "00000000-0000-0000-0000-000000000000"
    vms: dict[tuple[str, str], FakeVm] = field(default_factory=dict)
    #: Every POST received, by action ("deallocate", "generalize"), faults included.
    posts: Counter[str] = field(default_factory=Counter)
    #: POSTs that took effect (accepted and applied), by action.
    applied: Counter[str] = field(default_factory=Counter)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    _faults: dict[tuple[str, str], deque[Reply | None]] = field(default_factory=dict)
    _operations: dict[str, _Operation] = field(default_factory=dict)
    _op_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _crash: dict[str, int] = field(default_factory=dict)
    #: Gallery image versions' publishing profiles, by (group, gallery, image, version):
    #: what a PATCH (the Publish step) set.
    versions: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)

    # ----- set-up -------------------------------------------------------------------
    def add_vm(self, resource_group: str, name: str, **attrs: Any) -> FakeVm:
        vm = FakeVm(resource_group=resource_group, name=name, **attrs)
        self.vms[(resource_group.lower(), name.lower())] = vm
        return vm

    def inject(self, method: str, path_suffix: str, status: int, *, code: str = "",
               message: str = "", headers: dict[str, str] | None = None,
               times: int = 1, after: int = 0) -> None:
        """Queue `times` canned error replies for requests whose path ends with
        `path_suffix` (e.g. "/generalize", "/instanceView"), served before real logic,
        once `after` such requests have been answered normally."""
        reply = arm_error(status, code or _default_code(status),
                          message or f"injected {status}", headers)
        queue = self._faults.setdefault((method.upper(), path_suffix.lower()), deque())
        queue.extend([None] * after + [reply] * times)

    def crash_after(self, action: str, count: int = 1) -> None:
        """Raise SimulatedCrash right after the `count`-th `action` took effect (for
        deallocate: when its operation finished), before the client sees the answer."""
        self._crash[action] = self.applied[action] + count

    def vm_id(self, resource_group: str, name: str) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{resource_group}"
                f"/providers/Microsoft.Compute/virtualMachines/{name}")

    # ----- ArmBackend ---------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str],
               body: dict[str, Any] | None) -> Reply:
        method = method.upper()
        reply = self._route(method, path, body)
        self.log.append((method, path, reply[0]))
        return reply

    def _route(self, method: str, path: str, body: dict[str, Any] | None = None) -> Reply:
        vm_match = _VM_PATH.match(path)
        if method == "POST" and vm_match and vm_match["action"]:
            self.posts[vm_match["action"].lower()] += 1
        for (fault_method, suffix), queue in self._faults.items():
            if queue and fault_method == method and path.lower().endswith(suffix):
                canned = queue.popleft()
                if canned is not None:
                    return canned
                break  # answered normally this time
        op_match = _OP_PATH.match(path)
        if op_match and method == "GET":
            return self._poll(op_match["op"], op_match["kind"].lower())
        listing = _LIST_PATH.match(path)
        if listing and method == "GET":
            return 200, {}, {"value": [
                {"id": self.vm_id(vm.resource_group, vm.name), "name": vm.name,
                 "location": vm.location, "tags": vm.tags}
                for (rg, _), vm in self.vms.items()
                if rg == listing["rg"].lower() and not vm.deleted]}
        version = _VERSION_PATH.match(path)
        if version and method == "PATCH":
            rg, gallery, image, number = (v.lower() for v in version.groups())
            key = (rg, gallery, image, number)
            profile = ((body or {}).get("properties") or {}).get("publishingProfile") or {}
            self.versions.setdefault(key, {}).update(profile)
            return 200, {}, {"name": version["version"], "properties": {
                "provisioningState": "Succeeded", "publishingProfile": self.versions[key]}}
        if not vm_match:
            return arm_error(404, "NotFound", f"no such ARM path: {path}")
        vm = self.vms.get((vm_match["rg"].lower(), vm_match["vm"].lower()))
        if vm is None:
            return arm_error(404, "ResourceNotFound",
                             f"The Resource 'Microsoft.Compute/virtualMachines/{vm_match['vm']}'"
                             f" under resource group '{vm_match['rg']}' was not found.")
        action = (vm_match["action"] or "").lower()
        if method == "DELETE" and not action:
            vm.deleted = True
            self.applied["delete"] += 1
            return 200, {}, None
        if action == "runcommands" and vm_match["command"]:
            return self._run_command(vm, method, vm_match["command"], body or {})
        if method == "GET" and action == "instanceview":
            return self._instance_view(vm)
        if method == "POST" and action == "deallocate":
            return self._deallocate(vm)
        if method == "POST" and action == "generalize":
            return self._generalize(vm)
        if method == "POST" and action == "restart":
            return self._restart(vm)
        if method == "POST" and action == "start":
            return self._start(vm)
        return arm_error(405, "MethodNotAllowed", f"{method} {action or 'vm'} not simulated")

    # ----- behaviour ----------------------------------------------------------------
    def _instance_view(self, vm: FakeVm) -> Reply:
        vm.instance_view_reads += 1
        if (vm.power_state == "running" and vm.stops_after_polls is not None
                and SEAL_COMMAND in vm.commands
                and vm.instance_view_reads > vm.stops_after_polls):
            vm.power_state = vm.stopped_as  # the guest powered itself off (or was evicted)
        statuses = [
            {"code": "ProvisioningState/succeeded", "level": "Info",
             "displayStatus": "Provisioning succeeded"},
            {"code": f"PowerState/{vm.power_state}", "level": "Info",
             "displayStatus": f"VM {vm.power_state}"},
        ]
        if vm.generalized:
            statuses.append({"code": "OSState/generalized", "level": "Info",
                             "displayStatus": "VM generalized"})
        if vm._agent_reports_in is not None:
            vm._agent_reports_in -= 1
            if vm._agent_reports_in <= 0:  # the rebooted guest's agent reports again
                vm.agent_reported_at += timedelta(minutes=2)
                vm._agent_reports_in = None
        agent = {"code": "ProvisioningState/succeeded", "level": "Info",
                 "displayStatus": "Ready" if vm.power_state == "running" else "Not Ready",
                 "time": vm.agent_reported_at.isoformat()}
        view = {"computerName": vm.name[:15], "osName": vm.os_type,
                "statuses": statuses, "vmAgent": {"statuses": [agent]}}
        if vm.health:
            state = vm.health.pop(0) if len(vm.health) > 1 else vm.health[0]
            view["vmHealth"] = {"status": {"code": f"HealthState/{state}", "level": "Info"}}
        return 200, {}, view

    def _run_command(self, vm: FakeVm, method: str, name: str, body: dict[str, Any]) -> Reply:
        """Managed run commands, scripted: PUT needs a running VM; a seal starts the
        guest's countdown to power-off; GET returns the instance view."""
        if method == "PUT":
            if vm.power_state != "running":
                return arm_error(409, "OperationNotAllowed",
                                 f"Run command '{name}' needs a running VM; VM '{vm.name}' "
                                 f"is {vm.power_state}.")
            properties = body.get("properties") or {}
            if name == SEAL_CHECKS_COMMAND and vm.checks_fail:
                return arm_error(409, "VMExtensionProvisioningError",
                                 f"Run command '{name}' failed: {vm.checks_fail}")
            # A seal fails as the guest was when it was sent; a re-send after a fix runs anew.
            vm.commands[name] = {"script": (properties.get("source") or {}).get("script"),
                                 "async": properties.get("asyncExecution", False),
                                 "fails": vm.seal_fails if name == SEAL_COMMAND else None}
            if name == SEAL_COMMAND:
                vm.instance_view_reads = 0  # the guest's countdown starts now
            return 200, {}, {"name": name, "properties": {"provisioningState": "Succeeded"}}
        if method == "GET":
            if name not in vm.commands:
                return arm_error(404, "ResourceNotFound", f"Run command '{name}' not found.")
            if vm.commands[name].get("fails"):
                view = {"executionState": "Failed", "exitCode": 1,
                        "output": vm.commands[name]["fails"]}
            elif vm.power_state == "running" and vm.commands[name]["async"]:
                view = {"executionState": "Running"}
            else:
                view = {"executionState": "Succeeded", "exitCode": 0,
                        "output": vm.seal_output if name == SEAL_COMMAND else ""}
            return 200, {}, {"name": name, "properties": {
                "provisioningState": "Succeeded", "instanceView": view,
                "source": {"script": vm.commands[name]["script"]}}}
        return arm_error(405, "MethodNotAllowed", f"{method} runCommands not simulated")

    def _deallocate(self, vm: FakeVm) -> Reply:
        if any(op.vm is vm and op.status == "InProgress" for op in self._operations.values()):
            return arm_error(409, "Conflict", f"Operation 'deallocate' on VM '{vm.name}' "
                             "is not allowed: another operation is in progress.")
        reply = self._start_operation(vm, "deallocate", vm.deallocate_polls,
                                      fail=vm.fail_next_deallocate)
        vm.fail_next_deallocate = False
        if vm.power_state != "deallocated":
            vm.power_state = "deallocating"
        return reply

    def _restart(self, vm: FakeVm) -> Reply:
        if vm.power_state != "running" or vm.generalized:
            return arm_error(409, "OperationNotAllowed",
                             f"Operation 'restart' is not allowed on VM '{vm.name}' since the "
                             f"VM is {vm.power_state}.")
        return self._start_operation(vm, "restart", vm.restart_polls, fail=False)

    def _start(self, vm: FakeVm) -> Reply:
        if vm.power_state not in ("deallocated", "stopped") or vm.generalized:
            return arm_error(409, "OperationNotAllowed",
                             f"Operation 'start' is not allowed on VM '{vm.name}' since the "
                             f"VM is {vm.power_state}.")
        return self._start_operation(vm, "start", vm.restart_polls, fail=False)

    def _start_operation(self, vm: FakeVm, kind: str, polls: int, *, fail: bool) -> Reply:
        """An ARM long-running operation: 202, with the URLs the client polls."""
        op_id = f"op-{next(self._op_ids)}"
        self._operations[op_id] = _Operation(vm, kind, polls, fail=fail)
        base = f"/subscriptions/{self.subscription_id}/providers/Microsoft.Compute/locations/" \
               f"{vm.location}"
        api = "?api-version=2026-04-01"
        return 202, {
            "Azure-AsyncOperation": f"{base}/operations/{op_id}{api}",
            "Location": f"{base}/operationResults/{op_id}{api}",
        }, None

    def _poll(self, op_id: str, kind: str) -> Reply:
        op = self._operations.get(op_id)
        if op is None:
            return arm_error(404, "NotFound", f"operation {op_id} not found")
        if op.status == "InProgress":
            if op.polls_left > 0:
                op.polls_left -= 1
            else:
                self._finish(op)
        if kind == "operationresults":  # the Location URL: 202 until done, then 200
            return (202, {}, None) if op.status == "InProgress" else (200, {}, None)
        reply: dict[str, Any] = {"name": op_id, "status": op.status}
        if op.status == "Failed":
            reply["error"] = {"code": "InternalExecutionError",
                              "message": f"Deallocation of VM '{op.vm.name}' failed."}
        return 200, {}, reply

    def _finish(self, op: _Operation) -> None:
        if op.fail:
            op.status = "Failed"
            op.vm.power_state = "running"  # the platform rolled back; the VM keeps running
            return
        op.status = "Succeeded"
        if op.kind in ("restart", "start"):
            op.vm.power_state = "running"
            op.vm._agent_reports_in = op.vm.agent_boot_reads  # None: the guest never boots
        else:
            op.vm.power_state = "deallocated"
        self._applied(op.kind)

    def _generalize(self, vm: FakeVm) -> Reply:
        if vm.power_state == "deallocating":
            return arm_error(409, "Conflict", f"Operation 'generalize' on VM '{vm.name}' "
                             "cannot run: another operation is in progress.")
        if vm.power_state not in ("stopped", "deallocated"):
            return arm_error(409, "OperationNotAllowed",
                             f"Operation 'generalize' is not allowed on VM '{vm.name}' since "
                             f"the VM is {vm.power_state}. Stop or deallocate it first.")
        vm.generalized = True
        self._applied("generalize")
        return 200, {}, None

    def _applied(self, action: str) -> None:
        self.applied[action] += 1
        if self._crash.get(action) == self.applied[action]:
            del self._crash[action]
            raise SimulatedCrash(f"simulated crash after {action}")


def _default_code(status: int) -> str:
    return {409: "Conflict", 429: "TooManyRequests", 500: "InternalServerError",
            503: "ServiceUnavailable"}.get(status, "Error")
