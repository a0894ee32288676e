"""`{restart: {timeoutSeconds: 900}}`: reboot the build VM through ARM and wait until its
guest agent reports Ready (vmimage/providers/restart.py); may sit between any two steps,
on either OS (Windows Update, a kernel upgrade, a domain join)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from vmimage.config.base import SpecModel
from vmimage.config.steps.kind import StepKind, none


class RestartOptions(SpecModel):
    timeout_seconds: int = Field(900, ge=60, le=3600, description="how long the guest agent "
                                 "may take to report Ready after the reboot")


def _defaults_if_empty(value: object) -> object:
    return {} if value is None else value  # `- restart:` with nothing after it


class RestartStep(SpecModel):
    restart: Annotated[RestartOptions, BeforeValidator(_defaults_if_empty)] = Field(
        description="reboot the build VM, then wait for its agent")






KIND = StepKind(key="restart", model=RestartStep, run_commands=none, restarts=lambda _step, _os: 1,
                description="reboot the build VM and wait for its guest agent")
