"""Config values that land in scripts stay literals: rendered, then read back the way the
guest's shell reads them.

PowerShell: a tokenizer of single-quoted strings as PowerShell's own (tokenizer.cs,
ScanStringLiteral: a string starts and ends at any CharTraits.IsSingleQuote character, and
two in a row are one literal quote). Every hostile value must come back as exactly one
literal, equal to the input, and the code around the literals must be the code a
harmless value gives. Bash: the rendered script runs under the real bash with the
commands it calls stubbed; each stub records its arguments, and no injected command
may run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from powershell_literals import POWERSHELL_HOSTILE, powershell_strings

from vmimage.scripts.render import psquote, render


@pytest.mark.parametrize("value", POWERSHELL_HOSTILE)
def test_psquote_gives_one_literal_holding_exactly_the_value(value: str) -> None:
    literals, code = powershell_strings(f"Install-WindowsFeature -Name {psquote(value)} -X")
    assert literals == [value]
    assert code == "Install-WindowsFeature -Name <literal> -X"


def test_the_tokenizer_sees_an_injection_through_ascii_only_quoting() -> None:
    """The check can fail: quoting only the ASCII quote lets U+2019 end the string."""
    value = POWERSHELL_HOSTILE[1]
    naive = "'" + value.replace("'", "''") + "'"
    literals, code = powershell_strings(f"X -Name {naive} -X")
    assert literals != [value]
    assert "Write-Output PWNED" in code


@pytest.mark.parametrize("value", POWERSHELL_HOSTILE)
def test_windows_templates_keep_features_and_vm_names_literal(value: str) -> None:
    """The built-in templates, rendered with the hostile value where config goes (bypassing
    validation, which would refuse most of these): only literals change."""
    cases = [("windows/install-features.ps1.j2", {"features": [value, "Web-Server"]}, "vm1"),
             ("windows/sysprep.ps1.j2", {"seal_minutes": 50, "exit_grace_minutes": 3}, value),
             ("windows/sysprep-checks.ps1.j2", {}, value)]
    for template, variables, vm_name in cases:
        harmless = {k: ["Harmless"] * len(v) if isinstance(v, list) else v
                    for k, v in variables.items()}
        hostile_literals, hostile_code = powershell_strings(
            render(template, variables, os="windows", vm_name=vm_name))
        _, harmless_code = powershell_strings(
            render(template, harmless, os="windows",
                   vm_name="Harmless" if vm_name == value else vm_name))
        assert hostile_code == harmless_code, template
        assert value in hostile_literals, template


# -- bash ---------------------------------------------------------------------------------

BASH_HOSTILE = [
    "-oDpkg::Pre-Invoke::=touch {mark}",
    "--option=Dpkg::Pre-Invoke::=touch {mark}",
    "nginx; touch {mark}",
    "$(touch {mark})",
    "`touch {mark}`",
    "'; touch {mark}; '",
    "\"; touch {mark}; \"",
    "a\ntouch {mark}",
    "*",
    "${{IFS}}touch${{IFS}}{mark}",
    "-",
]

STUB = """#!/bin/sh
# records its arguments, one per line after its name, NUL-separated
{{ printf '%s\\0' "$(basename "$0")" "$@"; printf '\\n'; }} >> {log}
"""


@pytest.fixture
def stubbed(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A PATH whose apt-get, cloud-init and sleep only record how they were called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for name in ("apt-get", "cloud-init", "sleep"):
        stub = bin_dir / name
        stub.write_text(STUB.format(log=log))
        stub.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    return env, log


def calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    records = log.read_bytes().split(b"\0\n")
    return [r.decode().split("\0") for r in records if r]


def test_install_packages_passes_each_value_as_one_operand_and_runs_nothing(
        stubbed: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, log = stubbed
    mark = tmp_path / "pwned"
    packages = [p.format(mark=mark) for p in BASH_HOSTILE]
    script = tmp_path / "install.sh"
    script.write_text(render("linux/install-packages.sh.j2", {"packages": packages},
                             os="linux", vm_name="vm1"))
    done = subprocess.run(["bash", str(script)], env=env, cwd=tmp_path, timeout=60,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not mark.exists(), "an injected command ran"
    installs = [c for c in calls(log) if c[0] == "apt-get" and "install" in c]
    assert len(installs) == 1
    args = installs[0]
    # Options end at `--`: every value after it is an operand, verbatim, one each.
    assert args[args.index("--") + 1:] == packages
    assert not any(a.startswith("-o") and "Pre-Invoke" in a
                   for a in args[:args.index("--")])


def test_the_stubbed_run_can_see_an_injection(
        stubbed: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    """The check can fail: an unquoted value runs its command."""
    env, _ = stubbed
    mark = tmp_path / "pwned"
    script = tmp_path / "naive.sh"
    script.write_text(f"apt-get install -y nginx; touch {mark}\n")
    subprocess.run(["bash", str(script)], env=env, cwd=tmp_path, timeout=60, check=True)
    assert mark.exists()


def test_linux_seal_script_keeps_the_vm_name_literal(tmp_path: Path) -> None:
    """The seal script names the VM in its log lines: a hostile name stays a string."""
    mark = tmp_path / "pwned"
    vm_name = f"vm'; touch {mark}; echo '"
    script = render("linux/deprovision.sh.j2", {}, os="linux", vm_name=vm_name)
    # Only the assignment is run: the rest of the script seals the machine.
    line = next(line for line in script.splitlines() if line.startswith("vm="))
    done = subprocess.run(["bash", "-c", f'{line}\nprintf %s "$vm"'], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout == vm_name and not mark.exists()
