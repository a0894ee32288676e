"""The smallest simulated worlds the simulator's tests build: a resource group, a
network, NICs, VMs and a gallery in a SimulatedArm, at given simulated times (shared by
tests/test_simulator.py and tests/test_vm_actions.py)."""

from __future__ import annotations

import pytest

from offline.arm import ArmError, SimulatedArm
from offline.arm.vm_rest import SimulatedClock, VmRest

LOC = "westeurope"
RG = "rg-sim"
T_RG, T_NET, T_SUBNET, T_NIC, T_VM = 0, 100, 200, 300, 400
VM_READY = T_VM + 500  # comfortably after the VM create finished

RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
NIC = "azure-native:network:NetworkInterface"
VM = "azure-native:compute:VirtualMachine"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
GALLERY = "azure-native:compute:Gallery"
GALLERY_IMAGE = "azure-native:compute:GalleryImage"
VERSION = "azure-native:compute:GalleryImageVersion"
IMAGE = "azure-native:compute:Image"


def refused(call, *args, code, status=None, match=None):
    with pytest.raises(ArmError) as caught:
        call(*args)
    assert caught.value.code == code, caught.value
    if status is not None:
        assert caught.value.status == status
    if match is not None:
        assert match in caught.value.message, caught.value.message
    return caught.value


def vm_id(name):
    return SimulatedArm.rg_id(RG) + f"/providers/Microsoft.Compute/virtualMachines/{name}"


def nic_props(name):
    return {
        "resourceGroupName": RG, "networkInterfaceName": name, "location": LOC,
        "ipConfigurations": [{"name": "ipconfig1", "subnet": {"id": SUBNET_ID}}],
    }


SUBNET_ID = (SimulatedArm.rg_id(RG)
             + "/providers/Microsoft.Network/virtualNetworks/vnet-sim/subnets/snet-sim")


def sim_os_profile(computer: str, *, windows: bool) -> dict:
    """A simulated VM's osProfile: Windows with a fake test password, Linux keys only."""
    os_profile: dict = {"computerName": computer, "adminUsername": "azureuser"}
    if windows:
        os_profile.update(adminPassword="Pa55word!Pa55word", windowsConfiguration={})
    else:
        os_profile["linuxConfiguration"] = {"disablePasswordAuthentication": True}
    return os_profile


def vm_props(name, nic, *, luns=(0, 1), windows=False, computer=None, image_id=None,
             from_image_luns=None, location=LOC, trusted=False):
    os_profile = sim_os_profile(computer or name[:15], windows=windows)
    disks = [{"lun": lun, "createOption": "Empty", "diskSizeGB": 8} for lun in luns]
    for lun in from_image_luns or ():
        disks.append({"lun": lun, "createOption": "FromImage"})
    image = {"id": image_id} if image_id else {
        "publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"
    }
    props = {
        "resourceGroupName": RG, "vmName": name, "location": location,
        "osProfile": os_profile,
        "storageProfile": {"imageReference": image, "dataDisks": disks},
        "networkProfile": {"networkInterfaces": [{"id": nic}]},
    }
    if trusted:
        props["securityProfile"] = {"securityType": "TrustedLaunch"}
    return props


def network(arm):
    arm.put(RESOURCE_GROUP, {"resourceGroupName": RG, "location": LOC}, T_RG)
    arm.put(VNET, {"resourceGroupName": RG, "virtualNetworkName": "vnet-sim", "location": LOC,
                   "addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}}, T_NET)
    arm.put(SUBNET, {"resourceGroupName": RG, "virtualNetworkName": "vnet-sim",
                     "subnetName": "snet-sim", "addressPrefix": "10.9.1.0/24"}, T_SUBNET)


def make_nic(arm, name, at=T_NIC):
    return arm.put(NIC, nic_props(name), at).id


def nic_id(name):
    return SimulatedArm.rg_id(RG) + f"/providers/Microsoft.Network/networkInterfaces/{name}"


def make_vm(arm, name="vm-a", at=T_VM, **kwargs):
    nic = make_nic(arm, f"nic-{name}")
    return arm.put(VM, vm_props(name, nic, **kwargs), at).id


def gallery(arm, at=T_NET):
    arm.put(GALLERY, {"resourceGroupName": RG, "galleryName": "galsim", "location": LOC}, at)
    arm.put(GALLERY_IMAGE, {"resourceGroupName": RG, "galleryName": "galsim",
                            "galleryImageName": "img", "location": LOC}, at + 100)


def version_props(source_vm, *, name="1.0.0", regions=(LOC,)):
    return {
        "resourceGroupName": RG, "galleryName": "galsim", "galleryImageName": "img",
        "galleryImageVersionName": name, "location": LOC,
        "storageProfile": {"source": {"virtualMachineId": source_vm}},
        "publishingProfile": {"targetRegions": [
            {"name": r, "regionalReplicaCount": 1} for r in regions
        ]},
    }


def rest(arm, at):
    return VmRest(arm, SimulatedClock(at))


def generalized(arm, vm, at=VM_READY):
    """Deallocate then generalize through the REST facade; returns the time it is done."""
    facade = rest(arm, at)
    status, headers, _ = facade.handle("POST", f"{vm}/deallocate", {}, None)
    assert status == 202  # a long-running operation: poll it when ARM says
    facade.clock.sleep(float(headers["Retry-After"]))
    poll = headers["Azure-AsyncOperation"].split("?")[0]
    assert facade.handle("GET", poll, {}, None)[2]["status"] == "Succeeded"
    assert facade.handle("POST", f"{vm}/generalize", {}, None)[0] == 200
    return facade.clock.now
