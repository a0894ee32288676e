"""Template rendering: StrictUndefined, quoting of hostile config values, the
deprovision and sysprep scripts."""

from __future__ import annotations

import re
import shlex

import pytest

from vmimage.components.guest_scripts import (
    SEAL_CHECKS_TEMPLATE,
    SEAL_TEMPLATE,
    SYSPREP_VARS,
    seal_for,
)
from vmimage.scripts.render import TemplateProblem, render


def test_missing_variable_fails_naming_the_template():
    with pytest.raises(TemplateProblem) as caught:
        render("linux/install-packages.sh.j2", {}, os="linux", vm_name="vm1")
    assert str(caught.value) == (
        "template 'linux/install-packages.sh.j2': 'packages' is undefined"
    )


def test_missing_variable_in_windows_template():
    with pytest.raises(TemplateProblem, match=r"windows/install-features\.ps1\.j2.*features"):
        render("windows/install-features.ps1.j2", {}, os="windows", vm_name="vm1")


def test_unknown_template_is_a_template_problem():
    with pytest.raises(TemplateProblem) as caught:
        render("linux/nope.sh.j2", {}, os="linux", vm_name="vm1")
    assert str(caught.value) == "template 'linux/nope.sh.j2' not found under templates/"


def test_syntax_error_names_template_and_line(tmp_path):
    (tmp_path / "bad.j2").write_text("ok\n{% if %}\n")
    with pytest.raises(TemplateProblem, match=r"template 'bad.j2' line 2"):
        render("bad.j2", {}, os="linux", vm_name="vm", root=tmp_path)


def test_strict_undefined_also_inside_expressions(tmp_path):
    (tmp_path / "t.j2").write_text("{{ missing | upper }}")
    with pytest.raises(TemplateProblem, match="'missing' is undefined"):
        render("t.j2", {}, os="linux", vm_name="vm", root=tmp_path)


def _install_line(script):
    lines = script.replace("\\\n", " ").splitlines()
    return next(line for line in lines if " install " in line and line.startswith("apt-get"))


def test_packages_are_shell_quoted_one_word_each():
    hostile = ["nginx", "x; rm -rf /", "$(reboot)", "a'b", "`id`"]
    script = render("linux/install-packages.sh.j2", {"packages": hostile}, os="linux",
                    vm_name="vm1")
    words = shlex.split(_install_line(script))
    # Each config value is exactly one argument, verbatim: nothing split or executed.
    assert words[-len(hostile):] == hostile
    assert words[:8] == ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q",
                         "--no-install-recommends", "--"]
    assert "'x; rm -rf /'" in script


def test_vm_name_is_quoted_in_the_seal_scripts():
    script = render(SEAL_TEMPLATE["linux"], {}, os="linux", vm_name="vm; reboot")
    assert "vm='vm; reboot'" in script
    for template in (SEAL_TEMPLATE["windows"], SEAL_CHECKS_TEMPLATE["windows"]):
        script = render(template, SYSPREP_VARS, os="windows", vm_name="vm'; reboot")
        assert "$vm = 'vm''; reboot'" in script


def test_windows_features_are_powershell_quoted():
    script = render("windows/install-features.ps1.j2", {"features": ["Web-Server", "a'; Stop"]},
                    os="windows", vm_name="vm1")
    assert "-Name 'Web-Server' " in script
    assert "-Name 'a''; Stop' " in script  # a single quote doubled: still one literal


def test_config_vars_cannot_shadow_os_and_vm_name(tmp_path):
    (tmp_path / "t.j2").write_text("{{ os }} {{ vm_name }}")
    assert render("t.j2", {"os": "evil", "vm_name": "evil"}, os="linux", vm_name="vm1",
                  root=tmp_path) == "linux vm1"


