"""Read at the program's boundary only (__main__.py): which commit and which vmimage
release build this run, for the provenance tags (vmimage/config/provenance.py)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from vmimage.config.provenance import RunIdentity

_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def release() -> str:
    try:
        return metadata.version("vmimage")
    except metadata.PackageNotFoundError:
        return "unknown"


def commit(environ: Mapping[str, str], cwd: Path) -> str | None:
    """GITHUB_SHA in Actions, else `git rev-parse HEAD`, else None (no git, no repository):
    only a commit id is taken, nothing else from the environment."""
    sha = environ.get("GITHUB_SHA", "").strip().lower()
    if _SHA.match(sha):
        return sha
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    head = done.stdout.strip().lower()
    return head if done.returncode == 0 and _SHA.match(head) else None


def run_identity(cwd: Path) -> RunIdentity:
    return RunIdentity(commit(os.environ, cwd), release())
