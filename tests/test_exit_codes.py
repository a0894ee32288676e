"""A step's valid exit codes (#27): the wrapper runs the step's script as written and maps
its exit code; on Windows 3010 prints the restart marker the step's Restart reads. The
Linux wrapper runs here in bash; the Windows one is read (no PowerShell on this machine:
docs/azure-behaviours.md "Only real Azure can show")."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import pytest

from vmimage.scripts.exit_codes import VALID_CODES_LINE, exit_codes, wrapped
from vmimage.vocabulary import RESTART_MARKER


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
