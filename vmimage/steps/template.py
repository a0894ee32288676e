"""Registers a `template` step (vmimage/config/steps/template.py): the rendered template
as a user script (vmimage/steps/user_script.py: its run command, and the restart it may
ask for)."""

from __future__ import annotations

import pulumi

from vmimage.config.steps.template import TemplateStep, stem_of
from vmimage.scripts.render import render
from vmimage.steps.kind import StepContext
from vmimage.steps.user_script import register_user_script


def register(ctx: StepContext, step: TemplateStep, index: int) -> pulumi.CustomResource:
    script = render(step.template, step.vars, os=ctx.spec.os, vm_name=ctx.build_vm_name)
    return register_user_script(ctx, step, index, stem=stem_of(step.template), script=script)
