"""The build's failure policy (`builds[].onFailure`) as a Pulumi error hook on each of its
customize steps' run commands.

A failed run command is a failed create (or update) in azure-native: a partial failure,
the command kept in state with its error (pulumi-azure-native `HandleErrorWithCheckpoint`).
The engine then calls the resource's error hooks through the program's callbacks server
(pulumi/pulumi pkg/resource/deploy/step.go `withRetries` / `RunErrorHooks`) with the
failed operation and the errors so far, newest first; True asks it to try again. This hook
applies the policy to the VM the command ran on (the command's own `resourceGroupName` and
`vmName` inputs), says so with the commands to look at it, and never asks for a retry: a
failed script fails the same way again.

The hook never raises: an error from a hook replaces the step's own error in what
`pulumi up` reports ("error hook ... failed"). So a policy that cannot be applied (Azure
refused, no credentials) is said in the warning, and the step's error stays the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
from pulumi.resource_hooks import ErrorHook, ErrorHookArgs

from vmimage.azure.client import describe
from vmimage.azure.failure_policy import VM_GONE, apply_failure_policy, failure_message
from vmimage.azure.invokes import is_not_found
from vmimage.azure.reads import compute_client

#: The operations of a run command that mean its script failed (a delete is not a step).
STEP_OPERATIONS = ("create", "update")


def failure_hook(name: str, policy: str,
                 client: Callable[[], Any] = compute_client) -> ErrorHook:
    """The error hook of one build's steps, registered once under `name` (the engine
    refuses a name twice). `client`: where the ComputeManagementClient comes from."""

    async def on_error(args: ErrorHookArgs) -> bool:
        if args.failed_operation not in STEP_OPERATIONS:
            return False
        inputs = args.new_inputs or args.old_inputs or {}
        rg, vm, command = (_text(inputs, key) for key in
                           ("resourceGroupName", "vmName", "runCommandName"))
        if rg is None or vm is None:
            return False  # not a run command: nothing to apply the policy to
        problem = await apply_policy(client, rg, vm, policy)
        pulumi.log.warn(failure_message(rg, vm, command, policy, problem))
        return False  # a failed script fails the same way again

    return ErrorHook(name, on_error)


async def apply_policy(client: Callable[[], Any], resource_group: str, vm_name: str,
                       policy: str) -> str | None:
    """Apply `policy` off the event loop (a deallocate takes minutes); why it could not be
    applied, or None."""
    if policy == "keep":
        return None
    try:
        compute = client()
        if compute is None:
            return "no Azure to act on"
        await asyncio.get_running_loop().run_in_executor(
            None, apply_failure_policy, compute, resource_group, vm_name, policy)
    except Exception as err:  # whatever Azure or the credential said: reported, not raised
        return VM_GONE if is_not_found(err) else describe(err) or type(err).__name__
    return None


def _text(inputs: Mapping[str, Any], key: str) -> str | None:
    value = inputs.get(key)
    return value if isinstance(value, str) and value else None
