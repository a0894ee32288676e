"""Registers a `file` step (vmimage/config/steps/file.py): the copy-file script, with
the identity that reads a blob, as a managed run command."""

from __future__ import annotations

import pulumi

from vmimage.azure import naming
from vmimage.config.steps.file import FileStep, identity_for, render_script
from vmimage.steps.kind import StepContext
from vmimage.steps.run_command import command_name, register_run_command


def register(ctx: StepContext, step: FileStep, index: int) -> pulumi.CustomResource:
    identity = identity_for(step.file, tuple(ctx.build.identities))  # checked by the spec
    return register_run_command(
        ctx, logical_name=naming.child_name(ctx.name, f"customize-{index}"),
        name=command_name(index, "copy-file"),
        script=render_script(step.file, os=ctx.spec.os, vm_name=ctx.build_vm_name,
                             identity=identity),
        timeout_s=step.file.timeout_seconds, step_tag=ctx.step_tag)
