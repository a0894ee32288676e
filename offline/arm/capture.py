"""What a capture reads from its source VM: it must be generalized; its data disks'
LUNs are what the image keeps; its Hyper-V generation is its image's."""

from __future__ import annotations

from typing import Any

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


def image_generation(arm: ControlPlane, profile: dict[str, Any]) -> str | None:
    """The Hyper-V generation of what a VM (or a scale set's VM profile) boots: its
    marketplace image's, or its gallery version's definition's, or its managed image's
    (None: not known here)."""
    ref = get_path(profile, "storageProfile.imageReference") or {}
    image_id = str(ref.get("id") or "").lower()
    if image_id:
        source = arm.resources.get(image_id.rsplit("/versions/", 1)[0])
        generation = source.props.get("hyperVGeneration") if source else None
        return str(generation) if generation else None
    entry = arm.marketplace.get((str(ref.get("publisher", "")).lower(),
                                 str(ref.get("offer", "")).lower(),
                                 str(ref.get("sku", "")).lower()))
    return entry.generation if entry else None
