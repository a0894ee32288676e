"""The tenancy keys of #16 as registered (plain mocks: what the engine receives) and as
the simulated Azure takes them (offline runs): an existing subnet, NAT egress, tags on
everything that takes them, identities, disk encryption sets, Spot builds that resume
after an eviction, and Shallow versions."""

from __future__ import annotations

import io
from typing import Any

import pytest
from conftest import CORP_TENANT, load_stack_dict, run_offline, stack_config
from program_mocks import run_program
from rich.console import Console
from tenancy_ids import DES, DES_NORTH, IDENTITY, SUB

from offline.arm import SUBSCRIPTION_ID, ArmError, SimulatedArm
from offline.arm.tenancy import add_existing, add_existing_subnet
from offline.cli import main
from offline.faults import FaultPlan
from offline.up import up
from vmimage.vocabulary import EGRESS_ROLE, GROUP_TAG, RESUME, ROLE_TAG

VNET = "azure-native:network:VirtualNetwork"
SUBNET_T = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
NAT = "azure-native:network:NatGateway"
PIP = "azure-native:network:PublicIPAddress"
NIC = "azure-native:network:NetworkInterface"
VM = "azure-native:compute:VirtualMachine"
VMSS = "azure-native:compute:VirtualMachineScaleSet"
VERSION = "azure-native:compute:GalleryImageVersion"

#: The simulator's subscription: an existing subnet must be in the deployment's.
SIM = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups"
SIM_SUBNET = (f"{SIM}/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-hub/"
              "subnets/snet-build")
SIM_IDENTITY = f"{SIM}/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-b"
SIM_DES = f"{SIM}/rg-keys/providers/Microsoft.Compute/diskEncryptionSets/des-weu"
SIM_DES_NORTH = f"{SIM}/rg-keys/providers/Microsoft.Compute/diskEncryptionSets/des-neu"


def dev(**changes: Any) -> dict[str, Any]:
    config = load_stack_dict("dev")
    config["vmimage:pipeline"].update(changes)
    return config


def with_scale_set(config: dict[str, Any]) -> dict[str, Any]:
    pipeline = config["vmimage:pipeline"]
    pipeline["clones"].append({"name": "pool", "kind": "scaleSet", "count": 2,
                               "version": "1.0.0", "size": "Standard_B2s"})
    return config


# -- what the program registers (plain mocks) --------------------------------------------------

def test_an_existing_subnet_is_used_and_no_network_is_created():
    subnet = SIM_SUBNET.replace(SUBSCRIPTION_ID, SUB)
    recorded = run_program(with_scale_set(dev(network={"subnetId": subnet})))
    types = {r.type for r in recorded.resources}
    assert not types & {VNET, SUBNET_T, NSG, NAT, PIP}
    nics = recorded.of_type(NIC)
    assert nics and all(c["subnet"]["id"] == subnet
                        for nic in nics for c in nic.inputs["ipConfigurations"])
    (scale_set,) = recorded.of_type(VMSS)
    configs = scale_set.inputs["virtualMachineProfile"]["networkProfile"][
        "networkInterfaceConfigurations"]
    assert [ip["subnet"]["id"] for c in configs for ip in c["ipConfigurations"]] == [subnet]


def test_nat_gateway_egress_by_default():
    recorded = run_program(dev())
    (nat,) = recorded.of_type(NAT)
    (address,) = recorded.of_type(PIP)
    (subnet,) = recorded.of_type(SUBNET_T)
    assert address.inputs["sku"] == {"name": "Standard"}
    assert address.inputs["publicIPAllocationMethod"] == "Static"
    assert nat.inputs["sku"] == {"name": "Standard"}
    assert nat.urn.split("::")[-1] in subnet.dependencies or nat.urn in subnet.dependencies
    assert "natGateway" in subnet.inputs
    assert "defaultOutboundAccess" not in subnet.inputs  # an old subnet is updated, kept
    assert address.inputs["tags"] == nat.inputs["tags"] == {ROLE_TAG: EGRESS_ROLE}


def test_no_egress_makes_the_subnet_private():
    network = {**load_stack_dict("dev")["vmimage:pipeline"]["network"], "egress": "none"}
    recorded = run_program(dev(network=network))
    assert not recorded.of_type(NAT) and not recorded.of_type(PIP)
    (subnet,) = recorded.of_type(SUBNET_T)
    assert subnet.inputs["defaultOutboundAccess"] is False
    assert "natGateway" not in subnet.inputs


