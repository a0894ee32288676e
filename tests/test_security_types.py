"""VM security types (#27): `security.type` Standard | TrustedLaunch | ConfidentialVM, what
the stack registers for each (build VM, clones, scale set, image definition, version),
the config rules, the preflight of sizes against the SKU list's capabilities, the
simulator's refusals and the `trusted-launch-required` policy."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from arm_world import (
    GALLERY,
    GALLERY_IMAGE,
    IMAGE,
    LOC,
    RG,
    VERSION,
    VM,
    generalized,
    make_nic,
    make_vm,
    network,
    refused,
    version_props,
    vm_props,
)
from conftest import load_pipeline, offline_cli, problems_of, run_offline, stack_config
from pulumi_azure_native import compute

from offline import quota
from offline.arm import SimulatedArm
from offline.secrets import unwrap
from vmimage.azure.security_types import BOOTS, DEFINITION_FEATURE, boots, size_problem
from vmimage.config.security_type import security_size_problems, wanted_security_type
from vmimage.config.validate import load_spec
from vmimage.policy.rules import ResourceView, evaluate

VMSS = "azure-native:compute:VirtualMachineScaleSet"


def confidential(**security: Any) -> dict[str, Any]:
    raw = load_pipeline("confidential")
    raw["security"] = {"type": "ConfidentialVM", **security}
    return raw


# -- the registered inputs -----------------------------------------------------------------

@pytest.fixture(scope="module")
def cvm_run() -> Any:
    return run_offline(stack_config("confidential"))


def computes(run: Any) -> list[tuple[str, dict[str, Any]]]:
    """(name, VM-shaped profile) of every VM and scale set the run registered."""
    found = []
    for reg in run.registrations:
        if reg.type in (VM, VMSS):
            inputs = unwrap(reg.inputs)
            found.append((reg.name, inputs if reg.type == VM else inputs["virtualMachineProfile"]))
    return found


def test_every_vm_and_scale_set_of_a_confidential_stack_is_confidential(cvm_run):
    assert not cvm_run.failures and not cvm_run.error
    found = computes(cvm_run)
    kinds = {reg.type for reg in cvm_run.registrations if reg.type in (VM, VMSS)}
    assert kinds == {VM, VMSS} and len(found) == 4  # build VM, two clones, a scale set
    for name, profile in found:
        assert profile["securityProfile"] == {
            "securityType": "ConfidentialVM",
            "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}, name
        disk = profile["storageProfile"]["osDisk"]["managedDisk"]
        assert disk["securityProfile"] == {"securityEncryptionType": "DiskWithVMGuestState"}, name


def test_the_definition_and_version_of_a_confidential_stack(cvm_run):
    (definition,) = [r for r in cvm_run.registrations if r.type == GALLERY_IMAGE]
    inputs = unwrap(definition.inputs)
    assert inputs["features"] == [{"name": "SecurityType", "value": "ConfidentialVM"}]
    assert inputs["hyperVGeneration"] == "V2"
    (version,) = [r for r in cvm_run.registrations if r.type == VERSION]
    for region in unwrap(version.inputs)["publishingProfile"]["targetRegions"]:
        assert region["encryption"] == {"osDiskImage": {"securityProfile": {
            "confidentialVMEncryptionType": "EncryptedWithPmk"}}}


def test_vm_guest_state_only_is_the_default_encryption():
    raw = confidential()
    raw["security"].pop("encryptionType", None)
    run = run_offline(stack_config("confidential", raw))
    for name, profile in computes(run):
        disk = profile["storageProfile"]["osDisk"]["managedDisk"]
        assert disk["securityProfile"] == {"securityEncryptionType": "VMGuestStateOnly"}, name
    (version,) = [r for r in run.registrations if r.type == VERSION]
    region = unwrap(version.inputs)["publishingProfile"]["targetRegions"][0]
    assert region["encryption"]["osDiskImage"]["securityProfile"] == {
        "confidentialVMEncryptionType": "EncryptedVMGuestStateOnlyWithPmk"}


def test_trusted_launch_with_secure_boot_off():
    raw = load_pipeline("dev")
    raw["security"] = {"type": "TrustedLaunch", "secureBoot": False}
    for name, profile in computes(run_offline(stack_config("dev", raw))):
        assert profile["securityProfile"] == {
            "securityType": "TrustedLaunch",
            "uefiSettings": {"secureBootEnabled": False, "vTpmEnabled": True}}, name
        assert "securityProfile" not in profile["storageProfile"]["osDisk"]["managedDisk"]


def test_standard_registers_no_security_type_nor_feature():
    """Standard is an absent securityType (an explicit "Standard" is refused where the
    subscription lacks a feature flag): what stacks with trustedLaunch false had."""
    raw = load_pipeline("dev")
    raw["security"] = {"type": "Standard"}
    run = run_offline(stack_config("dev", raw))
    for name, profile in computes(run):
        assert "securityProfile" not in profile, name
    (definition,) = [r for r in run.registrations if r.type == GALLERY_IMAGE]
    assert "features" not in unwrap(definition.inputs)


def test_azure_native_takes_the_names_the_program_sets():
    # the installed SDK's typed Args and enums: a misspelt name or value fails at once
    assert {m.value for m in compute.SecurityTypes} == {"TrustedLaunch", "ConfidentialVM"}
    assert {"VMGuestStateOnly", "DiskWithVMGuestState"} <= {
        m.value for m in compute.SecurityEncryptionTypes}
    assert "security_profile" in inspect.signature(
        compute.ManagedDiskParametersArgs.__init__).parameters
    assert "security_profile" in inspect.signature(
        compute.VirtualMachineScaleSetManagedDiskParametersArgs.__init__).parameters
    assert "security_profile" in inspect.signature(
        compute.OSDiskImageEncryptionArgs.__init__).parameters
    assert "confidential_vm_encryption_type" in inspect.signature(
        compute.OSDiskImageSecurityProfileArgs.__init__).parameters


# -- the config ------------------------------------------------------------------------------

def test_wanted_security_type_is_what_the_config_says_else_the_default():
    assert wanted_security_type(load_spec(confidential(), location=LOC).spec) == \
        "ConfidentialVM"
    raw = load_pipeline("dev")
    raw["security"] = {"trustedLaunch": True}
    assert wanted_security_type(load_spec(raw, location=LOC).spec) == "TrustedLaunch"
    # every definition feature it registers boots the type it asked for
    for wanted, feature in DEFINITION_FEATURE.items():
        assert boots(feature, wanted)


def test_a_confidential_stack_refuses_what_it_cannot_carry():
    raw = confidential()
    raw["security"]["diskEncryptionSetId"] = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
        "Microsoft.Compute/diskEncryptionSets/des")
    raw["gallery"]["image"]["generation"] = "V1"
    raw["clones"][0]["osDisk"] = {"ephemeral": True}
    found = problems_of(raw)
    assert "security.type: ConfidentialVM needs a generation V2 image; " \
        "gallery.image.generation is V1" in found
    assert any(p.startswith("security.diskEncryptionSetId: a confidential VM's OS disk")
               for p in found)
    assert any(p.startswith("clones[0].osDisk.ephemeral: ") for p in found)


def test_the_two_spellings_and_a_stray_encryption_type_are_refused():
    raw = load_pipeline("dev")
    raw["security"] = {"type": "TrustedLaunch", "trustedLaunch": True,
                       "encryptionType": "VMGuestStateOnly"}
    assert problems_of(raw) == [
        "security.trustedLaunch: the earlier spelling of security.type; give only "
        "security.type",
        "security.encryptionType: only for security.type ConfidentialVM (this stack's is "
        "TrustedLaunch)"]


def test_an_unknown_security_type_is_refused_by_its_key():
    raw = load_pipeline("dev")
    raw["security"] = {"type": "Confidential"}
    (problem,) = problems_of(raw)
    assert problem.startswith("security.type: ") and "ConfidentialVM" in problem


def test_managed_images_take_no_confidential_vm():
    raw = confidential()
    raw["capture"] = "both"
    raw["builds"][0]["regions"] = []
    assert "security.type: managed images do not support ConfidentialVM VMs; use capture: " \
        "gallery, or security.type: Standard" in problems_of(raw)


# -- preflight: sizes against the SKU list ----------------------------------------------------

def caps_of(*sizes: str) -> dict[str, dict[str, dict[str, str]]]:
    return {LOC: {s.lower(): quota.capabilities(s) for s in sizes}}


def test_sizes_are_judged_by_their_capabilities():
    assert size_problem("ConfidentialVM", "Standard_DC2as_v5",
                        quota.capabilities("Standard_DC2as_v5")) is None
    assert "not a confidential VM size" in str(size_problem(
        "ConfidentialVM", "Standard_D2s_v5", quota.capabilities("Standard_D2s_v5")))
    assert "TrustedLaunchDisabled" in str(size_problem(
        "TrustedLaunch", "Standard_M8ms", quota.capabilities("Standard_M8ms")))
    assert "generation V1 only" in str(size_problem(
        "TrustedLaunch", "Standard_A2_v2", quota.capabilities("Standard_A2_v2")))
    assert size_problem("Standard", "Standard_A2_v2", {"HyperVGenerations": "V1"}) is None
    assert size_problem("TrustedLaunch", "Standard_X", {}) is None  # nothing listed


def test_preflight_names_each_size_that_cannot_run_the_type():
    raw = confidential()
    raw["clones"][1]["size"] = "Standard_D2s_v5"
    spec = load_spec(raw, location=LOC).spec
    assert security_size_problems(spec, caps_of(
        "Standard_DC2as_v5", "Standard_D2s_v5")) == [
        "clones[1].size: Standard_D2s_v5 is not a confidential VM size (its SKU has no "
        "ConfidentialComputingType): use one such as Standard_DC2as_v5 or Standard_EC2as_v5"]
    # a size the region does not list is Azure's to refuse, with its name
    assert security_size_problems(spec, caps_of("Standard_DC2as_v5")) == []


def test_an_offline_up_refuses_a_size_before_anything_is_registered():
    code, lines, _ = offline_cli("up", "--stack", "dev", "--quiet",
                                 "--set", "clones[0].size=Standard_M8ms")
    assert code == 2
    assert any("clones[0].size: Standard_M8ms does not support Trusted Launch" in line
               for line in lines)


def test_a_gen1_source_is_refused_for_trusted_launch():
    code, lines, _ = offline_cli("up", "--stack", "dev", "--quiet",
                                 "--set", "builds[0].from.marketplace.sku=server-gen1")
    assert code == 2
    assert any("is a generation V1 image, but gallery.image.generation is V2" in line
               for line in lines)


# -- the simulator ------------------------------------------------------------------------------

@pytest.fixture
def arm() -> SimulatedArm:
    arm = SimulatedArm()
    network(arm)
    return arm


def secured(props: dict[str, Any], security_type: str, size: str,
            encryption: str | None = None) -> dict[str, Any]:
    props["hardwareProfile"] = {"vmSize": size}
    props["securityProfile"] = {"securityType": security_type,
                                "uefiSettings": {"secureBootEnabled": True,
                                                 "vTpmEnabled": True}}
    if encryption:
        props["storageProfile"]["osDisk"] = {"managedDisk": {
            "securityProfile": {"securityEncryptionType": encryption}}}
    return props


def test_the_simulator_refuses_a_confidential_vm_on_another_size(arm):
    props = secured(vm_props("vm-c", make_nic(arm, "nic-c")), "ConfidentialVM",
                    "Standard_D2s_v5", "VMGuestStateOnly")
    refused(arm.put, VM, props, 400, code="BadRequest", match="not a confidential VM size")
    props["hardwareProfile"]["vmSize"] = "Standard_DC2as_v5"
    arm.put(VM, props, 400)


def test_the_simulator_wants_a_confidential_os_disk_encryption_and_only_there(arm):
    props = secured(vm_props("vm-c", make_nic(arm, "nic-c")), "ConfidentialVM",
                    "Standard_DC2as_v5")
    refused(arm.put, VM, props, 400, code="InvalidParameter", match="securityEncryptionType")
    props = secured(vm_props("vm-t", make_nic(arm, "nic-t")), "TrustedLaunch",
                    "Standard_D2s_v5", "VMGuestStateOnly")
    refused(arm.put, VM, props, 400, code="InvalidParameter", match="confidential VMs only")


def test_the_simulator_refuses_trusted_launch_from_a_gen1_image(arm):
    props = secured(vm_props("vm-t", make_nic(arm, "nic-t")), "TrustedLaunch",
                    "Standard_D2s_v5")
    props["storageProfile"]["imageReference"]["sku"] = "server-gen1"
    refused(arm.put, VM, props, 400, code="InvalidParameter", match="generation 2 image")


def definition(arm: SimulatedArm, feature: str | None) -> None:
    arm.put(GALLERY, {"resourceGroupName": RG, "galleryName": "galsim", "location": LOC}, 100)
    arm.put(GALLERY_IMAGE, {"resourceGroupName": RG, "galleryName": "galsim",
                            "galleryImageName": "img", "location": LOC,
                            "hyperVGeneration": "V2",
                            **({"features": [{"name": "SecurityType", "value": feature}]}
                               if feature else {})}, 200)


def test_a_confidential_definition_takes_versions_of_confidential_vms_only(arm):
    definition(arm, "ConfidentialVM")
    standard = make_vm(arm, "vm-s")
    done = generalized(arm, standard)
    refused(arm.put, VERSION, version_props(standard), done, code="InvalidParameter",
            match="does not allow")
    nic = make_nic(arm, "nic-c")
    cvm = arm.put(VM, secured(vm_props("vm-c", nic), "ConfidentialVM", "Standard_DC2as_v5",
                              "DiskWithVMGuestState"), 400).id
    done = generalized(arm, cvm)
    refused(arm.put, VERSION, version_props(cvm, name="1.0.1"), done,
            code="InvalidParameter", match="confidentialVMEncryptionType")
    props = version_props(cvm, name="1.0.1")
    props["publishingProfile"]["targetRegions"][0]["encryption"] = {"osDiskImage": {
        "securityProfile": {"confidentialVMEncryptionType": "EncryptedWithPmk"}}}
    version = arm.put(VERSION, props, done).id
    # its versions boot confidential VMs, and nothing else
    ready = done + 10_000
    clone = vm_props("clone-a", make_nic(arm, "nic-clone", at=ready), image_id=version,
                     luns=(), from_image_luns=(0, 1))
    refused(arm.put, VM, clone, ready + 1000, code="InvalidParameter", match="cannot create")
    arm.put(VM, secured(clone, "ConfidentialVM", "Standard_DC2as_v5", "DiskWithVMGuestState"),
            ready + 1000)
    # and a managed image takes no confidential VM
    refused(arm.put, IMAGE, {"resourceGroupName": RG, "imageName": "img-c", "location": LOC,
                             "sourceVirtualMachine": {"id": cvm}}, done,
            code="InvalidParameter", match="ConfidentialVM VMs")


def test_what_each_definition_feature_boots():
    assert boots("TrustedLaunchSupported", "Standard") and boots("TrustedLaunch",
                                                                 "TrustedLaunch")
    assert not boots("TrustedLaunch", "Standard")
    assert not boots(None, "TrustedLaunch") and not boots("ConfidentialVM", "TrustedLaunch")
    assert boots("TrustedLaunchAndConfidentialVmSupported", "ConfidentialVM")
    assert boots("SomethingNew", "ConfidentialVM")  # unknown: Azure's to judge
    assert set(BOOTS) >= {v.lower() for v in DEFINITION_FEATURE.values() if v}


# -- the policy ---------------------------------------------------------------------------------

def test_trusted_launch_required_is_advisory_unless_made_mandatory():
    def vm(name: str, security_type: str | None) -> ResourceView:
        props: dict[str, Any] = {"vmName": name, "tags": {"vmimage-role": "clone"}}
        if security_type:
            props["securityProfile"] = {"securityType": security_type}
        return ResourceView(urn=f"urn:pulumi:s::vmimage::{VM}::{name}", type=VM, name=name,
                            props=props)

    views = [vm("bare", None), vm("tl", "TrustedLaunch"), vm("cvm", "ConfidentialVM")]
    found = [v for v in evaluate(views) if v.policy == "trusted-launch-required"]
    assert [(v.urn.rsplit("::", 1)[1], v.enforcement) for v in found] == [("bare", "advisory")]
    strict = evaluate(views, levels={"trusted-launch-required": "mandatory"})
    assert [v.enforcement for v in strict if v.policy == "trusted-launch-required"] == [
        "mandatory"]


def test_a_standard_stack_is_told_and_a_pack_config_fails_it(tmp_path):
    config = tmp_path / "policy.json"
    config.write_text('{"trusted-launch-required": "mandatory"}', encoding="utf-8")
    code, lines, _ = offline_cli("up", "--stack", "dev", "--policy-config", str(config),
                                 "--quiet", "--set", "security.type=Standard")
    assert code == 1 and any("mandatory policy violation" in line for line in lines)
    code, _, _ = offline_cli("up", "--stack", "confidential", "--policy-config", str(config),
                             "--quiet")
    assert code == 0
