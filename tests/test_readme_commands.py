"""Every offline command the README gives works as written, in a fresh shell, in a fresh
copy of the project, after the README's set-up (the venv made by `make`, activated).

Shell blocks are read from README.md; a block runs when each of its commands is one of
the offline commands. The blocks that cannot run here (real Azure: `pulumi`, `az`) are
named below, so a new block is either run or knowingly listed, never silently passed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: Commands a README block may run here (first word of each command line).
OFFLINE = ("vmimage-offline", "vmimage-plan", "vmimage outdated", "vmimage bump",
           "vmimage lineage", "source", "sub=")
#: Blocks left out, by their first line, and why.
NOT_HERE = {
    "make demo    # creates .venv, installs, runs the dev stack against the simulated Azure":
        "the set-up itself: it made the venv these tests run in",
    "make test                      # or just: python3 -m venv .venv && .venv/bin/pip install "
    "-r requirements.txt": "real Azure: needs the Pulumi CLI and an Azure login",
}
#: The README's set-up, as a new shell after `make demo` has it.
SETUP = "source .venv/bin/activate\n"


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, re.M | re.S)


def commands(block: str) -> list[str]:
    """The block's command lines (continuations joined, comments and blanks dropped)."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def runnable(block: str) -> bool:
    return all(command.startswith(OFFLINE) for command in commands(block))


BLOCKS = shell_blocks(README.read_text(encoding="utf-8"))


def test_every_block_is_run_or_knowingly_left_out():
    left_out = {block.splitlines()[0] for block in BLOCKS if not runnable(block)}
    assert left_out == set(NOT_HERE)
    assert sum(runnable(block) for block in BLOCKS) >= 3


@pytest.fixture(scope="module")
def fresh_copy(tmp_path_factory) -> Path:
    """The project's files as git has them (tracked, and new files it does not ignore),
    with the venv the README's set-up made."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    copy = tmp_path_factory.mktemp("fresh") / "vmimage"
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def fresh_shell_env(home: Path) -> dict[str, str]:
    """What a new login has: no venv active, no project variables, 80 columns."""
    return {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "COLUMNS": "80",
            "LANG": os.environ.get("LANG", "C.UTF-8")}


@pytest.mark.parametrize("block", [b for b in BLOCKS if runnable(b)],
                         ids=lambda b: commands(b)[-1][:60])
def test_readme_block_runs_as_written(block, fresh_copy, tmp_path):
    script = SETUP + "set -e\n" + block
    done = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], cwd=fresh_copy,
                          env=fresh_shell_env(tmp_path), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{block}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n" \
                                 f"{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr


def test_outputs_of_the_examples_stay_out_of_git(fresh_copy):
    """What the examples write lands in out/, which git ignores (a `git status` after
    trying the README shows nothing new)."""
    written = ["out/dev.state.json", "out/dev.state.json.key", "out/dev.state.json.lock",
               "out/plan.md", "out/run.json"]
    ignored = subprocess.run(["git", "check-ignore", *written], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    assert ignored == written
    # The folder itself is in every clone (an output in a missing folder is refused).
    assert subprocess.run(["git", "check-ignore", "-q", "out/.gitignore"], cwd=ROOT).returncode == 1
