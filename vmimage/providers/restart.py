"""Restart a build VM between two customize steps: ARM's restart, then wait until the
guest agent reports Ready again (a step after it runs through that agent).

- `restart_vm`: the procedure against a real `ComputeManagementClient`;
- `RESTART`: it as a VM action (vmimage/providers/vm_action.py), and `Restart`, the
  Pulumi dynamic resource recording that it ran, once, for one VM.

ARM's restart is a long-running POST that ends when the platform has rebooted the VM;
the agent reports again only once the guest has booted. Until then the instance view may
still show the agent's last status from before the reboot, so Ready counts only with a
status time later than the one seen before the restart was sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pulumi
import pulumi.dynamic

from vmimage.azure.client import describe
from vmimage.providers.vm_action import (
    BASE_BUNDLE,
    RETRY_METHODS,
    VmAction,
    VmActionError,
    VmActionProvider,
    VmActionResource,
    VmArgs,
    is_unknown,
    reporter,
)
from vmimage.vocabulary import RESTART_MARKER

__all__ = ["RESTART", "Restart", "RestartArgs", "RestartError", "RestartProvider", "restart_vm",
           "wait_until_ready"]

#: The modules the provider host needs, dependencies first (vmimage/providers/bundle.py).
BUNDLE = (*BASE_BUNDLE, __name__)
READY = "ready"


class RestartError(VmActionError):
    """The VM could not be restarted, or its agent did not come back in time."""


@dataclass(frozen=True)
class AgentStatus:
    power: str
    agent: str  # the agent's display status, lower-case ("ready", "not ready", "")
    reported_at: datetime | None


def agent_status(client: Any, resource_group: str, vm_name: str) -> AgentStatus:
    """Power state and the guest agent's last status, from the VM's instance view."""
    view = client.virtual_machines.instance_view(resource_group, vm_name)
    power = "unknown"
    for status in view.statuses or []:
        code = (status.code or "").lower()
        if code.startswith("powerstate/"):
            power = code.split("/", 1)[1]
    agent, reported = "", None
    statuses = view.vm_agent.statuses if view.vm_agent is not None else None
    for status in statuses or []:
        agent, reported = (status.display_status or "").lower(), status.time
    return AgentStatus(power, agent, reported)


def status_reader(client: Any, resource_group: str, vm_name: str,
                  error: type[VmActionError]) -> Callable[[], AgentStatus]:
    """Reads the VM's power and agent status; an ARM refusal is the action's error."""
    def read() -> AgentStatus:
        from azure.core.exceptions import HttpResponseError

        try:
            return agent_status(client, resource_group, vm_name)
        except HttpResponseError as err:
            raise error(f"cannot read the instance view of VM {vm_name!r} in "
                        f"{resource_group!r}: {describe(err)}") from err
    return read


def restart_vm(client: Any, resource_group: str, vm_name: str, *, timeout_s: float = 900.0,
               poll_s: float = 15.0, sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic,
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Restart `vm_name` and wait until its agent is Ready again.

    Refuses a VM that is not running (ARM restarts only running VMs; a stopped build VM
    means something else went wrong). Returns {"vmName", "powerState", "agentStatus"}.
    """
    from azure.core.exceptions import HttpResponseError

    report = reporter(vm_name, clock, progress)
    read = status_reader(client, resource_group, vm_name, RestartError)
    before = read()
    if before.power != "running":
        raise RestartError(f"VM {vm_name!r} is {before.power}: a restart step needs a "
                           "running build VM")
    report("restarting")
    try:
        client.virtual_machines.begin_restart(
            resource_group, vm_name, retry_on_methods=RETRY_METHODS).result()
    except HttpResponseError as err:
        raise RestartError(f"restart of VM {vm_name!r} in {resource_group!r} failed: "
                           f"{describe(err)}") from err
    report("restarted; waiting for the guest agent")
    return wait_until_ready(read, before, vm_name=vm_name, timeout_s=timeout_s, poll_s=poll_s,
                            sleep=sleep, clock=clock, report=report, after="restarted",
                            error=RestartError)


