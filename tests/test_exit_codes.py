"""A step's valid exit codes (#27): the wrapper runs the step's script as written and maps
its exit code; on Windows 3010 prints the restart marker the step's Restart reads. The
Linux wrapper runs here in bash; the Windows one is read (no PowerShell on this machine:
docs/azure-behaviours.md "Only real Azure can show")."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import load_pipeline, load_stack_dict
from powershell_literals import POWERSHELL_HOSTILE, powershell_strings

from offline.fault_notes import inapplicable
from offline.faults import FaultPlan
from offline.latency import LatencyModel
from offline.runner import StackConfig
from offline.up import up
from vmimage.config.errors import SpecError
from vmimage.config.validate import load_spec
from vmimage.scripts.exit_codes import VALID_CODES_LINE, exit_codes, unwrapped, wrapped
from vmimage.vocabulary import RESTART, RESTART_MARKER, RUN_COMMAND


def run_bash(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "wrapper.sh"
    path.write_text(script, encoding="utf-8")
    return subprocess.run(["bash", str(path)], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)}, check=False)


def test_the_defaults_are_zero_on_linux_and_zero_and_3010_on_windows():
    assert exit_codes(None, "linux") == (0,)
    assert exit_codes(None, "windows") == (0, 3010)
    assert exit_codes((0, 2), "linux") == (0, 2)
    script = "#!/bin/bash\necho hi\n"
    assert wrapped(script, (0,), "linux") == script  # nothing to map: the script itself


@pytest.mark.parametrize(("exit_code", "wrapper_code"), [(0, 0), (2, 0), (7, 0), (3, 3), (1, 1)])
def test_a_valid_exit_code_is_success_and_another_fails_with_its_code(tmp_path, exit_code,
                                                                        wrapper_code):
    script = f"#!/bin/bash\necho step ran\nexit {exit_code}\n"
    done = run_bash(wrapped(script, (0, 2, 7), "linux"), tmp_path)
    assert done.returncode == wrapper_code
    assert done.stdout == "step ran\n"
    if wrapper_code:
        assert f"the step exited with {exit_code}; valid exit codes: 0 2 7" in done.stderr
    assert list(tmp_path.glob("tmp.*")) == []  # the decoded script is removed


def test_the_script_runs_as_written_whatever_it_holds(tmp_path):
    # a line that would end a here-document, quotes, and an interpreter of its own
    script = ("#!/usr/bin/env -S python3 -I\nimport sys\nprint('VMIMAGE_STEP\\n\\'$x\\'')\n"
              "sys.exit(4)\n")
    done = run_bash(wrapped(script, (4,), "linux"), tmp_path)
    assert (done.returncode, done.stdout) == (0, "VMIMAGE_STEP\n'$x'\n")
    plain = run_bash(wrapped("echo no shebang; exit 5", (0,5), "linux"), tmp_path)
    assert (plain.returncode, plain.stdout) == (0, "no shebang\n")


def test_the_windows_wrapper_carries_the_script_and_maps_3010_to_the_marker():
    script = "Write-Output 'installing'\n& msiexec.exe /i app.msi /qn\nexit $LASTEXITCODE\n"
    text = wrapped(script, (0, 3010), "windows")
    assert text.startswith(f"{VALID_CODES_LINE} 0 3010\n")
    payload = "".join(re.findall(r"'([A-Za-z0-9+/=]+)' \+", text))
    assert base64.b64decode(payload).decode() == script
    assert f"if ($code -eq 3010) {{ Write-Output '{RESTART_MARKER}' }}" in text
    assert "if (@(0, 3010) -contains $code) { exit 0 }" in text
    assert "-File $step" in text and "exit $code" in text
    without = wrapped(script, (0, 1641), "windows")
    assert RESTART_MARKER not in without  # only 3010 asks for a restart


def test_unwrapped_gives_back_the_script_and_its_codes():
    script = "Write-Output 'x'\nexit 3010\n" * 40  # more than one payload line
    assert unwrapped(wrapped(script, (0, 3010), "windows")) == (script, (0, 3010))
    assert unwrapped(wrapped(script, (0, 4), "linux")) == (script, (0, 4))
    assert unwrapped(script) is None


def test_codes_are_checked_by_key_path():
    raw = load_pipeline("dev")
    raw["builds"][0]["customize"] = [
        {"inline": "true", "validExitCodes": [0, 3010, -1]},
        {"inline": "true", "validExitCodes": [0, 2]},
    ]
    with pytest.raises(SpecError) as caught:
        load_spec(raw, location="westeurope")
    assert caught.value.problems == [
        "builds[0].customize[0].validExitCodes: 3010, -1: a Linux exit status is 0-255"]
    raw["builds"][0]["customize"] = [
        {"inline": "true", "validExitCodes": [0, 3010]},
        {"inline": "true", "validExitCodes": [0, 2, 2]},
        {"inline": "true", "validExitCodes": []},
        {"inline": "true", "validExitCodes": [True]},
    ]
    with pytest.raises(SpecError) as caught:
        load_spec(raw, location="westeurope")
    found = caught.value.problems  # the model's problems, all at once
    assert any(p.startswith("builds[0].customize[1].validExitCodes: ") and "[2] listed twice"
               in p for p in found), found
    assert any(p.startswith("builds[0].customize[2].validExitCodes") for p in found), found
    assert any(p.startswith("builds[0].customize[3].validExitCodes[0]") for p in found), found


def run_with(stack: str, faults: str, steps: list[dict[str, Any]] | None = None) -> Any:
    config = load_stack_dict(stack)
    if steps is not None:
        config["vmimage:pipeline"]["builds"][0]["customize"] = steps
    return up(StackConfig(stack, config), latency=LatencyModel(),
              faults=FaultPlan.parse(faults, 0)).run


def test_3010_on_windows_restarts_the_vm_then_the_next_step_runs():
    run = run_with("win", "step-exit=3010", [
        {"inline": "& msiexec.exe /i C:\\app.msi /qn; exit $LASTEXITCODE"},
        {"inline": "Get-Service app"}])
    assert not (run.failures or run.error), run.error or run.failures
    steps = sorted((r for r in run.registrations if r.type in (RUN_COMMAND, RESTART)),
                   key=lambda r: r.start_s)
    assert [(r.type, r.outputs.get("agentStatus")) for r in steps] == [
        (RUN_COMMAND, None), (RESTART, "Ready"),  # the first asked: restarted
        (RUN_COMMAND, None), (RESTART, "not restarted")]  # the second did not
    assert "restart" in [o.op for o in run.operations if o.resource == steps[1].urn]
    assert steps[2].start_s >= steps[1].end_s


def test_a_code_not_listed_fails_the_step_with_its_code():
    run = run_with("win", "step-exit=5")
    assert run.failures
    message = str(run.failures[0])
    assert "exited with code 5" in message
    assert "valid exit codes: 0 3010" in message


def test_a_listed_code_on_linux_succeeds_and_asks_for_no_restart():
    run = run_with("dev", "step-exit=100", [{"inline": "apt-get check", "validExitCodes": [0, 100]},
                                            {"inline": "true"}])
    assert not (run.failures or run.error), run.error or run.failures
    assert not [r for r in run.registrations if r.type == RESTART]
    failed = run_with("dev", "step-exit=100", [{"inline": "apt-get check"}])
    assert "exited with code 100" in str(failed.failures[0])


@pytest.mark.parametrize("hostile", [h for h in POWERSHELL_HOSTILE if h])  # a step is never empty
def test_no_script_text_becomes_code_of_the_windows_wrapper(hostile):
    # read as PowerShell reads its single-quoted literals: the wrapper's code is the same
    # whatever the step's script holds (it is only ever a base64 literal)
    _, code = powershell_strings(wrapped(hostile, (0, 3010), "windows"))
    _, plain = powershell_strings(wrapped("x", (0, 3010), "windows"))
    assert code == plain


def test_step_exit_on_a_stack_without_customize_steps_says_it_cannot_fire():
    raw = load_pipeline("dev")
    raw["builds"][0]["customize"] = []
    spec = load_spec(raw, location="westeurope").spec
    notes = inapplicable(FaultPlan.parse("step-exit=3010"), spec)
    assert notes == ["--faults step-exit=3010 cannot fire on this stack: it needs a build "
                     "with customize steps"]
    with pytest.raises(ValueError, match="expected an exit code"):
        FaultPlan.parse("step-exit=reboot")
