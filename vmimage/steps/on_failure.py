"""The build's failure policy (`builds[].onFailure`) as a Pulumi error hook on each
resource of its customize steps: their run commands, and the VM actions some steps are
(a `restart`, a `windowsUpdate` round's restart, a 3010's restart).

A failed run command is a failed create (or update) in azure-native: a partial failure,
the command kept in state with its error (pulumi-azure-native `HandleErrorWithCheckpoint`).
The engine then calls the resource's error hooks through the program's callbacks server
(pulumi/pulumi pkg/resource/deploy/step.go `withRetries` / `RunErrorHooks`) with the
failed operation and the errors so far, newest first; True asks it to try again. A failed
VM action (a dynamic resource whose provider's create raised) is a failed create the
same way. This hook applies the policy to the VM the step acted on (the resource's own
`resourceGroupName` and `vmName` inputs: a run command's, and every VM action's, which
carries them too: vmimage/providers/vm_action.py VM_INPUTS), says so with the commands to
look at it, and never asks for a retry: a failed script fails the same way again, and a
guest that did not come back from a reboot is for a person to look at.

The hook never raises: an error from a hook replaces the step's own error in what
`pulumi up` reports ("error hook ... failed"). So a policy that cannot be applied (Azure
refused, no credentials) is said in the warning, and the step's error stays the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.resource_hooks import ErrorHook, ErrorHookArgs

from vmimage.azure.client import describe
from vmimage.azure.failure_policy import VM_GONE, apply_failure_policy, failure_message
from vmimage.azure.invokes import is_not_found
from vmimage.azure.reads import compute_client

#: The operations of a run command that mean its script failed (a delete is not a step).
STEP_OPERATIONS = ("create", "update")


@dataclass(frozen=True)
class FailedStep:
    """What failed, as a failure message names it."""

    resource_group: str
    vm_name: str
    run_command: str | None
    """The run command's name (None: a VM action, which has no run command to show)."""
    step: str
    """How the message names the step: `step customize-00-install-packages`."""


def failed_step(name: str, type_: str, inputs: Mapping[str, Any],
                steps: str = "") -> FailedStep | None:
    """The step a failed resource is, from its logical `name`, type and inputs; None when
    it names no VM (nothing to apply the policy to). `steps`: the logical name prefix of
    the build's steps, left out of a VM action's name."""
    rg, vm, command = (_text(inputs, key) for key in
                       ("resourceGroupName", "vmName", "runCommandName"))
    if rg is None or vm is None:
        return None
    if command is not None:
        return FailedStep(rg, vm, command, f"step {command}")
    # A VM action: named by its place among the steps, and what it does.
    where = name.removeprefix(f"{steps}-") if steps else name
    action = type_.rsplit(":", 1)[-1].lower()
    return FailedStep(rg, vm, None,
                      f"step {where}" if action in where else f"step {where} ({action})")


def failure_hook(name: str, policy: str, client: Callable[[], Any] = compute_client,
                 steps: str = "") -> ErrorHook:
    """The error hook of one build's steps, registered once under `name` (the engine
    refuses a name twice). `client`: where the ComputeManagementClient comes from;
    `steps`: the logical name prefix of the build's steps."""

    async def on_error(args: ErrorHookArgs) -> bool:
        if args.failed_operation not in STEP_OPERATIONS:
            return False
        failed = failed_step(args.name, args.type, args.new_inputs or args.old_inputs or {},
                             steps)
        if failed is None:
            return False  # nothing to apply the policy to
        problem = await apply_policy(client, failed.resource_group, failed.vm_name, policy)
        pulumi.log.warn(failure_message(failed.resource_group, failed.vm_name,
                                        failed.run_command, policy, problem,
                                        step=failed.step))
        return False  # a failed step fails the same way again

    return ErrorHook(name, on_error)


async def apply_policy(client: Callable[[], Any], resource_group: str, vm_name: str,
                       policy: str) -> str | None:
    """Apply `policy` off the event loop (a deallocate takes minutes), on a thread of its
    own; why it could not be applied, or None."""
    if policy == "keep":
        return None
    try:
        compute = client()
        if compute is None:
            return "no Azure to act on"
        # Its own thread, not the loop's default pool: the SDK's registrations wait there
        # (one of them on this very hook), so a small pool would never free a thread.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="on-failure") as pool:
            await asyncio.get_running_loop().run_in_executor(
                pool, apply_failure_policy, compute, resource_group, vm_name, policy)
    except Exception as err:  # whatever Azure or the credential said: reported, not raised
        return VM_GONE if is_not_found(err) else describe(err) or type(err).__name__
    return None


def _text(inputs: Mapping[str, Any], key: str) -> str | None:
    value = inputs.get(key)
    return value if isinstance(value, str) and value else None
