"""A script run in the build VM's guest as an ARM managed run command: what the
template, script and inline steps register, and the legacy deprovision command."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_azure_native import compute

from vmimage.parts import vm_profile
from vmimage.parts.frozen import frozen_inputs
from vmimage.parts.ordering import after_all
from vmimage.steps.kind import StepContext
from vmimage.vocabulary import STEP_INDEX_TAG, STEP_KIND_TAG, STEP_TAG


def command_name(index: int, stem: str) -> str:
    """The run command's Azure name: ordered and readable (`customize-00-install-packages`)."""
    return f"customize-{index:02d}-{stem}"


def step_tags(ctx: StepContext) -> dict[str, str]:
    """Which step a run command is, as data: its kind and index (none for the legacy
    deprovision command)."""
    found = {STEP_KIND_TAG: ctx.kind} if ctx.kind else {}
    if ctx.index is not None:
        found[STEP_INDEX_TAG] = str(ctx.index)
    return found


def register_run_command(
    ctx: StepContext, *, logical_name: str, name: str, script: str, timeout_s: int,
    step_tag: str, asynchronous: bool = False,
) -> compute.VirtualMachineRunCommandByVirtualMachine:
    inputs: dict[str, Any] = dict(
        resource_group_name=ctx.resource_group_name,
        vm_name=ctx.vm_name,
        run_command_name=name,
        location=ctx.spec.location,
        source=compute.VirtualMachineRunCommandScriptSourceArgs(script=script),
        async_execution=asynchronous,
        timeout_in_seconds=timeout_s,
        # A failing script fails `pulumi up` with its output, instead of a VM that
        # reports success and an image that was never customized.
        treat_failure_as_deployment_failure=True,
        # What the step is, as data: reviews and reports read it here, not from names.
        tags=vm_profile.tags("build", ctx.build.version, **{STEP_TAG: step_tag},
                             **step_tags(ctx)),
    )
    command = compute.VirtualMachineRunCommandByVirtualMachine(
        logical_name, **inputs,
        opts=pulumi.ResourceOptions(
            parent=ctx.parent,
            # Run commands on one VM must not overlap, and order matters: depends_on is
            # the honest edge, since no output of one step feeds the next (by a stand-in,
            # so that a long chain of steps does not make the SDK recurse along it).
            depends_on=after_all([ctx.previous]),
            ignore_changes=frozen_inputs(inputs, ctx.frozen),
            # Deleting a run command from a VM that is not running is refused (409);
            # deleting the VM deletes its run commands. So when the VM goes (a retired
            # build), Pulumi deletes only the VM.
            deleted_with=ctx.vm,
            # A failed script: the build's onFailure policy acts on the VM.
            hooks=ctx.hooks,
        ),
    )
    if ctx.scripts is not None and ctx.index is not None:
        # The script as the resource holds it: a frozen (captured) build's is the one it
        # was captured with, whatever this release would render now.
        ctx.scripts.append((ctx.index, command.source.apply(
            lambda held: held_script(held, script))))
    return command


def held_script(held: Any, given: str) -> str:
    """The script a run command's `source` output holds (the given one when the engine
    answered none, as plain mocks do)."""
    found = getattr(held, "script", None) if held is not None else None
    if found is None and isinstance(held, dict):
        found = held.get("script")
    return str(found) if found is not None else given
