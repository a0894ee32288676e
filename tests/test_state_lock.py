"""The `--state` file as something two people and a pipeline share: one run at a time,
its key kept private and never mixed with another state's, a symlink followed on
purpose, output paths checked before anything runs, and nothing saved from a run that a
mandatory policy refused."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from rich.console import Console

import offline.cli
from offline.cli import main
from offline.state import StateError, key_check, state_lock
from vmimage.policy.rules import Violation


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), console=Console(file=out, width=200))
    return code, out.getvalue()


def up(state: Path, *extra: str) -> tuple[int, str]:
    return cli("up", "--stack", "dev", "--state", str(state), "--quiet", *extra)


def test_a_second_run_on_a_held_state_is_refused_naming_the_holder(tmp_path: Path) -> None:
    state = tmp_path / "dev.json"
    with state_lock(state):
        code, output = up(state)
    assert code == 2, output
    assert f"in use by pid {os.getpid()} on " in output and "Traceback" not in output
    assert not state.exists() and not (tmp_path / "dev.json.key").exists()
    code, output = up(state)  # released when the holder is done
    assert code == 0, output


def test_the_lock_dies_with_the_process_that_held_it(tmp_path: Path) -> None:
    state = tmp_path / "dev.json"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom pathlib import Path\nfrom offline.state import state_lock\n"
         f"with state_lock(Path({str(state)!r})):\n"
         "    print('held', flush=True)\n    time.sleep(600)\n"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, output = up(state)
        assert code == 2 and f"in use by pid {holder.pid}" in output, output
    finally:
        holder.kill()  # not a clean exit: the lock must still be released
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    code, output = up(state)
    assert code == 0, output


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "dev.json"
    assert up(state)[0] == 0
    key = tmp_path / "dev.json.key"
    assert key.stat().st_mode & 0o777 == 0o600
    key.chmod(0o644)
    code, output = up(state)
    assert code == 2 and "readable by others" in output and f"chmod 600 {key}" in output


def test_another_state_s_key_is_refused_and_the_state_is_untouched(tmp_path: Path) -> None:
    state = tmp_path / "dev.json"
    assert up(state)[0] == 0
    before = state.read_bytes()
    key = tmp_path / "dev.json.key"
    key.write_text("ab" * 32 + "\n")
    code, output = up(state)
    assert code == 2 and "is not the key" in output
    assert state.read_bytes() == before
    assert json.loads(before)["keyCheck"] != key_check("ab" * 32)


def test_a_symlinked_state_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    link = tmp_path / "dev.json"
    link.symlink_to(shared / "dev.json")
    assert up(link)[0] == 0
    assert up(link)[0] == 0  # the second run plans against the first
    assert link.is_symlink() and (shared / "dev.json").is_file()
    assert (shared / "dev.json.key").is_file() and not (tmp_path / "dev.json.key").exists()
    with state_lock(shared / "dev.json"):  # one lock, whichever name is used
        assert up(link)[0] == 2


@pytest.mark.parametrize("flag", ["--report-json", "--markdown", "--state"])
def test_an_output_that_cannot_be_written_is_refused_before_the_run(
        tmp_path: Path, flag: str) -> None:
    for target, reason in ((tmp_path / "missing" / "out", "does not exist"),
                           (tmp_path, "is a directory")):
        args = ["up", "--stack", "dev", "--quiet", flag, str(target)]
        if flag != "--state":
            args += ["--state", str(tmp_path / "dev.json")]
        code, output = cli(*args)
        assert code == 2 and f"error: {flag} {target}: " in output and reason in output
        assert not (tmp_path / "dev.json").exists(), "the run went ahead"


def test_a_run_refused_by_a_mandatory_policy_is_not_saved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "dev.json"
    assert up(state)[0] == 0
    before = state.read_bytes()

    def refuse(run: object, **_: object) -> list[Violation]:
        return [Violation("test-policy", "mandatory", "urn:pulumi:dev::vmimage::x::y",
                          "refused for the test")]

    monkeypatch.setattr(offline.cli, "check_run", refuse)
    code, output = up(state, "--set", "clones[0].count=4")
    assert code == 1 and "refused for the test" in output
    assert f"the state in {state} was not changed" in output
    assert state.read_bytes() == before
    monkeypatch.undo()
    code, output = cli("up", "--stack", "dev", "--state", str(state), "--set",
                       "clones[0].count=4")
    assert code == 0 and "2 create" in output, output  # the refused change is still ahead


def test_state_lock_refuses_with_a_state_error(tmp_path: Path) -> None:
    with state_lock(tmp_path / "s.json"), pytest.raises(StateError, match="in use by"), \
            state_lock(tmp_path / "s.json"):
        pass
