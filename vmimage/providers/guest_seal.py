"""Seal the guest before ARM generalizes the VM: deprovision (Linux) or sysprep (Windows),
through managed Run Commands, watched until the guest powers itself off.

Why here, in the Generalize step, and not as Pulumi run-command resources:
- both seals end with the guest powering off, and the agent that runs Run Commands stops
  first on Linux (`waagent -deprovision`, WALinuxAgent#3547), so the seal can never be an
  ordinary synchronous step that reports back;
- Azure refuses a run command on a VM that is not running (409), so a run that was cut
  short after the guest shut down could never send it again. This procedure reads the
  VM and its seal command first and sends nothing that was sent already: a re-run after a
  crash at any point converges.
- A seal that *failed* on a VM that still runs was not sent as far as a re-run is
  concerned: Azure keeps the failed run command, so the re-run sends it again, as an
  update of the same command with one more `# vmimage attempt N` line. The handler runs a
  command's script once per configuration (Azure/run-command-handler-linux
  `internal/cmds/cmds.go` `enablePre`: "the script configuration has already been
  processed, will not run again"), so a re-send must change it.

Linux: one synchronous run command that checks waagent and systemd-run, cleans cloud-init
(so a failure there is this command's failure, with its output, at once), and schedules
only the deprovision and the power-off in a transient unit
(templates/linux/deprovision.sh.j2).
Windows: a synchronous run command with the checks (agent, ImageState, BitLocker, pending
reboot) whose failure fails the step at once with its message, then an asynchronous one
that runs sysprep /quit, waits for ImageState IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE,
prints it, and schedules the power-off. While waiting, the step reads that command's
instance view: a script that failed fails the step with its output, not an hour later.

Runs in the dynamic provider host (vmimage/providers/bundle.py): no project imports but
its bundle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vmimage.azure.client import describe, is_transient
from vmimage.vocabulary import SEAL_CHECKS_COMMAND, SEAL_COMMAND, SEALED_MARKER

#: What the Windows seal prints once Windows reports the image sealed.
FAILED_STATES = ("failed", "timedout", "canceled")
STOPPED = ("stopped", "deallocated")
#: Where to look when a seal hangs, by OS.
LOGS = {
    "linux": "the serial log in boot diagnostics, or `journalctl -u vmimage-seal`",
    "windows": r"C:\Windows\System32\Sysprep\Panther\setupact.log and setuperr.log",
}


#: The line a re-sent command ends with: a new configuration, so the guest runs it again.
ATTEMPT = re.compile(r"^# vmimage attempt (\d+)$", re.MULTILINE)


class SealError(Exception):
    """The guest could not be sealed; the message names the VM and says what to do."""


@dataclass(frozen=True)
class Seal:
    """How one build VM's guest is sealed."""

    os: str
    """linux or windows."""
    script: str
    """The seal run command's script (rendered template)."""
    checks: str | None = None
    """Windows: checks run synchronously before the seal starts."""
    timeout_s: float = 3600.0
    """How long the guest may take to power off once the seal started."""

    @property
    def asynchronous(self) -> bool:
        # The Windows seal runs for minutes and ends with a power-off: its result comes
        # from the instance view. The Linux one only schedules the work and returns.
        return self.os == "windows"

    @property
    def confirmation(self) -> str | None:
        """What the seal's output must show before the VM may be deallocated."""
        return SEALED_MARKER if self.os == "windows" else None


@dataclass(frozen=True)
class CommandState:
    execution_state: str  # lower-case: pending, running, succeeded, failed, ...
    exit_code: int | None
    output: str
    error: str
    script: str = ""
    """The script as sent (its attempt line tells how often it was sent)."""

    @property
    def failed(self) -> bool:
        return self.execution_state in FAILED_STATES

    def tail(self, lines: int = 15) -> str:
        text = "\n".join(part for part in (self.output, self.error) if part).strip()
        return "\n".join(text.splitlines()[-lines:])


def read_command(client: Any, resource_group: str, vm_name: str,
                 name: str) -> CommandState | None:
    """A run command's instance view, or None when the VM has no such command."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        command = client.virtual_machine_run_commands.get_by_virtual_machine(
            resource_group, vm_name, name, expand="instanceView")
    except ResourceNotFoundError:
        return None
    properties = command.as_dict().get("properties") or {}
    view = properties.get("instanceView") or {}
    return CommandState(
        execution_state=str(view.get("executionState") or "unknown").lower(),
        exit_code=view.get("exitCode"), output=str(view.get("output") or ""),
        error=str(view.get("error") or ""),
        script=str((properties.get("source") or {}).get("script") or ""))


def attempt_of(script: str) -> int:
    """How many times a command's script was sent: 1 plus its attempt line's number."""
    found = ATTEMPT.findall(script)
    return int(found[-1]) if found else 1


def resend(script: str, earlier: CommandState | None) -> str:
    """The script to send: as it is the first time; after an earlier command of the same
    name, with an attempt line one higher than that one's, so its configuration differs."""
    if earlier is None:
        return script
    return f"{script.rstrip()}\n# vmimage attempt {attempt_of(earlier.script) + 1}\n"


def run_command(client: Any, resource_group: str, vm_name: str, name: str, script: str, *,
                location: str, asynchronous: bool, timeout_s: int) -> None:
    """PUT a managed run command and wait for ARM to accept it (synchronous: until the
    script finished; asynchronous: until it started). A failing synchronous script fails
    the PUT (treatFailureAsDeploymentFailure), with the script's output in the error."""
    body = {"location": location, "properties": {
        "source": {"script": script}, "asyncExecution": asynchronous,
        "timeoutInSeconds": timeout_s, "treatFailureAsDeploymentFailure": True}}
    client.virtual_machine_run_commands.begin_create_or_update(
        resource_group, vm_name, name, body).result()


