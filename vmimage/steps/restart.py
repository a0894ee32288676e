"""`{restart: {timeoutSeconds: 900}}`: reboot the build VM through ARM and wait until its
guest agent reports Ready (vmimage/providers/restart.py); may sit between any two steps,
on either OS (Windows Update, a kernel upgrade, a domain join)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BeforeValidator, Field

from vmimage.config.base import SpecModel
from vmimage.steps.kind import StepContext, StepKind, none, one

if TYPE_CHECKING:
    import pulumi


class RestartOptions(SpecModel):
    timeout_seconds: int = Field(900, ge=60, le=3600, description="how long the guest agent "
                                 "may take to report Ready after the reboot")


def _defaults_if_empty(value: object) -> object:
    return {} if value is None else value  # `- restart:` with nothing after it


class RestartStep(SpecModel):
    restart: Annotated[RestartOptions, BeforeValidator(_defaults_if_empty)] = Field(
        description="reboot the build VM, then wait for its agent")


def register_restart(ctx: StepContext, logical_name: str, timeout_s: float,
                     when_asked_by: str | None = None) -> pulumi.CustomResource:
    """A `Restart` VM action after `ctx.previous` (a restart step, or a round of another
    kind's, e.g. windowsUpdate); with `when_asked_by`, only if that run command's output
    asked for it."""
    import pulumi

    from vmimage.components.frozen import frozen_inputs
    from vmimage.components.ordering import after_all
    from vmimage.providers.restart import RESTART_INPUTS, Restart, RestartArgs
    from vmimage.providers.vm_action import subscription_output

    assert ctx.vm_id is not None  # a build VM that exists: a step runs on it
    after = ctx.previous.id if ctx.previous is not None else ctx.vm_id
    return Restart(
        logical_name,
        RestartArgs(resource_group_name=ctx.resource_group_name, vm_name=ctx.vm_name,
                    vm_id=ctx.vm_id, vm_unique_id=ctx.vm_unique_id,
                    location=ctx.spec.location, after=after, timeout_seconds=timeout_s,
                    when_asked_by=when_asked_by, subscription_id=subscription_output(ctx.vm_id)),
        opts=pulumi.ResourceOptions(
            parent=ctx.parent, depends_on=after_all([ctx.previous]),
            ignore_changes=frozen_inputs(RESTART_INPUTS, ctx.frozen), deleted_with=ctx.vm),
    )


def _register(ctx: StepContext, step: RestartStep, index: int) -> pulumi.CustomResource:
    from vmimage.azure import naming

    return register_restart(ctx, naming.child_name(ctx.name, f"customize-{index}"),
                            step.restart.timeout_seconds)


KIND = StepKind(key="restart", model=RestartStep, register=_register, run_commands=none,
                restarts=one,
                description="reboot the build VM and wait for its guest agent")
