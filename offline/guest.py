"""The simulated guest: what a script run through Run Command does to the VM and to the
command's own result.

The simulator cannot run bash or PowerShell. It reads the commands a script executes and
acts on the few that change what Azure sees; each is a documented behaviour with its
source in docs/azure-behaviours.md:

- `waagent ... -deprovision` run by the command itself stops the guest agent first
  (azurelinuxagent/pa/deprovision/default.py), and the agent is what reports the command:
  the command never reports back (WALinuxAgent#3547).
- `systemd-run ... FILE` hands FILE to systemd, which runs it after the command reported,
  outside the agent. A FILE that deprovisions and powers off stops the VM.
- `sysprep.exe ... /shutdown` waited for (`& sysprep.exe`, `Start-Process -Wait`) powers
  the VM off under the command: no report. Launched with `Start-Process` alone, the VM
  powers off once sysprep is done.
- `sysprep.exe ... /quit` followed by `shutdown.exe /s /t N`: the script polls ImageState,
  so it ends (succeeding, with the ImageState line in its output) when sysprep is done,
  and the VM powers off N seconds later.
- `Get-BitLockerVolume` and the pending-reboot keys: what the checks script reads; the
  simulated guest answers from its state (`--faults bitlocker=1`, `pending-reboot=1`).
- `cloud-init clean` run by the command itself fails when the guest says so
  (`cloud_init_clean_fails`): the command fails with its error, and nothing is scheduled.
- A sysprep that exits 0 without sealing (`sysprep_exits_unsealed`): a seal script that
  gives ImageState a grace after sysprep exits (`$exited.AddMinutes(N)`) fails N minutes
  after sysprep, with the tail of setuperr.log; one without waits for its deadline.
- `Install-WindowsFeature` whose result says `RestartNeeded` (`features_need_restart`):
  a script that looks at it prints the restart marker.
- A step's exit-code wrapper (vmimage/scripts/exit_codes.py): the step's own script runs,
  and its exit code (0, or `--faults step-exit=N` for the first customize step) is mapped
  as the wrapper maps it: a valid code succeeds, 3010 on Windows prints the restart marker.

Here-document bodies are file contents, not commands; comments are skipped; continued
lines (`\\` in bash, a backtick in PowerShell) are joined.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from vmimage.scripts.exit_codes import RESTART_EXIT_CODE, unwrapped
from vmimage.vocabulary import RESTART_MARKER

SEALED = "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"
#: What the Windows seal reports when sysprep never seals (templates/windows/sysprep.ps1.j2).
STUCK = "IMAGE_STATE_UNDEPLOYABLE"
#: ImageState of a Windows that sysprep left as it was (learn.microsoft.com "Windows Setup
#: States": the image is deployed, the machine is in use).
COMPLETE = "IMAGE_STATE_COMPLETE"
#: What the simulated `cloud-init clean` says when it fails.
CLOUD_INIT_ERROR = "ERROR: Could not remove /var/lib/cloud/seed: Read-only file system"


@dataclass(frozen=True)
class GuestState:
    """What the simulated guest would answer to the checks before sysprep."""

    bitlocker: str = "FullyDecrypted"
    pending_reboot: bool = False
    sysprep_hangs: bool = False
    #: `cloud-init clean` fails (a read-only or full file system).
    cloud_init_clean_fails: bool = False
    #: sysprep.exe exits 0 but never seals (ImageState stays IMAGE_STATE_COMPLETE).
    sysprep_exits_unsealed: bool = False
    #: Install-WindowsFeature reports RestartNeeded = Yes.
    features_need_restart: bool = False


@dataclass
class GuestRun:
    """What running one script did."""

    reports: bool = True  # False: the agent never reports this command's end
    duration_s: float = 0.0  # from start until the script ended (and was reported)
    succeeded: bool = True
    exit_code: int = 0
    output: str = ""
    error: str = ""
    power_off_after_s: float | None = None  # the guest powers off this long after start
    notes: list[str] = field(default_factory=list)


@dataclass
class Script:
    """A script as the guest executes it: its command lines, and the files it writes."""

    commands: list[str]
    files: dict[str, str]

    def runs(self, pattern: str) -> list[str]:
        return [c for c in self.commands if re.search(pattern, c, re.IGNORECASE)]


_HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")
_WRITES_TO = re.compile(r">\s*(\S+)")


def parse(text: str, *, windows: bool) -> Script:
    continuation = "`" if windows else "\\"
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        if line.endswith(continuation):
            pending = line[:-1] + " "
            continue
        pending = ""
        lines.append(line)
    commands: list[str] = []
    files: dict[str, str] = {}
    body: list[str] | None = None
    terminator = target = ""
    for line in lines:
        if body is not None:
            if line == terminator:
                files[target] = "\n".join(body)
                body = None
            else:
                body.append(line)
            continue
        if not line or line.startswith("#"):
            continue
        commands.append(line)
        heredoc = _HEREDOC.search(line)
        if heredoc and not windows:
            terminator = heredoc.group(1)
            written = _WRITES_TO.search(line)
            target = written.group(1) if written else ""
            body = []
    return Script(commands, files)


Latency = Callable[[str], float]


def run_script(text: str, *, windows: bool, asynchronous: bool, latency: Latency,
               state: GuestState, vm_name: str, exit_code: int | None = None) -> GuestRun:
    """`exit_code`: what the step's own script exits with (`--faults step-exit=N`); a
    wrapper (vmimage/scripts/exit_codes.py) maps it as the real one would."""
    inner = unwrapped(text)
    if inner is not None:
        run = run_script(inner[0], windows=windows, asynchronous=asynchronous,
                         latency=latency, state=state, vm_name=vm_name)
        return _mapped(run, exit_code, inner[1], windows=windows)
    if exit_code:
        return GuestRun(duration_s=latency("runCommand.customize"), succeeded=False,
                        exit_code=exit_code, error=f"the script exited with {exit_code}")
    script = parse(text, windows=windows)
    if windows:
        return _windows(script, asynchronous=asynchronous, latency=latency, state=state,
                        vm_name=vm_name)
    return _linux(script, latency=latency, state=state)


def _mapped(run: GuestRun, exit_code: int | None, codes: tuple[int, ...], *,
            windows: bool) -> GuestRun:
    """What the exit-code wrapper makes of its script's run: a valid code is success, 3010
    on Windows adds the restart marker, any other fails with its code."""
    code = exit_code if exit_code is not None else (0 if run.succeeded else run.exit_code)
    if not run.reports or code not in codes:
        if run.reports:
            run.succeeded, run.exit_code = False, code
            run.error = (run.error + "\n" if run.error else "") + (
                f"vmimage: the step exited with {code}; valid exit codes: "
                + " ".join(map(str, codes)))
        return run
    run.succeeded, run.exit_code = True, 0
    if windows and code == RESTART_EXIT_CODE:
        run.output = (run.output + "\n" if run.output else "") + RESTART_MARKER
    return run


def _linux(script: Script, *, latency: Latency, state: GuestState) -> GuestRun:
    if script.runs(r"^(sudo\s+)?(\S*/)?waagent\b.*-deprovision"):
        # The agent stops first: the command is killed or orphaned and never reported.
        return GuestRun(reports=False, succeeded=False, power_off_after_s=None,
                        notes=["waagent -deprovision stopped the agent running the command"])
    if state.cloud_init_clean_fails and script.runs(r"^\s*cloud-init\s+clean\b"):
        # `set -e` (or the script's own check) stops it there: nothing is scheduled.
        return GuestRun(duration_s=latency("runCommand.deprovision"), succeeded=False,
                        exit_code=1, output="", error=CLOUD_INIT_ERROR + "\n"
                        "seal: cloud-init clean failed (exit 1); see its output above")
    run = GuestRun(duration_s=latency("runCommand.deprovision"))
    for command in script.runs(r"^systemd-run\b"):
        target = next((path for path in script.files if path in command), None)
        payload = parse(script.files.get(target or "", ""), windows=False)
        if payload.runs(r"waagent\b.*-deprovision") and payload.runs(
                r"\b(poweroff|shutdown)\b"):
            run.power_off_after_s = run.duration_s + latency("guest.deprovision")
            run.output = "deprovision scheduled; the VM powers off when it is done"
    if run.power_off_after_s is None:
        run.duration_s = latency("runCommand.customize")
    return run


def _windows(script: Script, *, asynchronous: bool, latency: Latency, state: GuestState,
             vm_name: str) -> GuestRun:
    problems = _failed_checks(script, state)
    sysprep = script.runs(r"sysprep\.exe")
    if problems:
        message = f"sysprep checks for {vm_name} failed:\n - " + "\n - ".join(problems)
        return GuestRun(duration_s=latency("runCommand.checks"), succeeded=False,
                        exit_code=1, error=message)
    if not sysprep:
        kind = "runCommand.checks" if script.runs(r"Get-BitLockerVolume") else \
            "runCommand.customize"
        restart = state.features_need_restart and bool(script.runs(r"RestartNeeded")) \
            and bool(script.runs(f"Write-Output '{re.escape(RESTART_MARKER)}'"))
        return GuestRun(duration_s=latency(kind), output=RESTART_MARKER if restart else "")
    launch = " ".join(sysprep)
    waited = bool(re.search(r"(^|\s)&\s|-Wait\b", launch, re.IGNORECASE))
    sysprep_s = latency("guest.sysprep")
    if "/shutdown" in launch.lower():
        if waited or not asynchronous:
            return GuestRun(reports=False, succeeded=False, power_off_after_s=sysprep_s,
                            notes=["sysprep /shutdown powered the VM off under the command"])
        return GuestRun(duration_s=latency("runCommand.async"),
                        power_off_after_s=None if state.sysprep_hangs else sysprep_s)
    shutdown = script.runs(r"shutdown\.exe\s+/s")
    delay = re.search(r"/t\s+(\d+)", shutdown[0]) if shutdown else None
    grace = re.search(r"\$exited\.AddMinutes\((\d+)\)", " ".join(script.commands))
    if state.sysprep_exits_unsealed and grace:
        minutes = float(grace.group(1))
        return GuestRun(duration_s=sysprep_s + minutes * 60, succeeded=False, exit_code=1,
                        output=f"seal {vm_name}: sysprep.exe exited with 0 but ImageState is "
                               f"still {COMPLETE} after {minutes:.0f} minutes\n"
                               "(tail of setuperr.log, simulated)")
    if state.sysprep_hangs or state.sysprep_exits_unsealed:
        deadline = re.search(r"AddMinutes\((\d+)\)", " ".join(script.commands))
        minutes = float(deadline.group(1)) if deadline else 60.0
        return GuestRun(duration_s=minutes * 60, succeeded=False, exit_code=1,
                        output=f"seal {vm_name}: ImageState still {STUCK} after "
                               f"{minutes:.0f} minutes\n(tail of setuperr.log, simulated)")
    return GuestRun(duration_s=sysprep_s, output=f"ImageState={SEALED}",
                    power_off_after_s=sysprep_s + (float(delay.group(1)) if delay else 0.0)
                    if shutdown else None)


def _failed_checks(script: Script, state: GuestState) -> list[str]:
    """What the checks a script runs would find wrong in the simulated guest."""
    problems = []
    if script.runs(r"Get-BitLockerVolume") and state.bitlocker != "FullyDecrypted":
        problems.append(f"BitLocker: C: is {state.bitlocker}, not FullyDecrypted; run "
                        "Disable-BitLocker and wait for it")
    if script.runs(r"RebootPending") and state.pending_reboot:
        problems.append("a reboot is pending (Component Based Servicing): reboot the build "
                        "VM before it is sealed")
    return problems