#: What takes tags in ARM, among what the program registers; a Subnet, a dynamic VM
#: action and a random password take none.
TAGGED = {"azure-native:resources:ResourceGroup", VNET, NSG, NAT, PIP, NIC, VM, VMSS,
          "azure-native:compute:VirtualMachineRunCommandByVirtualMachine",
          "azure-native:compute:Gallery", "azure-native:compute:GalleryImage", VERSION,
          "azure-native:compute:Image"}


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_the_configs_tags_are_on_every_resource_that_takes_tags(stack):
    config = with_scale_set(load_stack_dict(stack))
    config["vmimage:pipeline"]["capture"] = "both"
    config["vmimage:pipeline"]["security"] = {"trustedLaunch": False}
    user = {"costCenter": "4711", "owner": "platform"}
    config["vmimage:pipeline"]["tags"] = user
    recorded = run_program(config)
    customs = [r for r in recorded.resources if r.custom]
    tagged = {r.type for r in customs if "tags" in r.inputs}
    assert tagged == TAGGED  # every kind that takes tags, nothing else
    for resource in customs:
        if resource.type in TAGGED:
            assert user.items() <= resource.inputs["tags"].items(), resource.name
    # the program's own tags stay beside them
    for vm in recorded.of_type(VM):
        assert vm.inputs["tags"][ROLE_TAG] in ("build", "clone")
    (scale_set,) = recorded.of_type(VMSS)
    assert scale_set.inputs["tags"][GROUP_TAG] == "pool"


def test_build_vm_identity_spot_and_keys():
    config = with_scale_set(dev(security={"diskEncryptionSetId": DES}))
    build = config["vmimage:pipeline"]["builds"][0]
    build.update(identities=[IDENTITY], spot=True)
    build["regions"][0]["diskEncryptionSetId"] = DES
    build["regions"][1]["diskEncryptionSetId"] = DES_NORTH
    recorded = run_program(config)
    vms = {r.name: r for r in recorded.of_type(VM)}
    build_vm = vms["vmimage-v1-0-0-build-vm"]
    assert build_vm.inputs["identity"] == {"type": "UserAssigned",
                                           "userAssignedIdentities": [IDENTITY]}
    assert build_vm.inputs["priority"] == "Spot"
    assert build_vm.inputs["evictionPolicy"] == "Deallocate"
    assert build_vm.inputs["billingProfile"] == {"maxPrice": -1}
    for vm in vms.values():  # build VM and clones: every disk under the customer's key
        storage = vm.inputs["storageProfile"]
        disks = [storage["osDisk"], *storage["dataDisks"]]
        assert len(disks) == 3
        assert all(d["managedDisk"]["diskEncryptionSet"] == {"id": DES} for d in disks)
        if vm is not build_vm:
            assert "identity" not in vm.inputs and "priority" not in vm.inputs
    (scale_set,) = recorded.of_type(VMSS)
    storage = scale_set.inputs["virtualMachineProfile"]["storageProfile"]
    assert all(d["managedDisk"]["diskEncryptionSet"] == {"id": DES}
               for d in [storage["osDisk"], *storage["dataDisks"]])
    (version,) = recorded.of_type(VERSION)
    regions = {r["name"]: r["encryption"]
               for r in version.inputs["publishingProfile"]["targetRegions"]}
    assert regions == {
        region: {"osDiskImage": {"diskEncryptionSetId": des},
                 "dataDiskImages": [{"lun": 0, "diskEncryptionSetId": des},
                                    {"lun": 1, "diskEncryptionSetId": des}]}
        for region, des in (("westeurope", DES), ("northeurope", DES_NORTH))}
    assert "replicationMode" not in version.inputs["publishingProfile"]  # Full, as before


def test_a_shallow_build_is_registered_shallow():
    config = dev()
    build = config["vmimage:pipeline"]["builds"][0]
    build.update(replicationMode="Shallow", regions=[{"name": "westeurope"}])
    recorded = run_program(config)
    (version,) = recorded.of_type(VERSION)
    profile = version.inputs["publishingProfile"]
    assert profile["replicationMode"] == "Shallow"
    assert profile["targetRegions"] == [{"name": "westeurope", "regionalReplicaCount": 1,
                                         "storageAccountType": "Standard_LRS"}]


def test_an_evicted_spot_build_is_resumed_before_the_steps_not_done():
    config = dev()
    config["vmimage:pipeline"]["builds"][0]["spot"] = True
    plain = run_program(config)
    assert not [r for r in plain.resources if r.type == RESUME]
    recorded = run_program(config, evicted={"vm-build-web-ubuntu-1-0-0"})
    (resume,) = [r for r in recorded.resources if r.type == RESUME]
    assert resume.inputs["vmName"] == "vm-build-web-ubuntu-1-0-0" and resume.inputs["evictedAt"]
    (step,) = recorded.of_type("azure-native:compute:VirtualMachineRunCommandByVirtualMachine")
    assert resume.urn in step.dependencies
    # a regular build's VM is deallocated only by its failure policy (the default,
    # onFailure: deallocate): resumed alike; with onFailure: keep it is never looked at
    regular = run_program(dev(), evicted={"vm-build-web-ubuntu-1-0-0"})
    assert [r for r in regular.resources if r.type == RESUME]
    kept = dev()
    kept["vmimage:pipeline"]["builds"][0]["onFailure"] = "keep"
    regular = run_program(kept, evicted={"vm-build-web-ubuntu-1-0-0"})
    assert not [r for r in regular.resources if r.type == RESUME]


