"""Microsoft.Compute virtual machines and scale sets: names, computer names, LUNs, NIC
and disk leases, the image a VM boots from (replicated to its region, LUNs as captured),
the VM PUT limit and image-serving waves; VM extensions (the Application Health one
starts the VM's health signal); and the VM read the program makes."""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from typing import Any

from offline.arm import tenancy
from offline.arm.control import ControlPlane
from offline.arm.model import ArmError, Outcome, VmTimeline, get_path, name_check
from offline.arm.security import check_image_security, check_vm_security
from offline.limits import waves
from offline.secrets import unwrap
from vmimage.azure import naming
from vmimage.azure.licensing import LICENSE_OS
from vmimage.azure.limits import MAX_CUSTOM_DATA_BYTES, MAX_USER_DATA_BASE64_CHARS
from vmimage.vocabulary import GALLERY_IMAGE_VERSION

MAX_SCALE_SET_CAPACITY = 1000  # instances per scale set (Flexible, gallery image)


def vm(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    rg, name = p["resourceGroupName"], p["vmName"]
    arm.require_group(rg, at)
    name_check(naming.VIRTUAL_MACHINE, name)
    rid = arm.provider_id(rg, "Microsoft.Compute/virtualMachines", name)
    os_profile = p.get("osProfile") or {}
    windows = "windowsConfiguration" in os_profile
    problems = naming.computer_name_problems(os_profile.get("computerName", ""), windows=windows)
    if problems:
        raise ArmError(400, "InvalidParameter", problems[0])
    if not windows and not get_path(os_profile, "linuxConfiguration.disablePasswordAuthentication"):
        if not os_profile.get("adminPassword"):
            raise ArmError(400, "InvalidParameter", "A Linux VM needs a password or SSH key.")
    if windows and not os_profile.get("adminPassword"):
        raise ArmError(400, "InvalidParameter", "Required parameter 'adminPassword' is missing.")
    check_license_type(p.get("licenseType"))
    check_bootstrap_data(unwrap(os_profile.get("customData")), unwrap(p.get("userData")))
    storage = p.get("storageProfile") or {}
    image_ref = storage.get("imageReference") or {}
    disks = storage.get("dataDisks") or []
    luns = [d["lun"] for d in disks]
    if any(not 0 <= lun <= 63 for lun in luns) or len(set(luns)) != len(luns):
        raise ArmError(400, "InvalidParameter", f"Data disk LUNs must be unique and 0-63: {luns}")
    if image_ref.get("id"):
        check_vm_image(arm, image_ref["id"], p, disks, at)
    check_vm_security(arm, p, get_path(p, "hardwareProfile.vmSize"), at)
    check_image_security(arm, p, at)
    tenancy.check_vm_references(arm, p, p, at)
    nic_ids = [n["id"] for n in get_path(p, "networkProfile.networkInterfaces") or []]
    for nic_id in nic_ids:
        arm.find(nic_id, at, "network interface")
        holder = arm.leases.get(nic_id.lower())
        if holder and holder != rid.lower() and arm.resources[holder].deleted_at is None:
            raise ArmError(
                400, "NicInUse",
                f"Network interface {nic_id.rsplit('/', 1)[-1]} is used by VM "
                f"{holder.rsplit('/', 1)[-1]}.",
            )
    existing = arm.resources.get(rid.lower())
    if existing is not None and existing.deleted_at is None:
        if arm.vm_state(rid, at)[1] == "generalized":
            raise ArmError(409, "OperationNotAllowed",
                           f"Operation 'PUT' is not allowed on VM '{name}' since the VM is "
                           "generalized.")
        # An update of a live VM: leases and states carry on.
        return Outcome(rid, 0, {"vmId": existing.outputs["vmId"],
                                **tenancy.identity_output(p)}, name)
    for nic_id in nic_ids:
        arm.leases[nic_id.lower()] = rid.lower()
    for disk in disks:
        arm.leases[f"{rid}/disks/lun{disk['lun']}".lower()] = rid.lower()
    # The compute provider's VM PUT limit, then (from an image of this pipeline) a free
    # slot among the VM creations its replicas in the region serve at once.
    begin = arm.vm_puts.admit(at)
    if image_ref.get("id"):
        slots = arm.image_serving_slots(image_ref["id"], str(p.get("location")))
        begin = slots.admit(begin, arm.latency("vm.create"))
    duration = begin - at + arm.latency("vm.create")
    timeline = VmTimeline()
    timeline.set(at + duration, "running", "specialized")
    arm.vms[rid.lower()] = timeline
    # Like Azure's vmId: unique per VM created, so a VM recreated under the same name
    # is told apart (deterministic here: name and creation time).
    unique = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{rid}@{at}"))
    return Outcome(rid, duration, {"vmId": unique, **tenancy.identity_output(p)}, name)


def check_license_type(value: Any) -> None:
    """Azure Hybrid Benefit takes only the documented licence types (compute REST spec
    `licenseType`); the wording of the refusal is a guess."""
    if value is not None and value not in LICENSE_OS:
        raise ArmError(400, "InvalidParameter",
                       f"The value '{value}' of parameter 'licenseType' is not valid; "
                       f"expected one of {', '.join(LICENSE_OS)}.")


def check_bootstrap_data(custom_data: Any, user_data: Any) -> None:
    """customData and userData are base64, at most 65,535 bytes decoded and 64 KB of base64
    (compute REST spec `OSProfile.customData`; learn "User Data for Azure Virtual
    Machine"); the wording of the refusals is a guess."""
    for name, value in (("customData", custom_data), ("userData", user_data)):
        if value is None:
            continue
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ArmError(400, "InvalidParameter",
                           f"The value of parameter '{name}' is not valid base64.") from None
        if name == "customData" and len(decoded) > MAX_CUSTOM_DATA_BYTES:
            raise ArmError(400, "InvalidParameter", "Custom data exceeds the maximum length "
                           f"of {MAX_CUSTOM_DATA_BYTES} bytes.")
        if name == "userData" and len(value) > MAX_USER_DATA_BASE64_CHARS:
            raise ArmError(400, "InvalidParameter", "User data exceeds the maximum length "
                           f"of {MAX_USER_DATA_BASE64_CHARS} characters of base64.")


def check_vm_image(
    arm: ControlPlane, image_id: str, p: dict[str, Any], disks: list[dict[str, Any]], at: float
) -> None:
    image = arm.find(image_id, at, "image")
    location = p.get("location")
    if image.token == GALLERY_IMAGE_VERSION:
        regions = [r["name"] for r in get_path(image.props, "publishingProfile.targetRegions")]
        if location not in regions:
            raise ArmError(
                400, "GalleryImageNotReplicatedToRegion",
                f"Gallery image version '{image.name}' is not replicated to region "
                f"'{location}'; it is in {regions}.",
            )
    elif location != image.props.get("location"):
        raise ArmError(400, "InvalidParameter", "A managed image can only be used in its region.")
    captured = image.outputs.get("dataDiskLuns", [])
    wanted = sorted(int(d["lun"]) for d in disks if d.get("createOption") == "FromImage")
    if wanted != sorted(captured):
        raise ArmError(
            400, "InvalidParameter",
            f"Data disks from image must match the image's LUNs {sorted(captured)}; got {wanted}.",
        )


def scale_set(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    rg, name = p["resourceGroupName"], p["vmScaleSetName"]
    arm.require_group(rg, at)
    name_check(naming.VIRTUAL_MACHINE, name)
    profile = p.get("virtualMachineProfile") or {}
    check_license_type(profile.get("licenseType"))
    check_bootstrap_data(unwrap(get_path(profile, "osProfile.customData")),
                         unwrap(profile.get("userData")))
    image_id = get_path(profile, "storageProfile.imageReference.id")
    if image_id:
        disks = get_path(profile, "storageProfile.dataDisks") or []
        check_vm_image(arm, image_id, p, disks, at)
    check_vm_security(arm, profile, get_path(p, "sku.name"), at)
    check_image_security(arm, profile, at)
    tenancy.check_vm_references(arm, p, profile, at)
    capacity = get_path(p, "sku.capacity") or 0
    if not 0 <= capacity <= MAX_SCALE_SET_CAPACITY:
        raise ArmError(
            400, "InvalidParameter",
            f"Scale set capacity {capacity} is out of 0-{MAX_SCALE_SET_CAPACITY}.",
        )
    if p.get("orchestrationMode") == "Flexible":
        if p.get("platformFaultDomainCount") is None:
            raise ArmError(
                400, "InvalidParameter",
                "Flexible orchestration requires platformFaultDomainCount.",
            )
        rolling = get_path(p, "upgradePolicy.mode") == "Rolling"
        extensions = get_path(profile, "extensionProfile.extensions") or []
        if rolling and not any(
            str(e.get("type", "")).startswith("ApplicationHealth") for e in extensions
        ):
            raise ArmError(
                400, "BadRequest",
                "Rolling Upgrade mode is not supported for this Virtual Machine Scale Set "
                "because a health extension was not provided.",
            )
    for config in get_path(profile, "networkProfile.networkInterfaceConfigurations") or []:
        for ip_config in config.get("ipConfigurations") or []:
            arm.find(get_path(ip_config, "subnet.id"), at, "subnet")
    rid = arm.provider_id(rg, "Microsoft.Compute/virtualMachineScaleSets", name)
    # Instances boot in waves of what the image's replicas in the region serve at once.
    per_wave = arm.image_replicas(image_id or "", str(p.get("location"))) \
        * int(arm.latency("gallery.createsPerReplica"))
    duration = arm.latency("vmss.create") * waves(capacity, per_wave) \
        + arm.latency("vmss.instance") * max(capacity - 1, 0)
    return Outcome(rid, duration, {"uniqueId": str(uuid.uuid5(uuid.NAMESPACE_URL, rid))}, name,
                   update_duration=rolling_upgrade_s(arm, rid, p, capacity))


def rolling_upgrade_s(arm: ControlPlane, rid: str, p: dict[str, Any],
                       capacity: int) -> float | None:
    """A live scale set moved to another image rolls its instances in batches of
    maxBatchInstancePercent, each reimaged, then healthy, then paused: that long."""
    existing = arm.resources.get(rid.lower())
    image = "virtualMachineProfile.storageProfile.imageReference.id"
    if existing is None or existing.deleted_at is not None or \
            get_path(unwrap(existing.props), image) == get_path(p, image):
        return None
    policy = get_path(p, "upgradePolicy.rollingUpgradePolicy") or {}
    per_batch = max(1, math.ceil(capacity * int(policy.get("maxBatchInstancePercent") or 20)
                                 / 100))
    pause = str(policy.get("pauseTimeBetweenBatches") or "PT0S")
    pause_s = float(pause.removeprefix("PT").removesuffix("S") or 0)
    return math.ceil(capacity / per_batch) * (
        arm.latency("vmss.reimage") + arm.latency("guest.health") + pause_s)


def vm_extension(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    """A VM extension; the Application Health one starts the VM's health signal: healthy
    once the guest answers its probe (unless `--faults unhealthy=1`)."""
    vm_id = arm.provider_id(p["resourceGroupName"], "Microsoft.Compute/virtualMachines",
                            p["vmName"])
    arm.require_parent(vm_id, at, "virtual machine")
    if arm.vm_state(vm_id, at)[0] != "running":
        raise ArmError(409, "OperationNotAllowed", "Cannot modify extensions in the VM when "
                       "the VM is not running.")
    duration = arm.latency("vmExtension.create")
    if str(p.get("type", "")).startswith("ApplicationHealth"):
        unhealthy = arm.faults is not None and arm.faults.unhealthy
        arm.healthy_at[vm_id.lower()] = float("inf") if unhealthy else \
            at + duration + arm.latency("guest.health")
    name = p.get("vmExtensionName") or "extension"
    return Outcome(f"{vm_id}/extensions/{name}", duration, {"name": name})


def get_virtual_machine(arm: ControlPlane, a: dict[str, Any], at: float) -> dict[str, Any]:
    """The VM as it is at the start of the run, instance view included."""
    vm_id = arm.provider_id(a["resourceGroupName"], "Microsoft.Compute/virtualMachines",
                            a["vmName"])
    resource = arm.resources.get(vm_id.lower())
    if resource is None or not resource.alive(at) or vm_id.lower() not in arm.vms:
        raise ArmError(404, "ResourceNotFound", f"The Resource '{a['vmName']}' was not found.")
    power, os_state = arm.vms[vm_id.lower()].final()
    statuses = [{"code": f"PowerState/{power}"}]
    if os_state == "generalized":
        statuses.append({"code": "OSState/generalized"})
    return {"id": resource.id, "name": resource.name, "location": resource.props.get("location"),
            "priority": resource.props.get("priority"),
            "instanceView": {"statuses": statuses}}
