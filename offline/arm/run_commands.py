"""Managed run commands: they need a running VM with its guest agent; what a script does
to the VM and to the command's result is the simulated guest's (offline/guest.py); an
asynchronous one is answered once its script has started."""

from __future__ import annotations

from typing import Any

from offline import guest
from offline.arm.control import ControlPlane
from offline.arm.model import ArmError, ArmResource, Outcome, get_path
from offline.secrets import unwrap
from vmimage.vocabulary import STEP_TAG


def run_command(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    """A managed run command: needs a running VM with its agent; what the script does to
    the VM and to the command's result is the simulated guest's (offline/guest.py)."""
    rg, vm_name = p["resourceGroupName"], p["vmName"]
    arm.require_group(rg, at)
    vm_id = arm.provider_id(rg, "Microsoft.Compute/virtualMachines", vm_name)
    vm = arm.require_parent(vm_id, at, "virtual machine")
    step = (p.get("tags") or {}).get(STEP_TAG)
    if arm.faults is not None and arm.faults.evicts(unwrap(vm.props), step=step):
        arm.vms[vm_id.lower()].set(at, "deallocated")  # Azure took the Spot capacity back
    power, os_state = arm.vm_state(vm_id, at)
    if power != "running":
        raise ArmError(
            409, "OperationNotAllowed",
            f"Run command '{p['runCommandName']}' needs a running VM with its guest agent; "
            f"VM '{vm_name}' is {power}.",
        )
    name = p["runCommandName"]
    if arm.faults is not None:
        arm.faults.before_script(name, vm_name, step=step)
    asynchronous = bool(p.get("asyncExecution"))
    run = guest.run_script(
        get_path(p, "source.script") or "", windows=is_windows(vm), asynchronous=asynchronous,
        latency=arm.latency, state=arm.guest_state(), vm_name=vm_name,
        exit_code=arm.faults.exit_code(step=step) if arm.faults is not None else None)
    if run.power_off_after_s is not None:
        arm.vms[vm_id.lower()].set(at + run.power_off_after_s, "stopped")
    rid = f"{vm_id}/runCommands/{name}"
    arm.guest_runs[rid.lower()] = (at, run)
    if asynchronous:
        # ARM answers once the script has started; its end is only in the instance view.
        started = arm.latency("runCommand.async")
        return Outcome(rid, started, {}, name, update_duration=started)
    if not run.reports:
        # The agent never reports: ARM gives up on the extension after its own timeout.
        raise ArmError(
            409, "VMExtensionProvisioningTimeout",
            f"Run command '{name}' on VM '{vm_name}' never reported back: "
            + "; ".join(run.notes), after_s=arm.latency("runCommand.agentLost"))
    if not run.succeeded and p.get("treatFailureAsDeploymentFailure"):
        # The command stays on the VM, Failed, with its output in its instance view.
        raise ArmError(
            409, "VMExtensionProvisioningError",
            f"Run command '{name}' on VM '{vm_name}' failed: the script exited with code "
            f"{run.exit_code}. Script output:\n{(run.error or run.output).strip()}",
            after_s=run.duration_s, kept=rid)
    # A PUT to a command that exists runs the (changed) script again: it takes as long.
    return Outcome(rid, run.duration_s, {}, name, update_duration=run.duration_s)


def is_windows(vm: ArmResource) -> bool:
    return "windowsConfiguration" in (get_path(unwrap(vm.props), "osProfile") or {})


def get_run_command(arm: ControlPlane, a: dict[str, Any], at: float) -> dict[str, Any]:
    vm_id = arm.provider_id(a["resourceGroupName"], "Microsoft.Compute/virtualMachines",
                            a["vmName"])
    command_id = f"{vm_id}/runCommands/{a['runCommandName']}"
    resource = arm.resources.get(command_id.lower())
    if resource is None or resource.deleted_at is not None:
        raise ArmError(404, "ResourceNotFound",
                       f"The Resource 'runCommands/{a['runCommandName']}' was not found.")
    return {"id": resource.id, "name": resource.name}
