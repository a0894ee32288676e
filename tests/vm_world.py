"""A VM in a simulated ARM and its REST model, for tests of the VM actions (generalize,
restart, resume, ...) run through the real compute client or the HTTPS fake
(tests/fake_azure.py serves the same world)."""

from __future__ import annotations

from typing import Any

from arm_world import sim_os_profile

from offline.arm import ArmResource, SimulatedArm
from offline.arm.vm_rest import SimulatedClock, VmRest
from offline.arm_transport import SimulatedArmTransport, offline_compute_client
from offline.latency import LatencyModel
from vmimage.vocabulary import (
    GALLERY_IMAGE_VERSION,
    NIC,
    RESOURCE_GROUP,
    SUBNET,
    VIRTUAL_MACHINE,
    VIRTUAL_NETWORK,
)

#: What the VM REST calls and the guest take in these worlds: calls are instant, so a
#: test counts its own waits; the guest powers off 45 s after its seal started.
QUICK_VM_LATENCY = {"vm.instanceView": 0, "vm.generalize": 0, "vm.deallocate": 30,
                    "runCommand.deprovision": 0, "runCommand.checks": 0,
                    "runCommand.async": 0, "guest.deprovision": 45, "guest.sysprep": 45,
                    "update": 0, "delete": 0}
VM_WORLD_RG = "rg-build"
VM_WORLD_START = 1000.0  # after the VMs were created


class VmWorld:
    """A resource group with a network and VMs, created in a `SimulatedArm` and reached
    through its VM REST model, as the runner reaches them. The guest is the simulated one
    (offline/guest.py): what a seal script makes of the VM is the script's, as offline."""

    def __init__(self, *, latency: dict[str, float] | None = None,
                 faults: Any = None) -> None:
        model = LatencyModel({**QUICK_VM_LATENCY, **(latency or {})})
        self.arm = SimulatedArm(model, faults=faults)
        self.clock = SimulatedClock(VM_WORLD_START)
        self.rest = VmRest(self.arm, self.clock)
        self.sleeps: list[float] = []  # the procedure's own waits (not the SDK's)

    def vm_id(self, name: str, rg: str = VM_WORLD_RG) -> str:
        return self.arm.provider_id(rg, "Microsoft.Compute/virtualMachines", name)

    def add_vm(self, name: str, *, rg: str = VM_WORLD_RG, windows: bool = False,
               power: str = "running", generalized: bool = False,
               tags: dict[str, str] | None = None) -> str:
        """A VM created before the world's start (its group and network with it), then
        in `power` (and generalized)."""
        subnet = self.arm.provider_id(rg, "Microsoft.Network/virtualNetworks", "vnet",
                                      "subnets", "snet")
        if subnet.lower() not in self.arm.resources:
            self.arm.put(RESOURCE_GROUP, {"resourceGroupName": rg, "location": "westeurope"},
                         0)
            self.arm.put(VIRTUAL_NETWORK, {
                "resourceGroupName": rg, "virtualNetworkName": "vnet", "location": "westeurope",
                "addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}}, 20)
            self.arm.put(SUBNET, {"resourceGroupName": rg, "virtualNetworkName": "vnet",
                                  "subnetName": "snet", "addressPrefix": "10.9.1.0/24"}, 50)
        nic = self.arm.put(NIC, {
            "resourceGroupName": rg, "networkInterfaceName": f"nic-{name}",
            "location": "westeurope",
            "ipConfigurations": [{"name": "ipconfig1", "subnet": {"id": subnet}}]}, 100).id
        os_profile = sim_os_profile(name[:15], windows=windows)
        vm = self.arm.put(VIRTUAL_MACHINE, {
            "resourceGroupName": rg, "vmName": name, "location": "westeurope",
            "osProfile": os_profile, "tags": tags or {},
            "storageProfile": {"imageReference": {
                "publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server",
                "version": "latest"}},
            "networkProfile": {"networkInterfaces": [{"id": nic}]}}, 200).id
        timeline = self.arm.vms[vm.lower()]
        if power != "running":
            timeline.set(VM_WORLD_START - 1, power)
        if generalized:
            timeline.set(VM_WORLD_START - 1, os_state="generalized")
        return vm

    def add_version(self, rg: str, gallery: str, image: str, version: str,
                    subscription: str | None = None) -> str:
        """A gallery image version as if captured before the world's start (what a
        publication PATCHes, by its whole id: `subscription`'s, else the world's); no
        source VM."""
        version_id = self.arm.provider_id(rg, "Microsoft.Compute/galleries", gallery,
                                          "images", image, "versions", version)
        if subscription is not None:
            version_id = f"/subscriptions/{subscription}/" + version_id.split("/", 3)[3]
        self.arm.resources[version_id.lower()] = ArmResource(
            version_id, GALLERY_IMAGE_VERSION, version, {"location": "westeurope"}, 0.0, {})
        return version_id

    def set_latency(self, **seconds: float) -> None:
        """How long some operations take from now on (keys of offline/latency.py)."""
        self.arm.latency = LatencyModel({**self.arm.latency.overrides, **seconds})

    def state(self, name: str, rg: str = VM_WORLD_RG) -> tuple[str, str]:
        """(power, OS state) now."""
        return self.arm.vm_state(self.vm_id(name, rg), self.clock.now)

    def commands(self, name: str, rg: str = VM_WORLD_RG) -> dict[str, dict[str, Any]]:
        """The run commands sent to a VM, by name: their properties as PUT."""
        prefix = (self.vm_id(name, rg) + "/runCommands/").lower()
        return {r.name: r.props for key, r in self.arm.resources.items()
                if key.startswith(prefix)}

    def client(self, **kwargs: Any) -> tuple[Any, SimulatedArmTransport]:
        """A fresh process's compute client; the SDK's waits pass in simulated time."""
        transport = SimulatedArmTransport(self.rest, on_sleep=self.clock.sleep)
        return offline_compute_client(self.rest, transport=transport, **kwargs), transport

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.sleep(seconds)


#: Seal scripts the simulated guest understands (offline/guest.py), shortest forms.
LINUX_SEAL_SCRIPT = (
    "cat > /var/tmp/vmimage-seal.sh <<'EOF'\nwaagent -force -deprovision+user\npoweroff\nEOF\n"
    "systemd-run --on-active=5 /bin/bash /var/tmp/vmimage-seal.sh\n")
WINDOWS_CHECKS_SCRIPT = (
    "Get-BitLockerVolume -MountPoint C:\n"
    "Test-Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based "
    "Servicing\\RebootPending'\n")
WINDOWS_SEAL_SCRIPT = (
    "$deadline = (Get-Date).AddMinutes(60)\n"
    "Start-Process -FilePath C:\\Windows\\System32\\Sysprep\\sysprep.exe "
    "-ArgumentList '/generalize /oobe /quit /mode:vm'\n"
    "shutdown.exe /s /t 0\n")
