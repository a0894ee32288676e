"""The Linux seal, run by bash with the guest's commands stubbed: the run command cleans
cloud-init itself (its failure is the command's, with its output), schedules the
deprovision outside the agent, and returns; the scheduled unit deprovisions and powers
off, in that order (docs/azure-behaviours.md)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from vmimage.components.guest_scripts import SEAL_TEMPLATE
from vmimage.scripts.render import render

STUBS = ("waagent", "systemd-run", "systemctl", "cloud-init", "sync")
#: The only other commands the scripts may use; nothing else of this machine is on PATH.
TOOLS = ("bash", "cat", "chmod", "grep", "rm")


@pytest.fixture
def guest(tmp_path: Path) -> dict[str, Path]:
    """A stub for each command that matters, each logging how it was called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    log = tmp_path / "calls.log"
    for name in STUBS:
        stub = bin_dir / name
        stub.write_text(
            "#!/bin/bash\n"
            f'echo "{name}${{*:+ $*}}" >> "{log}"\n'
            # systemctl is-active: a unit an earlier run scheduled is still waiting or running
            f'if [ "{name}" = systemctl ] && [ "$1" = is-active ]; then '
            f'[ -e "{tmp_path}/scheduled" ]; exit $?; fi\n'
            f'if [ "{name}" = waagent ] && [ -e "{tmp_path}/waagent-fails" ]; then exit 3; fi\n'
            f'if [ "{name}" = cloud-init ] && [ -e "{tmp_path}/cloud-init-fails" ]; then '
            'echo "ERROR: Could not remove /var/lib/cloud/seed: Read-only file system" >&2; '
            'exit 1; fi\n'
        )
        stub.chmod(0o755)
    return {"root": tmp_path, "bin": bin_dir, "log": log}


def run(guest: dict[str, Path], *, without: tuple[str, ...] = ()) -> tuple[int, str, Path]:
    seal_file = guest["root"] / "vmimage-seal.sh"
    script = render(SEAL_TEMPLATE["linux"], {}, os="linux", vm_name="vm-build-1")
    script = script.replace("/run/vmimage-seal.sh", str(seal_file))
    for name in without:
        (guest["bin"] / name).unlink()
    (guest["root"] / "seal.sh").write_text(script)
    done = subprocess.run(["bash", str(guest["root"] / "seal.sh")], capture_output=True,
                          text=True, timeout=30, env=env_of(guest))
    return done.returncode, done.stdout + done.stderr, seal_file


def env_of(guest: dict[str, Path]) -> dict[str, str]:
    return {"PATH": str(guest["bin"]), "HOME": str(guest["root"])}


def calls(guest: dict[str, Path]) -> list[str]:
    log = guest["log"]
    return log.read_text().splitlines() if log.exists() else []


pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def test_the_run_command_schedules_the_deprovision_and_returns(guest):
    code, output, seal_file = run(guest)
    assert code == 0, output
    made = calls(guest)
    # the command itself never deprovisions (that would stop the agent reporting it)
    assert not any(c.startswith("waagent") for c in made)
    # but it cleans cloud-init itself, before it schedules anything
    assert made.index("cloud-init clean --logs --seed") < next(
        i for i, c in enumerate(made) if c.startswith("systemd-run"))
    (scheduled,) = [c for c in made if c.startswith("systemd-run")]
    assert "--on-active=15" in scheduled and str(seal_file) in scheduled
    assert "StandardOutput=journal+console" in scheduled
    assert "deprovision starts in 15s" in output


def test_the_scheduled_unit_cleans_deprovisions_and_powers_off_in_order(guest):
    code, output, seal_file = run(guest)
    assert code == 0, output
    guest["log"].unlink()
    env = env_of(guest)
    unit = subprocess.run(["bash", str(seal_file)], env=env, capture_output=True, text=True,
                          timeout=30)
    assert unit.returncode == 0, unit.stderr
    assert calls(guest) == ["waagent -force -deprovision+user", "sync", "systemctl poweroff"]
    # A failed deprovision leaves the VM running: nothing half-sealed gets captured.
    guest["log"].unlink()
    (guest["root"] / "waagent-fails").touch()
    failed = subprocess.run(["bash", str(seal_file)], env=env, capture_output=True, text=True,
                            timeout=30)
    assert failed.returncode != 0
    assert "systemctl poweroff" not in calls(guest)


def test_a_rerun_does_not_schedule_twice(guest):
    (guest["root"] / "scheduled").touch()
    code, output, _ = run(guest)
    assert code == 0, output
    assert not any(c.startswith("systemd-run") for c in calls(guest))
    assert "already scheduled by an earlier run" in output


@pytest.mark.parametrize("missing", ["waagent", "systemd-run"])
def test_a_missing_tool_fails_the_run_command_at_once(guest, missing):
    code, output, _ = run(guest, without=(missing,))
    assert code == 1
    assert f"{missing} not found" in output
    assert not any(c.startswith("systemd-run") for c in calls(guest))


def test_cloud_init_is_cleaned_only_where_it_is_installed(guest):
    code, output, _ = run(guest, without=("cloud-init",))
    assert code == 0, output
    assert not any(c.startswith("cloud-init") for c in calls(guest))
    assert any(c.startswith("systemd-run") for c in calls(guest))


def test_a_failed_cloud_init_clean_fails_the_run_command_with_its_output(guest):
    """Nothing is scheduled: the agent still runs, so the command reports the failure."""
    (guest["root"] / "cloud-init-fails").touch()
    code, output, seal_file = run(guest)
    assert code == 1
    assert "Read-only file system" in output and "cloud-init clean failed (exit 1)" in output
    assert not any(c.startswith("systemd-run") for c in calls(guest))
    assert not seal_file.exists()


def test_a_rerun_after_a_failed_unit_clears_it_and_schedules_again(guest):
    """A failed transient unit stays loaded as failed; it must not block a new seal."""
    code, output, _ = run(guest)
    assert code == 0, output
    made = calls(guest)
    reset = made.index("systemctl reset-failed vmimage-seal.timer vmimage-seal.service")
    assert reset < next(i for i, c in enumerate(made) if c.startswith("systemd-run"))
