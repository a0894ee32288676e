"""Registers a `script` step (vmimage/config/steps/script.py): the file as it is, as a
managed run command."""

from __future__ import annotations

from pathlib import PurePosixPath

import pulumi

from vmimage.azure import naming
from vmimage.config.steps.script import ScriptStep, read_script
from vmimage.steps.kind import StepContext
from vmimage.steps.run_command import command_name, register_run_command


def register(ctx: StepContext, step: ScriptStep, index: int) -> pulumi.CustomResource:
    return register_run_command(
        ctx, logical_name=naming.child_name(ctx.name, f"customize-{index}"),
        name=command_name(index, PurePosixPath(step.script).stem.lower()),
        script=read_script(step.script), timeout_s=step.timeout_seconds,
        step_tag=ctx.step_tag)