def _code(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_windows_sysprep_quits_waits_for_the_sealed_state_then_powers_off():
    script = seal_for(_spec("win"), _spec("win").builds[0]).script
    code = _code(script)
    launch = next(i for i, line in enumerate(code) if "sysprep.exe" in line)
    args = code[launch + 1]
    for flag in ("/generalize", "/oobe", "/quit", "/mode:vm"):
        assert f"'{flag}'" in args
    assert not any("/shutdown" in line for line in code)  # not sysprep: the script, after...
    assert "(Get-ImageState) -ne $sealed" in script  # ...the sealed state
    assert "$sealed = 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE'" in script
    assert 'Write-Output "ImageState=$sealed"' in script
    assert "& shutdown.exe /s /t 60" in script
    assert "if ($LASTEXITCODE -ne 0)" in script  # native exit codes are checked
    assert r"Remove-Item (Join-Path $env:SystemRoot 'Panther')" in script  # C:\Windows\Panther
    assert not any("-Wait" in line for line in code)


def test_windows_checks_want_fully_decrypted_volumes_and_no_pending_reboot():
    checks = seal_for(_spec("win"), _spec("win").builds[0]).checks
    assert checks is not None
    assert "VolumeStatus" in checks and "-ne 'FullyDecrypted'" in checks
    for key in ("Component Based Servicing\\RebootPending",
                "WindowsUpdate\\Auto Update\\RebootRequired", "PendingFileRenameOperations"):
        assert key in checks, key
    assert "throw" in checks  # a failed check fails the synchronous run command
    assert seal_for(_spec("dev"), _spec("dev").builds[0]).checks is None


def test_pending_file_renames_count_only_inside_the_windows_directory():
    """Many programs schedule deletes of their temp files at boot; only a system file
    replaced at boot is a servicing reboot. (No PowerShell here: textual.)"""
    checks = seal_for(_spec("win"), _spec("win").builds[0]).checks
    assert checks is not None
    loop = checks[checks.index("foreach ($entry in $renames)"):]
    loop = loop[:loop.index("\n}\n")]
    assert "$path.StartsWith($windir," in loop
    assert "-not $path.StartsWith($windir + 'Temp\\'" in loop
    assert "-replace '^[!]?\\\\\\?\\?\\\\', ''" in loop  # \??\ and !\??\ prefixes
    # existence of the value alone no longer counts
    assert "-Name PendingFileRenameOperations -ErrorAction SilentlyContinue) {" not in checks


def test_appx_packages_are_compared_by_package_name():
    """Get-AppxProvisionedPackage's DisplayName and Get-AppxPackage's Name are the same
    form (Microsoft.WindowsCalculator); PackageName and PackageFullName are not."""
    script = seal_for(_spec("win"), _spec("win").builds[0]).script
    provisioned = re.search(r"Get-AppxProvisionedPackage -Online \| ForEach-Object "
                            r"\{ \$_\.(\w+) \}", script)
    installed = re.search(r"\$provisioned -notcontains \$_\.(\w+)", script)
    assert provisioned and installed
    assert (provisioned.group(1), installed.group(1)) == ("DisplayName", "Name")
    assert "PackageFullName }" not in script and "$_.PackageName" not in script


def test_a_sysprep_that_exits_without_sealing_fails_within_minutes():
    script = seal_for(_spec("win"), _spec("win").builds[0]).script
    assert "if ($process.HasExited -and -not $exited) { $exited = Get-Date }" in script
    assert "(Get-Date) -gt $exited.AddMinutes(3)" in script
    grace = script[script.index("$exited.AddMinutes(3)"):]
    assert grace.index("Stop-WithLog") < grace.index("Start-Sleep")  # setuperr.log tail


def test_install_features_prints_the_restart_marker_when_a_feature_asks():
    from vmimage.vocabulary import RESTART_MARKER

    features = {"features": ["Web-Server", "NET-Framework-45-Core"]}
    script = render("windows/install-features.ps1.j2", features, os="windows", vm_name="vm1")
    assert script.count("if (\"$($result.RestartNeeded)\" -eq 'Yes') { $restart = $true }") == 2
    assert script.rstrip().endswith(f"if ($restart) {{ Write-Output '{RESTART_MARKER}' }}")


def _spec(stack: str):
    from conftest import load_pipeline

    from vmimage.config.validate import load_spec

    return load_spec(load_pipeline(stack), location="westeurope").spec


def test_run_command_names_are_ordered_and_readable():
    from vmimage.config.steps.template import stem_of
    from vmimage.steps.run_command import command_name

    assert command_name(0, stem_of("linux/install-packages.sh.j2")) == (
        "customize-00-install-packages"
    )
    assert command_name(12, stem_of("windows/run-script.ps1.j2")) == "customize-12-run-script"