def seal_guest(client: Any, resource_group: str, vm_name: str, seal: Seal, *,
               location: str, read_power: Callable[[], str], sleep: Callable[[float], None],
               clock: Callable[[], float], poll_s: float,
               report: Callable[[str], None]) -> None:
    """Bring the guest to a sealed power-off, sending only what was not sent before."""
    from azure.core.exceptions import HttpResponseError

    try:
        power = read_power()
        launched = read_command(client, resource_group, vm_name, SEAL_COMMAND)
    except HttpResponseError as err:
        raise SealError(f"cannot read VM {vm_name!r} and its seal: {describe(err)}") from None
    running = power not in STOPPED
    if running and launched is not None and launched.failed:
        # Azure keeps a failed command; the guest still runs, so it was never sealed.
        report(f"the seal an earlier run sent failed ({launched.execution_state}, exit code "
               f"{launched.exit_code}); sending it again")
    if running and (launched is None or launched.failed):
        try:
            if seal.checks:
                report("checking the guest before sysprep")
                checked = read_command(client, resource_group, vm_name, SEAL_CHECKS_COMMAND)
                run_command(client, resource_group, vm_name, SEAL_CHECKS_COMMAND,
                            resend(seal.checks, checked), location=location,
                            asynchronous=False, timeout_s=900)
            report("starting the seal in the guest")
            run_command(client, resource_group, vm_name, SEAL_COMMAND,
                        resend(seal.script, launched), location=location,
                        asynchronous=seal.asynchronous, timeout_s=900)
        except HttpResponseError as err:
            raise SealError(f"sealing VM {vm_name!r} failed before it began: "
                            f"{describe(err)}. Nothing was deallocated; fix the guest or the "
                            "build and run again") from None
    elif launched is not None and running:
        report("the seal was started by an earlier run; waiting for it")
    if running:
        _wait_for_power_off(client, resource_group, vm_name, seal, read_power=read_power,
                            sleep=sleep, clock=clock, poll_s=poll_s, report=report)
    _confirm(client, resource_group, vm_name, seal)


def _wait_for_power_off(client: Any, resource_group: str, vm_name: str, seal: Seal, *,
                        read_power: Callable[[], str], sleep: Callable[[float], None],
                        clock: Callable[[], float], poll_s: float,
                        report: Callable[[str], None]) -> None:
    deadline = clock() + seal.timeout_s
    power = "unknown"
    while True:
        try:
            power = read_power()
            if power == "deallocated":
                raise SealError(deallocated_while_sealing(vm_name))
            if power in STOPPED:
                report(f"the guest powered off ({power})")
                return
            state = read_command(client, resource_group, vm_name, SEAL_COMMAND)
        except Exception as err:  # a busy or briefly unreachable ARM: keep waiting
            if not is_transient(err):
                raise
            report(f"reading the VM failed for now ({describe(err)}); still waiting")
            state = None
        if state is not None and state.failed:
            raise SealError(
                f"the seal of VM {vm_name!r} failed in the guest ({state.execution_state}, "
                f"exit code {state.exit_code}); nothing was deallocated or generalized. "
                f"More in {LOGS[seal.os]}. Its output:\n{state.tail()}")
        remaining = deadline - clock()
        if remaining <= 0:
            raise SealError(
                f"VM {vm_name!r} did not power off within {seal.timeout_s:.0f}s of the seal "
                f"(last power state {power}). The seal probably failed or hangs in the "
                f"guest: read {LOGS[seal.os]}. Nothing was deallocated or generalized; fix "
                "the guest and run again")
        report(f"waiting for the guest to power off (power state {power})")
        sleep(min(poll_s, remaining))


def deallocated_while_sealing(vm_name: str) -> str:
    # A guest that powers itself off leaves its VM stopped (still allocated); only ARM
    # deallocates: a Spot eviction, or someone's `az vm deallocate`.
    return (f"VM {vm_name!r} was deallocated while its guest was sealing; a guest that "
            "powers off leaves its VM stopped, so this was Azure (a Spot eviction) or "
            "someone else. The guest may be half sealed and is not captured: rebuild it "
            "with `pulumi up --replace <the build VM's URN>` (`pulumi stack --show-urns` "
            "lists it); nothing was generalized")


def _confirm(client: Any, resource_group: str, vm_name: str, seal: Seal) -> None:
    """The VM is off: make sure it was our seal that turned it off, and (Windows) that
    Windows reported the image sealed. Otherwise capturing would make a broken image."""
    state = read_command(client, resource_group, vm_name, SEAL_COMMAND)
    if state is None:
        raise SealError(
            f"VM {vm_name!r} is stopped but was never sealed by vmimage (stopped by hand?). "
            "Start it (az vm start) and run again; nothing was deallocated or generalized")
    if state.failed:
        raise SealError(f"the seal of VM {vm_name!r} failed in the guest; its output:\n"
                        f"{state.tail()}")
    if seal.confirmation and seal.confirmation not in state.output:
        raise SealError(
            f"VM {vm_name!r} powered off, but its seal never reported "
            f"{seal.confirmation} (execution state {state.execution_state}). The image may "
            f"not be sealed: read {LOGS[seal.os]}; nothing was deallocated or generalized")
