"""Registers an `inline` step (vmimage/config/steps/inline.py): its text as a managed
run command."""

from __future__ import annotations

import pulumi

from vmimage.azure import naming
from vmimage.config.steps.inline import InlineStep
from vmimage.steps.kind import StepContext
from vmimage.steps.run_command import command_name, register_run_command


def register(ctx: StepContext, step: InlineStep, index: int) -> pulumi.CustomResource:
    return register_run_command(
        ctx, logical_name=naming.child_name(ctx.name, f"customize-{index}"),
        name=command_name(index, "inline"), script=step.inline,
        timeout_s=step.timeout_seconds, step_tag=ctx.step_tag)
