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

from pydantic import Field

from vmimage.config.base import SpecModel

#: Azure runs a managed run command for at most 90 minutes (run-command-managed docs).
MAX_RUN_COMMAND_S = 5400


class RunCommandStep(SpecModel):
    """A step that runs a script in the guest through a managed run command."""

    timeout_seconds: int = Field(1800, ge=60, le=MAX_RUN_COMMAND_S,
                                 description="run command timeout in seconds")


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


def as_configured(step: Any) -> dict[str, Any]:
    return step.model_dump(mode="json", by_alias=True)


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
    restarts: Callable[[Any], int] = none
    """How many restarts (VM actions) it registers."""
    description: str = ""