# -- as the simulated Azure takes it (offline) -------------------------------------------------

def tenant(*, subnet_prefix: str | None = "10.60.8.0/24", identity: bool = True,
           des: dict[str, str] | None = None) -> SimulatedArm:
    arm = SimulatedArm()
    if subnet_prefix:
        add_existing_subnet(arm, SIM_SUBNET, subnet_prefix)
    if identity:
        add_existing(arm, SIM_IDENTITY, region="westeurope")
    for des_id, region in (des or {}).items():
        add_existing(arm, des_id, region=region)
    return arm


def corp_like(**security: Any) -> dict[str, Any]:
    pipeline = load_stack_dict("dev")["vmimage:pipeline"]
    pipeline["network"] = {"subnetId": SIM_SUBNET}
    pipeline["builds"][0]["identities"] = [SIM_IDENTITY]
    pipeline["security"] = security
    return pipeline


def test_an_offline_run_in_an_existing_subnet_succeeds():
    result = run_offline(stack_config("dev", corp_like()), arm=tenant())
    assert not (result.failures or result.error or result.config_problems)
    ips = [vm["privateIp"] for vm in result.outputs["clones"]["web"]["vms"]]
    assert ips and all(ip.startswith("10.60.8.") for ip in ips)


@pytest.mark.parametrize("arm, expected", [
    (lambda: tenant(subnet_prefix=None),
     "network.subnetId: no such subnet ('snet-build' in virtual network 'vnet-hub' of "
     "resource group 'rg-net'); create it first or fix the id"),
    (lambda: tenant(subnet_prefix="10.60.8.0/29"),
     "network.subnetId: 10.60.8.0/29 holds 3 VMs"),
])
def test_an_existing_subnet_is_read_before_anything_is_registered(arm, expected):
    result = run_offline(stack_config("dev", corp_like()), arm=arm())
    assert [p for p in result.config_problems if p.startswith(expected)], result.config_problems
    assert not result.registrations


def test_a_subnet_of_another_subscription_is_refused():
    pipeline = corp_like()
    pipeline["network"]["subnetId"] = SIM_SUBNET.replace(SUBSCRIPTION_ID, SUB)
    result = run_offline(stack_config("dev", pipeline), arm=tenant())
    [problem] = result.config_problems
    assert problem.startswith(f"network.subnetId: the subnet is in subscription {SUB}, but "
                              f"this stack deploys into {SUBSCRIPTION_ID}")


def failure_codes(result: Any) -> set[str]:
    return {f.code for f in result.failures}


def test_the_simulator_refuses_a_missing_identity_and_a_foreign_key():
    missing = run_offline(stack_config("dev", corp_like()), arm=tenant(identity=False))
    assert "FailedIdentityOperation" in failure_codes(missing)
    foreign = run_offline(stack_config("dev", corp_like(diskEncryptionSetId=SIM_DES)),
                          arm=tenant(des={SIM_DES: "northeurope"}))
    assert any("need a disk encryption set of their own region" in f.message
               for f in foreign.failures)
    keyed = run_offline(stack_config("dev", corp_like(diskEncryptionSetId=SIM_DES)),
                        arm=tenant(des={SIM_DES: "westeurope"}))
    assert not (keyed.failures or keyed.error)


def test_the_simulator_refuses_shallow_replicas_elsewhere_and_changes_of_mode():
    arm = SimulatedArm()
    base = {"resourceGroupName": "rg", "galleryName": "g", "galleryImageName": "i",
            "galleryImageVersionName": "1.0.0", "location": "westeurope"}
    from offline.arm.tenancy import check_gallery_version

    with pytest.raises(ArmError, match="cannot replicate to 'northeurope'"):
        check_gallery_version(arm, {**base, "publishingProfile": {
            "replicationMode": "Shallow", "targetRegions": [
                {"name": "westeurope"}, {"name": "northeurope"}]}}, 0.0)
    with pytest.raises(ArmError, match="exactly one replica"):
        check_gallery_version(arm, {**base, "publishingProfile": {
            "replicationMode": "Shallow",
            "targetRegions": [{"name": "westeurope", "regionalReplicaCount": 2}]}}, 0.0)
    with pytest.raises(ArmError, match="required for the disks in target region 'northeurope'"):
        check_gallery_version(arm, {**base, "publishingProfile": {"targetRegions": [
            {"name": "westeurope", "encryption": {"osDiskImage": {
                "diskEncryptionSetId": SIM_DES}}}, {"name": "northeurope"}]}}, 0.0)


