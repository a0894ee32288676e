"""What a capture reads from its source VM: it must be generalized; its data disks'
LUNs are what the image keeps."""

from __future__ import annotations

from offline.arm.control import ControlPlane
from offline.arm.model import ArmError, ArmResource, get_path


def captured_vm(arm: ControlPlane, vm_id: str | None, at: float, what: str) -> ArmResource:
    vm = arm.find(vm_id, at, "source virtual machine")
    power, os_state = arm.vm_state(vm.id, at)
    if os_state != "generalized":
        raise ArmError(
            409, "OperationNotAllowed",
            f"{what} from VM '{vm.name}' needs OSState/generalized, but at t={at:.0f}s the "
            f"VM is {power} and {os_state}: deprovision and generalize it first.",
        )
    return vm


def disk_luns(vm: ArmResource) -> list[int]:
    return sorted(int(d["lun"]) for d in get_path(vm.props, "storageProfile.dataDisks") or [])
