"""Registers a `restart` step (vmimage/config/steps/restart.py): a `Restart` VM action
(vmimage/providers/restart.py) that reboots the build VM and waits for its agent."""

from __future__ import annotations

import pulumi

from vmimage.azure import naming
from vmimage.config.steps.restart import RestartStep
from vmimage.parts.frozen import frozen_inputs
from vmimage.parts.ordering import after_all
from vmimage.providers.restart import RESTART_INPUTS, Restart, RestartArgs
from vmimage.providers.vm_action import subscription_output
from vmimage.steps.kind import StepContext


def register_restart(ctx: StepContext, logical_name: str, timeout_s: float,
                     when_asked_by: str | None = None) -> pulumi.CustomResource:
    """A `Restart` VM action after `ctx.previous` (a restart step, or a round of another
    kind's, e.g. windowsUpdate); with `when_asked_by`, only if that run command's output
    asked for it."""
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
            ignore_changes=frozen_inputs(RESTART_INPUTS, ctx.frozen), deleted_with=ctx.vm,
            # A reboot the guest never comes back from: the build's onFailure policy acts.
            hooks=ctx.hooks),
    )


def register(ctx: StepContext, step: RestartStep, index: int) -> pulumi.CustomResource:
    return register_restart(ctx, naming.child_name(ctx.name, f"customize-{index}"),
                            step.restart.timeout_seconds)