def test_a_shallow_build_runs_offline():
    pipeline = load_stack_dict("dev")["vmimage:pipeline"]
    pipeline["builds"][0].update(replicationMode="Shallow", regions=[{"name": "westeurope"}])
    result = run_offline(stack_config("dev", pipeline))
    assert not (result.failures or result.error or result.config_problems)


def test_a_private_subnet_stays_private():
    """defaultOutboundAccess is set when a subnet is created and never after."""
    arm = SimulatedArm()
    group = {"resourceGroupName": "rg", "location": "westeurope"}
    arm.put("azure-native:resources:ResourceGroup", group, 0.0)
    arm.put(VNET, {**group, "virtualNetworkName": "vnet",
                   "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}, 20.0)
    subnet = {**group, "virtualNetworkName": "vnet", "subnetName": "s",
              "addressPrefix": "10.0.1.0/24", "defaultOutboundAccess": False}
    arm.put(SUBNET_T, subnet, 40.0)
    with pytest.raises(ArmError, match="defaultOutboundAccess"):
        arm.put(SUBNET_T, {**subnet, "defaultOutboundAccess": True}, 60.0)


def test_an_evicted_spot_build_fails_then_converges(tmp_path):
    """The eviction fails the step that met it; the next run finds the VM evicted, starts
    it and runs the steps not done yet: the image is captured, nothing built twice."""
    pipeline = load_stack_dict("dev")["vmimage:pipeline"]
    pipeline["builds"][0]["spot"] = True
    pipeline["builds"][0]["customize"].append({"inline": "echo second step\n"})
    stack = stack_config("dev", pipeline)
    state = tmp_path / "spot.json"
    faults = FaultPlan.parse("spot-evict=1")
    first = up(stack, state_path=state, faults=faults)
    assert faults.evicted
    [failure] = first.run.failures
    assert failure.type.endswith("VirtualMachineRunCommandByVirtualMachine")
    assert "is deallocated" in failure.message
    second = up(stack, state_path=state)
    assert second.ok, second.run.failures or second.run.error
    by_type: dict[str, list[str]] = {}
    for change in second.changes or []:
        by_type.setdefault(change.action, []).append(change.urn.rsplit("::", 1)[-1])
    assert "vmimage-v1-0-0-resume" in by_type["create"]
    assert "vmimage-v1-0-0-build-vm" in by_type["same"]  # resumed, not rebuilt
    assert second.run.outputs["buildVmStates"]["1.0.0"] == {
        "powerState": "deallocated", "osState": "generalized"}
    third = up(stack, state_path=state)  # nothing evicted any more: the resume record goes
    assert third.ok and [c.urn.rsplit("::", 1)[-1] for c in third.changes or []
                         if c.action == "delete"] == ["vmimage-v1-0-0-resume"]


def test_the_corp_example_runs_offline_with_its_tenant_declared():
    out = io.StringIO()
    code = main(["up", "--stack", "corp", "--quiet", *CORP_TENANT],
                console=Console(file=out, width=200))
    assert code == 0, out.getvalue()
    refused = io.StringIO()
    assert main(["up", "--stack", "corp", "--quiet"], console=Console(file=refused)) == 2
    assert "network.subnetId: no such subnet" in refused.getvalue()


# -- a policy that denies untagged resources --------------------------------------------------

def test_a_required_tags_policy_passes_once_the_config_tags_everything():
    from offline.policy_check import check_run
    from vmimage.policy.rules import TAGGABLE

    required = ("costCenter", "owner")
    untagged = run_offline(stack_config("dev"))
    found = [v for v in check_run(untagged, required_tags=required)
             if v.policy == "required-tags"]
    assert found and all(v.enforcement == "mandatory" for v in found)
    assert {r.urn for r in untagged.registrations if r.type in TAGGABLE} == {
        v.urn for v in found}
    pipeline = load_stack_dict("dev")["vmimage:pipeline"]
    pipeline["tags"] = {"costCenter": "4711", "owner": "platform"}
    tagged = run_offline(stack_config("dev", pipeline))
    assert check_run(tagged, required_tags=required) == check_run(tagged)
    assert not [v for v in check_run(tagged, required_tags=required)
                if v.enforcement == "mandatory"]


def test_the_policys_taggable_types_are_what_the_program_tags():
    from vmimage.policy.rules import TAGGABLE

    assert TAGGED == TAGGABLE