def wait_until_ready(read: Callable[[], AgentStatus], before: AgentStatus, *, vm_name: str,
                     timeout_s: float, poll_s: float, sleep: Callable[[float], None],
                     clock: Callable[[], float], report: Callable[[str], None], after: str,
                     error: type[VmActionError]) -> dict[str, Any]:
    """Wait until the VM runs and its agent reports Ready later than `before` (a status
    from before the reboot or start does not count)."""
    deadline = clock() + timeout_s
    while True:
        now = read()
        fresh = now.reported_at is not None and (
            before.reported_at is None or now.reported_at > before.reported_at)
        if now.power == "running" and now.agent == READY and fresh:
            report("guest agent ready")
            return {"vmName": vm_name, "powerState": now.power, "agentStatus": "Ready"}
        if clock() >= deadline:
            raise error(
                f"VM {vm_name!r} was {after} but its guest agent did not report Ready "
                f"within {timeout_s:.0f}s (power {now.power}, agent "
                f"{now.agent or 'no status'}); check boot diagnostics, then run again")
        sleep(poll_s)


def asked_for(client: Any, resource_group: str, vm_name: str, command: str) -> bool:
    """Whether run command `command` printed the restart marker (a step that needs a
    restart says so in its output, e.g. Install-WindowsFeature's RestartNeeded)."""
    from azure.core.exceptions import HttpResponseError

    try:
        found = client.virtual_machine_run_commands.get_by_virtual_machine(
            resource_group, vm_name, command, expand="instanceView")
    except HttpResponseError as err:
        raise RestartError(f"cannot read run command {command!r} of VM {vm_name!r}, which "
                           f"says whether to restart: {describe(err)}") from err
    view = (found.as_dict().get("properties") or {}).get("instanceView") or {}
    return RESTART_MARKER in str(view.get("output") or "")


# ----- the VM action and its Pulumi dynamic resource ----------------------------------------

def _run(client: Any, props: dict[str, Any], **how: Any) -> dict[str, Any]:
    rg, vm = props["resourceGroupName"], props["vmName"]
    command = props.get("whenAskedBy")
    if command and not asked_for(client, rg, vm, command):
        # Nothing to do, and nothing done: the next step runs on the VM as it is.
        return {"vmName": vm, "powerState": "running", "agentStatus": "not restarted"}
    return restart_vm(client, rg, vm, timeout_s=float(props.get("timeoutSeconds") or 900.0),
                      **how)


def _check(news: dict[str, Any]) -> list[tuple[str, str]]:
    timeout = news.get("timeoutSeconds")
    if not is_unknown(timeout) and (not isinstance(timeout, int | float) or timeout <= 0):
        return [("timeoutSeconds", "timeoutSeconds must be a positive number")]
    return []


RESTART = VmAction(name="restart", inputs=("timeoutSeconds", "after", "whenAskedBy"),
                   outputs=("powerState", "agentStatus"), done_at="restartedAt",
                   run=_run, check=_check)
RESTART_INPUTS = RESTART.all_inputs


class RestartProvider(VmActionProvider):
    """What the engine's provider host runs for `Restart`."""

    action = RESTART
    bundle = BUNDLE


@dataclass(kw_only=True)
class RestartArgs(VmArgs):
    """Inputs of `Restart`: the VM, and where in the steps it sits."""

    after: pulumi.Input[str]
    """The id of the step before it (a run command, or another restart): the restart
    waits for it, and its record says where in the sequence it sits."""
    timeout_seconds: float = 900.0
    """How long the guest agent may take to report Ready after the reboot."""
    when_asked_by: str | None = None
    """A run command's name: restart only if its output holds the restart marker
    (vocabulary.RESTART_MARKER); None: always restart."""


class Restart(VmActionResource, module="vmimage", name="Restart"):
    """The build VM, restarted once, with its guest agent Ready again."""

    provider = RestartProvider
    power_state: pulumi.Output[str]
    agent_status: pulumi.Output[str]
    restarted_at: pulumi.Output[str]

    def __init__(self, name: str, args: RestartArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, args, opts)
