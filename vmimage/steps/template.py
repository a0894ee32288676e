"""Registers a `template` step (vmimage/config/steps/template.py): the rendered template
as a managed run command. A template that may need a restart (it can print
vocabulary.RESTART_MARKER, as install-features does when a feature's RestartNeeded says
Yes) is followed by a `Restart` VM action that reads the command's output and restarts
only when the marker is there: the graph is fixed before anything runs, what the guest
answers decides at run time."""

from __future__ import annotations

from dataclasses import replace

import pulumi

from vmimage.azure import naming
from vmimage.config.steps.template import TemplateStep, stem_of
from vmimage.scripts.render import render
from vmimage.steps.kind import StepContext
from vmimage.steps.restart import register_restart
from vmimage.steps.run_command import command_name, register_run_command
from vmimage.vocabulary import RESTART_MARKER

#: How long the guest agent may take to report Ready after a restart a step asked for.
RESTART_TIMEOUT_S = 1800


def register(ctx: StepContext, step: TemplateStep, index: int) -> pulumi.CustomResource:
    name = command_name(index, stem_of(step.template))
    script = render(step.template, step.vars, os=ctx.spec.os, vm_name=ctx.build_vm_name)
    command = register_run_command(
        ctx, logical_name=naming.child_name(ctx.name, f"customize-{index}"), name=name,
        script=script, timeout_s=step.timeout_seconds, step_tag=ctx.step_tag)
    if RESTART_MARKER not in script:
        return command
    # Registered for captured builds too (a build's graph never changes when it is
    # captured); on a build captured before it existed, its create only reads the old
    # command's output, which asks for nothing.
    return register_restart(replace(ctx, previous=command),
                            naming.child_name(ctx.name, f"customize-{index}-restart"),
                            RESTART_TIMEOUT_S, when_asked_by=name)
