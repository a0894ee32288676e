"""What a kind of customize step is, as the config knows it: the seam each kind plugs into.

A kind is one module under vmimage/config/steps/ that defines its config model (a mapping
whose one distinguishing key names the kind: `template`, `script`, ...), the rules it
checks with the key path named, what of it a captured build's fingerprint covers, and the
script it runs. What it registers on the build VM lives one layer up, in
vmimage/steps/<kind>.py; vmimage/config/steps/__init__.py lists the kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import Field, field_validator

from vmimage.config.base import SpecModel
from vmimage.config.values import ExitCode
from vmimage.scripts.exit_codes import MAX_LINUX_EXIT_CODE, asks_for_restart, exit_codes, wrapped

#: Azure runs a managed run command for at most 90 minutes (run-command-managed docs).
MAX_RUN_COMMAND_S = 5400


class RunCommandStep(SpecModel):
    """A step that runs a script in the guest through a managed run command."""

    timeout_seconds: int = Field(1800, ge=60, le=MAX_RUN_COMMAND_S,
                                 description="run command timeout in seconds")


class UserScriptStep(RunCommandStep):
    """A step whose script is the user's (template, script, inline): its exit codes say
    whether it succeeded, and on Windows 3010 asks for a restart before the next step."""

    valid_exit_codes: tuple[ExitCode, ...] | None = Field(
        None, description="exit codes that mean success (default [0] on Linux, "
        "[0, 3010] on Windows); on Windows 3010 restarts the VM, then the next step runs")

    @field_validator("valid_exit_codes", mode="after")
    @classmethod
    def _once_each(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value == ():
            raise ValueError("at least one code (leave the key out for the default)")
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"{sorted(c for c in set(value) if value.count(c) > 1)} "
                             "listed twice")
        return value


def exit_code_problems(step: Any, os: str, at: str) -> list[str]:
    """A Linux exit status is 0-255: a code above can never be seen."""
    codes = getattr(step, "valid_exit_codes", None) or ()
    wrong = [c for c in codes if not 0 <= c <= MAX_LINUX_EXIT_CODE]
    if os == "linux" and wrong:
        return [f"{at}.validExitCodes: {', '.join(map(str, wrong))}: a Linux exit status "
                f"is 0-{MAX_LINUX_EXIT_CODE}"]
    return []


def guest_script(step: Any, os: str, script: str) -> str:
    """The script a step's run command runs: a user script wrapped to map its exit codes
    (vmimage/scripts/exit_codes.py), any other as it is."""
    if not isinstance(step, UserScriptStep):
        return script
    return wrapped(script, exit_codes(step.valid_exit_codes, os), os)


def script_restarts(step: Any, os: str) -> int:
    """The conditional restart a user script's step registers: 1 when its wrapper may
    ask for one (3010 valid, on Windows)."""
    return int(asks_for_restart(exit_codes(step.valid_exit_codes, os), os))


class StepBuild(Protocol):
    """What a kind's build rules read of the build its step is in (a `BuildSpec`; the
    models are built from the kinds, so the kinds name only what they read)."""

    @property
    def identities(self) -> tuple[str, ...]: ...


def no_problems(_step: Any, _os: str, _at: str) -> list[str]:
    return []


def no_warnings(_step: Any, _at: str) -> list[str]:
    return []


def no_script(_step: Any, _os: str) -> str | None:
    return None


def no_build_problems(_step: Any, _build: Any, _at: str) -> list[str]:
    return []


def one(_step: Any) -> int:
    return 1


def none(_step: Any) -> int:
    return 0


def no_restarts(_step: Any, _os: str) -> int:
    return 0


#: Keys added after builds were captured: they enter the fingerprint only when set, so a
#: build captured before keeps its fingerprint.
LATER_KEYS = ("valid_exit_codes",)


def as_configured(step: Any) -> dict[str, Any]:
    unset = {key for key in LATER_KEYS if getattr(step, key, None) is None}
    return step.model_dump(mode="json", by_alias=True, exclude=unset or None)


@dataclass(frozen=True)
class StepKind:
    key: str
    """The YAML key that names the kind (and tags it in the spec's union)."""
    model: type[SpecModel]
    problems: Callable[[Any, str, str], list[str]] = no_problems
    """(step, os, key path) -> `<key path>: <what is wrong>` lines."""
    warnings: Callable[[Any, str], list[str]] = no_warnings
    fingerprint: Callable[[Any], dict[str, Any]] = as_configured
    """What of the step makes up the image: a change of it is a changed build."""
    build_problems: Callable[[Any, StepBuild, str], list[str]] = no_build_problems
    """(step, build, at) -> what is wrong with the step in its build (e.g. an identity the
    build VM does not have)."""
    script_text: Callable[[Any, str], str | None] = no_script
    """(step, os) -> the script the guest would run, for rules that read it (None: the
    step runs no script, or it cannot be read: reported as a problem)."""
    run_commands: Callable[[Any], int] = one
    """How many run commands the step registers (each runs its script, `script_text`'s
    size or about it): the program's limits count them."""
    restarts: Callable[[Any, str], int] = no_restarts
    """(step, os) -> how many restarts (VM actions) it registers."""
    description: str = ""
