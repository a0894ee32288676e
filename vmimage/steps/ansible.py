"""Registers an `ansible` step (vmimage/config/steps/ansible.py): the rendered script,
with the playbook's folder in it, as a managed run command."""

from __future__ import annotations

import pulumi

from vmimage.azure import naming
from vmimage.config.steps.ansible import AnsibleStep, render_script
from vmimage.steps.kind import StepContext
from vmimage.steps.run_command import command_name, register_run_command


def register(ctx: StepContext, step: AnsibleStep, index: int) -> pulumi.CustomResource:
    return register_run_command(
        ctx, logical_name=naming.child_name(ctx.name, f"customize-{index}"),
        name=command_name(index, "ansible"),
        script=render_script(step.ansible, vm_name=ctx.build_vm_name),
        timeout_s=step.ansible.timeout_seconds, step_tag=ctx.step_tag)
