"""`{script: scripts/harden.sh}`: a plain script file of the project, run as it is (no
Jinja) as a managed run command. Its content is part of the build's fingerprint: editing
the file after capture is a changed build, like editing its config."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import Field

from vmimage.config.limits import MAX_SCRIPT_BYTES
from vmimage.config.steps.kind import StepKind, UserScriptStep, as_configured, script_restarts
from vmimage.scripts.render import PROJECT_DIR

#: The file name a script must end with on each OS: the run command runs it with bash
#: (RunShellScript) or PowerShell (RunPowerShellScript), whatever it is.
EXTENSIONS = {"linux": ".sh", "windows": ".ps1"}


class ScriptStep(UserScriptStep):
    script: str = Field(min_length=1, description="a script file of the project, relative to "
                        "Pulumi.yaml's directory: .sh on Linux, .ps1 on Windows; run as it is")


def read_script(relative: str, root: Path | None = None) -> str:
    """The script's text; OSError or ValueError say why it cannot be read."""
    path = (root or PROJECT_DIR) / relative
    if not path.is_file():
        raise OSError(f"{relative!r} is not a file of the project")
    data = path.read_bytes()
    if len(data) > MAX_SCRIPT_BYTES:
        raise ValueError(f"{relative!r} is {len(data):,} bytes; at most {MAX_SCRIPT_BYTES:,}")
    if b"\x00" in data:
        raise ValueError(f"{relative!r} holds a NUL byte: not a script")
    return data.decode("utf-8")  # UnicodeDecodeError is a ValueError


def _problems(step: ScriptStep, os: str, at: str) -> list[str]:
    path = PurePosixPath(step.script)
    if path.is_absolute() or ".." in path.parts or "\\" in step.script:
        return [f"{at}.script: {step.script!r} must be a path inside the project, relative "
                "to Pulumi.yaml's directory, without '..'"]
    if path.suffix != EXTENSIONS[os]:
        return [f"{at}.script: {os} builds run {EXTENSIONS[os]} scripts (got {step.script!r})"]
    try:
        read_script(step.script)
    except (OSError, ValueError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        return [f"{at}.script: {reason}"]
    return []


def _fingerprint(step: ScriptStep) -> dict[str, Any]:
    text = read_script(step.script)
    return {**as_configured(step),
            "sha256": hashlib.sha256(text.encode()).hexdigest()}


def _script_text(step: ScriptStep, _os: str) -> str | None:
    try:
        return read_script(step.script)
    except (OSError, ValueError):
        return None


KIND = StepKind(key="script", model=ScriptStep, problems=_problems,
                fingerprint=_fingerprint, script_text=_script_text, restarts=script_restarts,
                description="a script file of the project, as it is")
