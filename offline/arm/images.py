"""Managed images: captured from a generalized VM (no Trusted Launch, no confidential
VM), usable in their own region only; and the image read the program makes."""

from __future__ import annotations

from typing import Any

from offline.arm.capture import captured_vm, disk_luns
from offline.arm.control import ControlPlane
from offline.arm.model import ArmError, Outcome, get_path, name_check
from offline.arm.security import security_type
from vmimage.azure import naming
from vmimage.azure.security_types import STANDARD


def managed_image(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    name_check(naming.MANAGED_IMAGE, p["imageName"])
    rid = arm.provider_id(p["resourceGroupName"], "Microsoft.Compute/images", p["imageName"])
    existing = arm.resources.get(rid.lower())
    if existing is not None and existing.deleted_at is None:
        return Outcome(rid, 0, existing.outputs)
    vm = captured_vm(arm, get_path(p, "sourceVirtualMachine.id"), at, "Capturing a managed image")
    if security_type(vm.props) != STANDARD:
        raise ArmError(
            400, "InvalidParameter",
            f"Managed images do not support {security_type(vm.props)} VMs; capture to a "
            "gallery instead.",
        )
    duration = arm.latency("managedImage.create")
    return Outcome(rid, duration, {"dataDiskLuns": disk_luns(vm), "sourceVmId": vm.id})


def get_image(arm: ControlPlane, a: dict[str, Any], at: float) -> dict[str, Any]:
    rg = arm.rg_id(a["resourceGroupName"])
    return arm.read(arm.provider_id(a["resourceGroupName"], "Microsoft.Compute/images",
                                    a["imageName"]),
                    [(rg, "ResourceGroupNotFound")], at)
