"""Registers a `windowsUpdate` step (vmimage/config/steps/windows_update.py): `rounds`
times a run command and a restart, then a run command that verifies."""

from __future__ import annotations

from dataclasses import replace

import pulumi

from vmimage.azure import naming
from vmimage.config.steps.windows_update import WindowsUpdateStep, render_round
from vmimage.steps.kind import StepContext
from vmimage.steps.restart import register_restart
from vmimage.steps.run_command import command_name, register_run_command


def register(ctx: StepContext, step: WindowsUpdateStep, index: int) -> pulumi.CustomResource:
    options = step.windows_update
    previous = ctx.previous
    for k in range(1, options.rounds + 1):
        previous = register_run_command(
            replace(ctx, previous=previous),
            logical_name=naming.child_name(ctx.name, f"customize-{index}-wu{k}"),
            name=command_name(index, f"windows-update-r{k}"),
            script=render_round(options, round_no=k, verify=False, vm_name=ctx.build_vm_name),
            timeout_s=options.timeout_seconds, step_tag=ctx.step_tag)
        previous = register_restart(
            replace(ctx, previous=previous),
            naming.child_name(ctx.name, f"customize-{index}-wu{k}-restart"),
            options.restart_timeout_seconds)
    return register_run_command(
        replace(ctx, previous=previous),
        logical_name=naming.child_name(ctx.name, f"customize-{index}-wu-verify"),
        name=command_name(index, "windows-update-verify"),
        script=render_round(options, round_no=options.rounds, verify=True,
                            vm_name=ctx.build_vm_name),
        timeout_s=options.timeout_seconds, step_tag=ctx.step_tag)
