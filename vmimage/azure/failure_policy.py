"""What happens to a build VM when one of its customize steps fails (`builds[].onFailure`),
and what the user is told to look at it with. No Pulumi here: the error hook that applies
it is vmimage/steps/on_failure.py.

- `deallocate` (the default): ARM's deallocate. A deallocated VM is not billed for
  compute; its disks are kept (and billed), so the failed guest can be started and looked
  at. The next `pulumi up` starts it again (vmimage/stack/evictions.py) before the steps.
- `keep`: nothing is done; the VM runs on (compute billed) as the step left it.
- `delete`: ARM's delete of the VM. Its OS disk and data disks go with it (deleteOption
  Delete, vmimage/parts/disks.py and vm_profile.py); its NIC stays (deleteOption Detach)
  and is used again. Pulumi's state still holds the VM: only `pulumi up --refresh` finds it
  gone and creates it again.
"""

from __future__ import annotations

from shlex import quote as shquote  # the guest bash escaper's quote (scripts/render.py)
from typing import Any

POLICIES = ("keep", "deallocate", "delete")
#: The policy's `problem` when ARM has no such VM (an earlier failure deleted it).
VM_GONE = "the VM does not exist"


def apply_failure_policy(client: Any, resource_group: str, vm_name: str, policy: str) -> None:
    """Carry out `policy` on the VM through a ComputeManagementClient, waiting until ARM
    reports the operation done. Raises what the client raises."""
    if policy == "deallocate":
        client.virtual_machines.begin_deallocate(resource_group, vm_name).result()
    elif policy == "delete":
        client.virtual_machines.begin_delete(resource_group, vm_name).result()
    elif policy != "keep":
        raise ValueError(f"unknown failure policy {policy!r}; expected one of {POLICIES}")


def inspect_commands(resource_group: str, vm_name: str, run_command: str | None,
                     policy: str) -> list[str]:
    """Commands that show the failed step and the VM, names quoted for a POSIX shell."""
    rg, vm = shquote(resource_group), shquote(vm_name)
    found = []
    if policy == "deallocate":
        found.append(f"az vm start -g {rg} -n {vm}")
    if policy != "delete" and run_command:
        found.append(f"az vm run-command show -g {rg} --vm-name {vm} "
                     f"--run-command-name {shquote(run_command)} --instance-view")
    if policy != "delete":
        found.append(f"az vm boot-diagnostics get-boot-log -g {rg} -n {vm}")
    return found


def failure_message(resource_group: str, vm_name: str, run_command: str | None, policy: str,
                    problem: str | None = None, *, step: str | None = None) -> str:
    """What the run says after a step failed: what became of the build VM, how to look at
    it, and what to run next. `problem`: why the policy could not be applied; `step`: how
    to name the step (default: by its run command)."""
    rg, vm = shquote(resource_group), shquote(vm_name)
    step = step or (f"step {run_command}" if run_command else "a customize step")
    if problem == VM_GONE:
        return (f"build VM {vm_name}: {step} failed; the VM does not exist (deleted by an "
                "earlier failure with onFailure: delete?). Pulumi's state still holds it: "
                "run `pulumi up --refresh` next, so it is created again")
    if problem is not None:
        done = (f"onFailure {policy} could not be applied ({problem}): the VM is still "
                f"running and billed; to stop the compute billing: az vm deallocate -g {rg} "
                f"-n {vm}")
        policy = "keep"
    elif policy == "deallocate":
        done = ("deallocated (onFailure: deallocate): no compute billed, its disks kept; "
                "the next `pulumi up` starts it again before the steps not done yet")
    elif policy == "keep":
        done = "left running as the step left it (onFailure: keep; compute billed)"
    else:
        done = ("deleted with its disks (onFailure: delete); its NIC stays. Pulumi's state "
                "still holds it: run `pulumi up --refresh` next, so the VM is created again")
    lines = [f"build VM {vm_name}: {step} failed; the VM was {done}" if problem is None
             else f"build VM {vm_name}: {step} failed; {done}"]
    commands = inspect_commands(resource_group, vm_name, run_command, policy)
    if commands:
        lines.append("to look at it:")
        lines.extend(f"  {command}" for command in commands)
    return "\n".join(lines)
