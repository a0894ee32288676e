"""Template rendering: StrictUndefined, quoting of hostile config values, the
deprovision and sysprep scripts."""

from __future__ import annotations

import shlex

import pytest

from components import guest_scripts
from components.templates import DEPROVISION_TEMPLATE, TemplateProblem, render


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
    return next(line for line in script.splitlines() if line.startswith("apt-get install"))


def test_packages_are_shell_quoted_one_word_each():
    hostile = ["nginx", "x; rm -rf /", "$(reboot)", "a'b", "`id`"]
    script = render("linux/install-packages.sh.j2", {"packages": hostile}, os="linux",
                    vm_name="vm1")
    words = shlex.split(_install_line(script))
    # Each config value is exactly one argument, verbatim: nothing split or executed.
    assert words[-len(hostile):] == hostile
    assert words[:5] == ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
    assert "'x; rm -rf /'" in script


def test_vm_name_is_quoted_in_deprovision_script():
    script = render(DEPROVISION_TEMPLATE["linux"], {}, os="linux", vm_name="vm; reboot")
    assert "vm='vm; reboot'" in script


def test_windows_features_are_powershell_quoted():
    script = render("windows/install-features.ps1.j2", {"features": ["Web-Server", "a'; Stop"]},
                    os="windows", vm_name="vm1")
    assert "-Name 'Web-Server' " in script
    assert "-Name 'a''; Stop' " in script  # a single quote doubled: still one literal


def test_config_vars_cannot_shadow_os_and_vm_name(tmp_path):
    (tmp_path / "t.j2").write_text("{{ os }} {{ vm_name }}")
    assert render("t.j2", {"os": "evil", "vm_name": "evil"}, os="linux", vm_name="vm1",
                  root=tmp_path) == "linux vm1"


def test_linux_deprovision_runs_waagent():
    script = render(DEPROVISION_TEMPLATE["linux"], {}, os="linux", vm_name="vm-build-x")
    assert "waagent -deprovision+user -force" in script.splitlines()
    assert script.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in script


def test_windows_sysprep_generalizes_oobe_shutdown_mode_vm():
    script = render(DEPROVISION_TEMPLATE["windows"], {}, os="windows", vm_name="vm-build-x")
    launch = [line for line in script.splitlines() if "-ArgumentList '/generalize'" in line]
    assert len(launch) == 1
    args = launch[0].split("-ArgumentList", 1)[1]
    for flag in ("/generalize", "/oobe", "/shutdown", "/mode:vm"):
        assert f"'{flag}'" in args
    assert "sysprep.exe" in script
    # Launched, not awaited: sysprep powers the VM off from inside.
    code = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert not any("-Wait" in line for line in code)


def test_guest_scripts_use_the_deprovision_template_of_each_os():
    assert DEPROVISION_TEMPLATE == {
        "linux": "linux/deprovision.sh.j2",
        "windows": "windows/sysprep.ps1.j2",
    }


def test_run_command_names_are_ordered_and_readable():
    assert guest_scripts.run_command_name(0, "linux/install-packages.sh.j2") == (
        "customize-00-install-packages"
    )
    assert guest_scripts.run_command_name(12, "windows/run-script.ps1.j2") == (
        "customize-12-run-script"
    )
