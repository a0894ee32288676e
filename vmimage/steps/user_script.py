"""A user's script as a step registers it (template, script, inline): the script wrapped
for its valid exit codes (vmimage/config/steps/kind.py `guest_script`), one managed run
command, and a `Restart` VM action after it when the script may ask for one: the wrapper
prints the restart marker on exit 3010 (Windows), or the template prints it itself (as
install-features does when a feature's RestartNeeded says Yes). The Restart reads the
command's output and restarts only when the marker is there: the graph is fixed before
anything runs, what the guest answers decides at run time."""

from __future__ import annotations

from dataclasses import replace

import pulumi

from vmimage.azure import naming
from vmimage.config.steps.kind import UserScriptStep, guest_script
from vmimage.steps.kind import StepContext
from vmimage.steps.restart import register_restart
from vmimage.steps.run_command import command_name, register_run_command
from vmimage.vocabulary import RESTART_MARKER

#: How long the guest agent may take to report Ready after a restart a step asked for.
RESTART_TIMEOUT_S = 1800


def register_user_script(ctx: StepContext, step: UserScriptStep, index: int, *, stem: str,
                         script: str) -> pulumi.CustomResource:
    name = command_name(index, stem)
    runs = guest_script(step, ctx.spec.os, script)
    command = register_run_command(
        ctx, logical_name=naming.child_name(ctx.name, f"customize-{index}"), name=name,
        script=runs, timeout_s=step.timeout_seconds, step_tag=ctx.step_tag)
    if RESTART_MARKER not in script and RESTART_MARKER not in runs:
        return command
    # Registered for captured builds too (a build's graph never changes when it is
    # captured); on a build captured before it existed, its create only reads the old
    # command's output, which asks for nothing.
    return register_restart(replace(ctx, previous=command),
                            naming.child_name(ctx.name, f"customize-{index}-restart"),
                            RESTART_TIMEOUT_S, when_asked_by=name)
