"""A step's valid exit codes: the script it runs is wrapped so that any of them counts as
success, and 3010 (Windows' ERROR_SUCCESS_REBOOT_REQUIRED, what msiexec and most
installers return when they need a reboot to finish) prints the restart marker, which the
step's conditional `Restart` VM action reads (vocabulary.RESTART_MARKER, the mechanism
install-features uses): restart, then the next step.

The script travels base64-encoded inside the wrapper, so no text of it can end a
here-document or a here-string; the guest decodes it to a file of its own and runs it as
written (a Linux script by its `#!` line, else bash; a Windows one with `powershell
-File`, whose exit code is the script's `exit N`). A step whose codes are the plain
default on Linux (`[0]`) is not wrapped: its script is exactly the one written.
"""

from __future__ import annotations

import base64
import re
import textwrap

from vmimage.vocabulary import RESTART_MARKER

#: ERROR_SUCCESS_REBOOT_REQUIRED (learn.microsoft.com, "System Error Codes (1700-3999)");
#: msiexec returns it for "a restart is required to complete the install".
RESTART_EXIT_CODE = 3010
#: The codes a step succeeds with when its config names none, by OS.
DEFAULT_EXIT_CODES = {"linux": (0,), "windows": (0, RESTART_EXIT_CODE)}
#: A Linux process's exit status is 8 bits (POSIX `exit`, `wait`): 0-255.
MAX_LINUX_EXIT_CODE = 255
#: The line that tells the simulated guest, and a reader, which codes the wrapper accepts.
VALID_CODES_LINE = "# vmimage-valid-exit-codes:"


def exit_codes(configured: tuple[int, ...] | None, os: str) -> tuple[int, ...]:
    return configured if configured is not None else DEFAULT_EXIT_CODES.get(os, (0,))


def asks_for_restart(codes: tuple[int, ...], os: str) -> bool:
    """Whether the wrapper may print the restart marker (3010 accepted, on Windows)."""
    return os == "windows" and RESTART_EXIT_CODE in codes


def wrapped(script: str, codes: tuple[int, ...], os: str) -> str:
    """The script the run command runs: `script` itself when nothing needs mapping, else
    the wrapper around it."""
    if codes == (0,):
        return script
    payload = "\n".join(textwrap.wrap(base64.b64encode(script.encode()).decode(), 76))
    listed = " ".join(str(c) for c in codes)
    if os == "windows":
        return _windows(payload, codes, listed)
    return _linux(payload, listed)


_LINUX_PAYLOAD = re.compile(r"<<'VMIMAGE_STEP'\n(.*?)\nVMIMAGE_STEP\n", re.DOTALL)
_WINDOWS_PAYLOAD = re.compile(r"'([A-Za-z0-9+/=]+)' \+")


def unwrapped(text: str) -> tuple[str, tuple[int, ...]] | None:
    """(the step's own script, its valid codes) of a wrapper; None: not one. What the
    simulated guest reads to run the step's script and map its code as the wrapper would."""
    first = text.split("\n", 2)
    line = next((ln for ln in first[:2] if ln.startswith(VALID_CODES_LINE)), None)
    if line is None:
        return None
    codes = tuple(int(c) for c in line.removeprefix(VALID_CODES_LINE).split())
    linux = _LINUX_PAYLOAD.search(text)
    payload = linux.group(1) if linux else "".join(_WINDOWS_PAYLOAD.findall(text))
    return base64.b64decode(payload.replace("\n", "")).decode(), codes


def _linux(payload: str, listed: str) -> str:
    return f"""#!/bin/bash
{VALID_CODES_LINE} {listed}
# The step's script runs as written; these exit codes count as success.
step=$(mktemp) || exit 1
trap 'rm -f "$step"' EXIT
base64 -d > "$step" <<'VMIMAGE_STEP'
{payload}
VMIMAGE_STEP
IFS= read -r first < "$step" || true
case $first in
  '#!'*) read -r -a interpreter <<< "${{first#??}}"; "${{interpreter[@]}}" "$step" ;;
  *) bash "$step" ;;
esac
code=$?
case " {listed} " in
  *" $code "*) exit 0 ;;
esac
echo "vmimage: the step exited with $code; valid exit codes: {listed}" >&2
exit "$code"
"""


def _windows(payload: str, codes: tuple[int, ...], listed: str) -> str:
    restart = (f"if ($code -eq {RESTART_EXIT_CODE}) {{ Write-Output '{RESTART_MARKER}' }}\n"
               if RESTART_EXIT_CODE in codes else "")
    joined = "\n".join(f"'{line}' +" for line in payload.splitlines()) + " ''"
    return f"""{VALID_CODES_LINE} {listed}
# The step's script runs as written; these exit codes count as success{
        f', and {RESTART_EXIT_CODE} restarts the VM before the next step' if restart else ''}.
$step = Join-Path $env:TEMP ('vmimage-step-' + [guid]::NewGuid().ToString('N') + '.ps1')
$payload = {joined}
try {{
  [IO.File]::WriteAllBytes($step, [Convert]::FromBase64String($payload))
}} catch {{
  [Console]::Error.WriteLine("vmimage: cannot write the step's script: $_")
  exit 1
}}
# (no ErrorActionPreference Stop: Windows PowerShell 5.1 turns a redirected native
# command's stderr into errors, which would stop the wrapper before it reads the code)
try {{
  & powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File $step
  $code = $LASTEXITCODE
}} finally {{
  Remove-Item -Force -ErrorAction SilentlyContinue $step
}}
{restart}if (@({', '.join(str(c) for c in codes)}) -contains $code) {{ exit 0 }}
[Console]::Error.WriteLine("vmimage: the step exited with $code; valid exit codes: {listed}")
exit $code
"""
