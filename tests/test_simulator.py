"""The simulated ARM refuses what Azure refuses, with ARM's error codes. Each test builds
the smallest world that shows one rule (SimulatedArm.put/delete, the VM REST facade)."""

from __future__ import annotations

import io

import pytest
from arm_world import (
    GALLERY,
    GALLERY_IMAGE,
    IMAGE,
    LOC,
    RESOURCE_GROUP,
    RG,
    RUN_COMMAND,
    T_NET,
    T_NIC,
    T_VM,
    VERSION,
    VM,
    VM_READY,
    VNET,
    gallery,
    generalized,
    make_nic,
    make_vm,
    network,
    nic_id,
    refused,
    rest,
    version_props,
    vm_id,
    vm_props,
)
from conftest import load_pipeline, run_offline, stack_config
from rich.console import Console

from offline.arm import ArmError, SimulatedArm
from offline.cli import EXIT_REFUSED, print_run
from offline.secrets import unwrap


def post(arm, vm, action, at):
    return rest(arm, at).handle("POST", f"{vm}/{action}", {}, None)


@pytest.fixture
def arm():
    arm = SimulatedArm()
    network(arm)
    return arm


# -- parents ----------------------------------------------------------------------------

def test_resource_group_must_exist():
    arm = SimulatedArm()
    refused(arm.put, VNET, {"resourceGroupName": RG, "virtualNetworkName": "vnet-sim",
                            "location": LOC,
                            "addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}}, 0,
            code="ResourceGroupNotFound", status=404)


def test_resource_group_must_have_finished_creating():
    arm = SimulatedArm()
    outcome = arm.put(RESOURCE_GROUP, {"resourceGroupName": RG, "location": LOC}, 0)
    assert outcome.duration > 0
    # Started before the group is ready: refused; after: fine.
    refused(arm.put, GALLERY, {"resourceGroupName": RG, "galleryName": "galsim",
                               "location": LOC}, outcome.duration / 2,
            code="ResourceGroupNotFound")
    arm.put(GALLERY, {"resourceGroupName": RG, "galleryName": "galsim", "location": LOC},
            outcome.duration)


def test_gallery_image_needs_its_gallery(arm):
    refused(arm.put, GALLERY_IMAGE, {"resourceGroupName": RG, "galleryName": "galsim",
                                     "galleryImageName": "img", "location": LOC}, T_NIC,
            code="ParentResourceNotFound", status=404, match="galsim")
    gallery(arm)  # with the gallery in place the same PUT works


def test_version_needs_its_image_definition(arm):
    vm = make_vm(arm)
    arm.put(GALLERY, {"resourceGroupName": RG, "galleryName": "galsim", "location": LOC}, T_NET)
    refused(arm.put, VERSION, version_props(vm), VM_READY, code="ParentResourceNotFound")


# -- VM power and OS states --------------------------------------------------------------

def _run_command(name="customize-00"):
    return {"resourceGroupName": RG, "vmName": "vm-a", "runCommandName": name,
            "location": LOC, "source": {"script": "echo hi"}}


def test_run_command_needs_a_running_vm(arm):
    vm = make_vm(arm)
    # While the VM is still being created it does not exist yet for ARM...
    refused(arm.put, RUN_COMMAND, _run_command(), T_VM + 1, code="ParentResourceNotFound")
    # ...fine once it runs...
    arm.put(RUN_COMMAND, _run_command(), VM_READY)
    # ...refused once the guest shut down (stopped) or the VM is deallocated.
    arm.vms[vm.lower()].set(VM_READY + 300, "stopped")
    refused(arm.put, RUN_COMMAND, _run_command("late"), VM_READY + 301,
            code="OperationNotAllowed", status=409, match="stopped")
    done = generalized(arm, vm, at=VM_READY + 400)
    refused(arm.put, RUN_COMMAND, _run_command("later"), done + 1,
            code="OperationNotAllowed", match="deallocated")


def test_run_command_needs_the_vm():
    arm = SimulatedArm()
    network(arm)
    refused(arm.put, RUN_COMMAND, _run_command(), VM_READY, code="ParentResourceNotFound")


def test_generalize_of_a_running_vm_is_refused(arm):
    vm = make_vm(arm)
    status, _, body = post(arm, vm, "generalize", VM_READY)
    assert status == 409
    assert body["error"]["code"] == "OperationNotAllowed"
    assert arm.vm_state(vm, VM_READY + 100) == ("running", "specialized")


def test_generalize_after_deallocate_flags_the_vm(arm):
    vm = make_vm(arm)
    done = generalized(arm, vm)
    assert arm.vm_state(vm, done) == ("deallocated", "generalized")
    assert arm.vm_state(vm, VM_READY - 1) == ("running", "specialized")  # history kept
    view = rest(arm, done).handle("GET", f"{vm}/instanceView", {}, None)[2]
    codes = {s["code"] for s in view["statuses"]}
    assert {"PowerState/deallocated", "OSState/generalized"} <= codes


def test_rest_facade_unknown_vm_is_404(arm):
    status, _, body = post(arm, vm_id("nope"), "generalize", VM_READY)
    assert status == 404 and body["error"]["code"] == "ResourceNotFound"


def test_capture_from_a_vm_that_is_not_generalized(arm):
    vm = make_vm(arm)
    gallery(arm)
    refused(arm.put, VERSION, version_props(vm), VM_READY, code="OperationNotAllowed",
            status=409, match="generalized")
    # Deallocated is not enough either.
    assert post(arm, vm, "deallocate", VM_READY)[0] == 202
    assert arm.vm_state(vm, VM_READY + 200)[0] == "deallocated"
    refused(arm.put, VERSION, version_props(vm), VM_READY + 200, code="OperationNotAllowed")


def test_capture_from_a_generalized_vm_keeps_its_luns(arm):
    vm = make_vm(arm, luns=(0, 3))
    gallery(arm)
    done = generalized(arm, vm)
    outcome = arm.put(VERSION, version_props(vm), done)
    assert outcome.outputs["dataDiskLuns"] == [0, 3]


def test_managed_image_needs_a_generalized_vm(arm):
    vm = make_vm(arm)
    props = {"resourceGroupName": RG, "imageName": "img-1", "location": LOC,
             "sourceVirtualMachine": {"id": vm}}
    refused(arm.put, IMAGE, props, VM_READY, code="OperationNotAllowed")
    arm.put(IMAGE, props, generalized(arm, vm))


def test_managed_image_from_a_trusted_launch_vm(arm):
    vm = make_vm(arm, trusted=True)
    done = generalized(arm, vm)
    refused(arm.put, IMAGE, {"resourceGroupName": RG, "imageName": "img-1", "location": LOC,
                             "sourceVirtualMachine": {"id": vm}}, done,
            code="InvalidParameter", match="TrustedLaunch VMs")


# -- gallery versions --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["1.0", "1.0.0.0", "v1.0.0", "01.0.0", "2147483648.0.0"])
def test_version_name_must_be_major_minor_patch(arm, name):
    vm = make_vm(arm)
    gallery(arm)
    done = generalized(arm, vm)
    refused(arm.put, VERSION, version_props(vm, name=name), done, code="InvalidParameter",
            match="Major.Minor.Patch")


def test_target_regions_must_include_the_source_region(arm):
    vm = make_vm(arm)
    gallery(arm)
    done = generalized(arm, vm)
    refused(arm.put, VERSION, version_props(vm, regions=("northeurope",)), done,
            code="InvalidParameter", match="source region")
    arm.put(VERSION, version_props(vm, regions=(LOC, "northeurope")), done)


def _captured(arm, luns=(0, 1), regions=(LOC,)):
    vm = make_vm(arm, luns=luns)
    gallery(arm)
    done = generalized(arm, vm)
    outcome = arm.put(VERSION, version_props(vm, regions=regions), done)
    return outcome.id, done + outcome.duration


def test_vm_from_a_version_not_replicated_to_its_region(arm):
    version, ready = _captured(arm)
    nic = make_nic(arm, "nic-clone", at=ready)
    props = vm_props("clone-0", nic, luns=(), image_id=version, from_image_luns=(0, 1),
                     location="northeurope")
    refused(arm.put, VM, props, ready + 10, code="GalleryImageNotReplicatedToRegion")
    arm.put(VM, {**props, "location": LOC}, ready + 10)


def test_vm_from_a_version_that_is_not_ready(arm):
    version, ready = _captured(arm)
    nic = make_nic(arm, "nic-clone")
    props = vm_props("clone-0", nic, luns=(), image_id=version, from_image_luns=(0, 1))
    refused(arm.put, VM, props, ready - 1, code="NotFound")


def test_from_image_disks_must_match_the_image_luns(arm):
    version, ready = _captured(arm, luns=(0, 1))
    nic = make_nic(arm, "nic-clone")
    props = vm_props("clone-0", nic, luns=(), image_id=version, from_image_luns=(0,))
    refused(arm.put, VM, props, ready, code="InvalidParameter", match="LUNs")
    arm.put(VM, vm_props("clone-0", nic, luns=(), image_id=version, from_image_luns=(0, 1)),
            ready)


# -- VM definitions -----------------------------------------------------------------------

@pytest.mark.parametrize("luns", [(0, 0), (64,), (1, 2, 1), (-1,)])
def test_data_disk_luns_unique_and_0_to_63(arm, luns):
    nic = make_nic(arm, "nic-a")
    refused(arm.put, VM, vm_props("vm-a", nic, luns=luns), T_VM, code="InvalidParameter",
            match="LUN")


def test_lun_63_is_fine(arm):
    nic = make_nic(arm, "nic-a")
    arm.put(VM, vm_props("vm-a", nic, luns=(0, 63)), T_VM)


def test_windows_computer_name_longer_than_15(arm):
    nic = make_nic(arm, "nic-a")
    refused(arm.put, VM, vm_props("vm-a", nic, windows=True, computer="a" * 16), T_VM,
            code="InvalidParameter", match="1-15")
    arm.put(VM, vm_props("vm-a", nic, windows=True, computer="a" * 15), T_VM)


def test_linux_computer_name_may_be_longer(arm):
    nic = make_nic(arm, "nic-a")
    arm.put(VM, vm_props("vm-a", nic, computer="a" * 40), T_VM)


def test_windows_vm_needs_a_password(arm):
    nic = make_nic(arm, "nic-a")
    props = vm_props("vm-a", nic, windows=True)
    del props["osProfile"]["adminPassword"]
    refused(arm.put, VM, props, T_VM, code="InvalidParameter", match="adminPassword")


def test_vm_name_rules(arm):
    nic = make_nic(arm, "nic-a")
    refused(arm.put, VM, vm_props("vm-a-", nic, computer="vma"), T_VM,
            code="InvalidResourceName")


# -- updates of live names ----------------------------------------------------------------

def test_changing_an_immutable_property_of_a_live_vm(arm):
    make_vm(arm)
    changed = vm_props("vm-a", nic_id("nic-vm-a"))
    changed["storageProfile"]["imageReference"]["sku"] = "other"
    err = refused(arm.put, VM, changed, VM_READY, code="PropertyChangeNotAllowed", status=409)
    assert "storageProfile.imageReference" in err.message
    # A mutable property (tags) updates in place.
    arm.put(VM, {**vm_props("vm-a", nic_id("nic-vm-a")), "tags": {"x": "y"}}, VM_READY)


def test_changing_the_location_of_a_live_gallery(arm):
    gallery(arm)
    refused(arm.put, GALLERY, {"resourceGroupName": RG, "galleryName": "galsim",
                               "location": "northeurope"}, T_VM,
            code="PropertyChangeNotAllowed")


def test_a_deleted_name_can_be_reused_with_new_properties(arm):
    vm = make_vm(arm)
    took = arm.delete(vm, VM_READY)
    changed = vm_props("vm-a", nic_id("nic-vm-a"))
    changed["storageProfile"]["imageReference"]["sku"] = "other"
    arm.put(VM, changed, VM_READY + took)


# -- leases -------------------------------------------------------------------------------

def test_nic_leased_by_a_live_vm_cannot_be_deleted(arm):
    vm = make_vm(arm)
    nic = nic_id("nic-vm-a")
    refused(arm.delete, nic, VM_READY, code="OperationNotAllowed", status=409, match="vm-a")
    took = arm.delete(vm, VM_READY)
    arm.delete(nic, VM_READY + took)  # released with its VM


def test_nic_cannot_be_attached_to_two_vms(arm):
    make_vm(arm)
    refused(arm.put, VM, vm_props("vm-b", nic_id("nic-vm-a")), VM_READY, code="NicInUse")


def test_vm_needs_an_existing_nic(arm):
    refused(arm.put, VM, vm_props("vm-a", nic_id("nic-missing")), T_VM, code="NotFound")


# -- a deliberately wrong program ---------------------------------------------------------

WRONG_PROGRAM = '''
"""Like the real pipeline, but the capture's source is SOURCE, not the Generalize output."""
import pulumi
from pulumi_azure_native import resources

from vmimage.components.build_vm import BuildVm, BuildVmArgs
from vmimage.stack.config import load_from_stack
from vmimage.providers.generalize import Generalize, GeneralizeArgs
from vmimage.components.guest_scripts import GuestScripts, GuestScriptsArgs, seal_for
from vmimage.components.image import ImageCapture, ImageCaptureArgs, ImageGallery, ImageGalleryArgs
from vmimage.components.network import Network, NetworkArgs
from vmimage.parts.vm_profile import AdminCredentials

spec = load_from_stack().spec
build = spec.builds[0]
rg = resources.ResourceGroup("rg", resource_group_name=spec.resource_group,
                             location=spec.location)
net = Network("net", NetworkArgs(resource_group_name=rg.name, location=spec.location,
                                 spec=spec.network))
gallery = ImageGallery("gallery", ImageGalleryArgs(spec=spec, resource_group_name=rg.name))
admin = AdminCredentials(spec.admin.username, spec.admin.ssh_public_key, None)
vm = BuildVm("build", BuildVmArgs(spec=spec, build=build, resource_group_name=rg.name,
                                  subnet_id=net.subnet_id, admin=admin))
scripts = GuestScripts("scripts", GuestScriptsArgs(spec=spec, build=build,
                                                   resource_group_name=rg.name,
                                                   vm_name=vm.vm_name))
seal = seal_for(spec, build)
generalized = Generalize(
    "generalize",
    GeneralizeArgs(resource_group_name=rg.name, vm_name=vm.vm_name, vm_id=vm.vm_id,
                   location=spec.location, os=seal.os, seal_script=seal.script),
    opts=pulumi.ResourceOptions(depends_on=[scripts.last]),
)
ImageCapture(
    "capture",
    ImageCaptureArgs(spec=spec, build=build, resource_group_name=rg.name,
                     source_vm_id=SOURCE, gallery=gallery),
    # Even waiting for the last customize step does not make the VM generalized.
    opts=pulumi.ResourceOptions(depends_on=[scripts.last]),
)
'''


def _program(tmp_path, source):
    path = tmp_path / "wrong_program.py"
    path.write_text(WRONG_PROGRAM.replace("SOURCE", source))
    return path


def _capture_stack():
    pipeline = load_pipeline("dev")
    pipeline["clones"] = []
    return stack_config("dev", pipeline)


def test_capture_that_does_not_wait_for_generalize_is_refused(tmp_path):
    stack = _capture_stack()
    result = run_offline(stack, program=_program(tmp_path, "vm.vm_id"))
    assert [(f.type, f.name, f.code) for f in result.failures] == [
        (VERSION, "capture-version", "OperationNotAllowed")
    ]
    assert "generalized" in result.failures[0].message
    assert result.failures[0].urn.endswith("::capture-version")
    # The CLI reports it as a refusal: resource, ARM code, message; exit 1.
    out = io.StringIO()
    assert print_run(Console(file=out, width=200), stack, result) == EXIT_REFUSED
    text = out.getvalue()
    assert "capture-version" in text and "OperationNotAllowed" in text
    assert "Traceback" not in text


def test_same_program_with_the_generalize_edge_is_accepted(tmp_path):
    """The control: the only difference is where the capture's source comes from."""
    result = run_offline(_capture_stack(), program=_program(tmp_path, "generalized.vm_id"))
    assert result.failures == [] and result.error is None
    version = next(r for r in result.registrations if r.type == VERSION)
    generalize = next(r for r in result.registrations if r.name == "generalize")
    assert version.start_s >= generalize.end_s


def test_a_captured_version_is_immutable_but_its_publishing_settings_update(arm):
    vm = make_vm(arm, luns=(0, 3))
    gallery(arm)
    done = generalized(arm, vm)
    outcome = arm.put(VERSION, version_props(vm), done)
    later = done + outcome.duration
    other = make_vm(arm, name="vm-b", at=later)
    # Another source under the same version number: Azure never recaptures a version.
    refused(arm.put, VERSION, version_props(other), later + 500,
            code="PropertyChangeNotAllowed", match="storageProfile")
    # Replica counts are updatable in place, without a recapture.
    more = version_props(vm)
    more["publishingProfile"]["targetRegions"][0]["regionalReplicaCount"] = 3
    updated = arm.put(VERSION, more, later + 500)
    assert updated.outputs["dataDiskLuns"] == [0, 3]
    assert updated.duration == arm.latency("update")


# -- a generalized VM is frozen (docs/azure-behaviours.md) ---------------------------------

def test_a_generalized_vm_cannot_be_modified(arm):
    vm = make_vm(arm)
    arm.put(VM, vm_props("vm-a", nic_id("nic-vm-a")), VM_READY)  # running: an update is fine
    done = generalized(arm, vm)
    changed = vm_props("vm-a", nic_id("nic-vm-a"))
    changed["diagnosticsProfile"] = {"bootDiagnostics": {"enabled": False}}
    refused(arm.put, VM, changed, done + 1, code="OperationNotAllowed", status=409,
            match="since the VM is generalized")


def test_run_commands_cannot_be_deleted_from_a_vm_that_is_not_running(arm):
    vm = make_vm(arm)
    command = arm.put(RUN_COMMAND, _run_command(), VM_READY).id
    done = generalized(arm, vm)
    refused(arm.delete, command, done + 1, code="OperationNotAllowed", status=409,
            match="Cannot modify extensions in the VM when the VM is not running")


def test_deleting_a_vm_takes_its_run_commands_and_deletable_nics(arm):
    vm = make_vm(arm)
    command = arm.put(RUN_COMMAND, _run_command(), VM_READY).id
    detached = make_nic(arm, "nic-kept", at=VM_READY)
    props = vm_props("vm-a", nic_id("nic-vm-a"))
    props["networkProfile"]["networkInterfaces"][0]["deleteOption"] = "Delete"
    arm.put(VM, props, VM_READY + 10)
    done = generalized(arm, vm, at=VM_READY + 100)
    took = arm.delete(vm, done + 1)
    gone = done + 1 + took
    assert not arm.resources[command.lower()].alive(gone)
    assert not arm.resources[nic_id("nic-vm-a").lower()].alive(gone)
    assert arm.resources[detached.lower()].alive(gone)
    # ...and deleting what is gone already is what ARM answers 204 to: nothing to do
    assert arm.delete(command, gone + 1) == 0.0
    assert arm.delete(nic_id("never-existed"), gone + 1) == 0.0


def test_lookups_answer_404_with_what_is_missing(arm):
    from offline.arm import INVOKES

    lookup = INVOKES["azure-native:compute:getGalleryImageVersion"]
    args = {"resourceGroupName": RG, "galleryName": "galsim", "galleryImageName": "img",
            "galleryImageVersionName": "1.0.0"}
    refused(lookup, arm, args, T_NET, code="ParentResourceNotFound", status=404)
    refused(lookup, arm, {**args, "resourceGroupName": "nope"}, T_NET,
            code="ResourceGroupNotFound", status=404)
    gallery(arm)
    refused(lookup, arm, args, 1000.0, code="ResourceNotFound", status=404)
    vm = make_vm(arm)
    done = generalized(arm, vm)
    props = version_props(vm)
    props["tags"] = {"vmimage-build": "v1:abc"}
    arm.put(VERSION, props, done)
    found = lookup(arm, args, done + 10_000)
    assert found["id"].endswith("/versions/1.0.0") and found["tags"] == props["tags"]


# -- the simulated guest (offline/guest.py) -------------------------------------------------

INLINE_DEPROVISION = """#!/usr/bin/env bash
set -euo pipefail
waagent -deprovision+user -force
sync
"""


def _command(arm, script, name="seal", asynchronous=False):
    return {**_run_command(name), "source": {"script": script},
            "asyncExecution": asynchronous, "treatFailureAsDeploymentFailure": True}


def test_a_synchronous_waagent_deprovision_never_reports(arm):
    """waagent stops the agent that would report the command (WALinuxAgent#3547): ARM
    waits for the extension's timeout, and the VM never powers off."""
    vm = make_vm(arm)
    error = refused(arm.put, RUN_COMMAND, _command(arm, INLINE_DEPROVISION), VM_READY,
                    code="VMExtensionProvisioningTimeout", status=409,
                    match="never reported back")
    assert error.after_s == arm.latency("runCommand.agentLost")
    assert arm.vm_state(vm, VM_READY + 10_000) == ("running", "specialized")


def test_the_detached_deprovision_reports_then_powers_the_vm_off(arm):
    from vmimage.components.guest_scripts import SEAL_TEMPLATE
    from vmimage.scripts.render import render

    vm = make_vm(arm)
    script = render(SEAL_TEMPLATE["linux"], {}, os="linux", vm_name="vm-a")
    outcome = arm.put(RUN_COMMAND, _command(arm, script), VM_READY)
    assert outcome.duration == arm.latency("runCommand.deprovision")
    off = VM_READY + outcome.duration + arm.latency("guest.deprovision")
    assert arm.vm_state(vm, off - 1)[0] == "running"
    assert arm.vm_state(vm, off)[0] == "stopped"
    view = arm.run_command_view(outcome.id, off)
    assert view["executionState"] == "Succeeded"


def test_a_synchronous_sysprep_shutdown_never_reports(arm):
    vm = make_vm(arm, windows=True)
    script = "& $env:SystemRoot\\System32\\Sysprep\\sysprep.exe /generalize /oobe /shutdown"
    refused(arm.put, RUN_COMMAND, _command(arm, script), VM_READY,
            code="VMExtensionProvisioningTimeout")
    assert arm.vm_state(vm, VM_READY + arm.latency("guest.sysprep"))[0] == "stopped"


def test_the_async_windows_seal_reports_the_sealed_state_before_power_off(arm):
    from vmimage.components.guest_scripts import SEAL_TEMPLATE, SYSPREP_VARS
    from vmimage.scripts.render import render

    vm = make_vm(arm, windows=True)
    script = render(SEAL_TEMPLATE["windows"], SYSPREP_VARS, os="windows", vm_name="vm-a")
    outcome = arm.put(RUN_COMMAND, _command(arm, script, asynchronous=True), VM_READY)
    sealed = VM_READY + arm.latency("guest.sysprep")
    assert arm.run_command_view(outcome.id, sealed - 1)["executionState"] == "Running"
    view = arm.run_command_view(outcome.id, sealed)
    assert view["executionState"] == "Succeeded"
    assert "ImageState=IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE" in view["output"]
    assert arm.vm_state(vm, sealed + 59)[0] == "running"  # shutdown.exe /t 60
    assert arm.vm_state(vm, sealed + 60)[0] == "stopped"


# ----- seals that recover, and failures seen in minutes (the real procedures) ------------

def _seal(arm, vm, at, *, windows):
    """Generalize's real procedure against this ARM, with the scripts the program sends:
    (what it reported, when it ended), or ArmError with how long it ran."""
    from offline.arm.vm_rest import run_action
    from vmimage.components.guest_scripts import (
        SEAL_CHECKS_TEMPLATE,
        SEAL_TEMPLATE,
        SEAL_TIMEOUT_S,
        SYSPREP_VARS,
    )
    from vmimage.providers.generalize import GENERALIZE as GENERALIZE_ACTION
    from vmimage.scripts.render import render

    os = "windows" if windows else "linux"
    props = {"resourceGroupName": RG, "vmName": "vm-a", "vmId": vm, "location": LOC, "os": os,
             "sealScript": render(SEAL_TEMPLATE[os], SYSPREP_VARS, os=os, vm_name="vm-a"),
             "sealChecks": render(SEAL_CHECKS_TEMPLATE[os], {}, os=os, vm_name="vm-a")
             if windows else None, "timeoutSeconds": SEAL_TIMEOUT_S[os]}
    return run_action(arm, GENERALIZE_ACTION, props, at)


def _sent(arm, vm, name):
    return unwrap(arm.resources[f"{vm}/runCommands/{name}".lower()].props)["source"]["script"]


@pytest.mark.parametrize("windows", [False, True], ids=["linux", "windows"])
def test_a_failed_seal_is_sent_again_once_the_guest_is_fixed(arm, windows):
    """fail → fix → re-run: Azure keeps the failed seal command on the still running VM;
    the re-run sends it again, changed, so the guest runs it again, and seals."""
    from offline.guest import CLOUD_INIT_ERROR, GuestState

    vm = make_vm(arm, windows=windows)
    arm.guest = GuestState(sysprep_exits_unsealed=True) if windows else \
        GuestState(cloud_init_clean_fails=True)
    with pytest.raises(ArmError) as failed:
        _seal(arm, vm, VM_READY, windows=windows)
    message = failed.value.message
    if windows:  # seen minutes after sysprep exited, not at the 50-minute deadline
        assert "sysprep.exe exited with 0 but ImageState is still IMAGE_STATE_COMPLETE" \
            in message and "setuperr.log" in message
        assert failed.value.after_s <= (arm.latency("runCommand.checks")
                                        + arm.latency("guest.sysprep") + 3 * 60 + 2 * 15)
    else:  # the run command itself failed, with cloud-init's own words, at once
        assert CLOUD_INIT_ERROR in message and "failed before it began" in message
        assert failed.value.after_s <= 120
    failed_at = VM_READY + failed.value.after_s
    assert arm.vm_state(vm, failed_at) == ("running", "specialized")
    assert "# vmimage attempt" not in _sent(arm, vm, "vmimage-seal")

    arm.guest = GuestState()  # the fix
    result, _ = _seal(arm, vm, failed_at + 60, windows=windows)
    assert result["osState"] == "generalized"
    assert _sent(arm, vm, "vmimage-seal").endswith("\n# vmimage attempt 2\n")
    if windows:
        assert _sent(arm, vm, "vmimage-seal-checks").endswith("\n# vmimage attempt 2\n")


@pytest.mark.parametrize("asks", [True, False])
def test_install_features_restarts_only_when_a_feature_says_so(arm, asks):
    """The Restart after install-features reads the command's output: RestartNeeded = Yes
    prints the marker and the VM is restarted; otherwise nothing is sent."""
    from offline.arm.vm_rest import run_action
    from offline.guest import GuestState
    from vmimage.providers.restart import RESTART as RESTART_ACTION
    from vmimage.scripts.render import render

    vm = make_vm(arm, windows=True)
    arm.guest = GuestState(features_need_restart=asks)
    script = render("windows/install-features.ps1.j2", {"features": ["Web-Server"]},
                    os="windows", vm_name="vm-a")
    done = arm.put(RUN_COMMAND, _command(arm, script, name="customize-00-install-features"),
                   VM_READY)
    at = VM_READY + done.duration
    props = {"resourceGroupName": RG, "vmName": "vm-a", "vmId": vm, "location": LOC,
             "after": done.id, "timeoutSeconds": 900,
             "whenAskedBy": "customize-00-install-features"}
    result, end = run_action(arm, RESTART_ACTION, props, at)
    rebooted = arm.reboots.get(vm.lower(), [])
    if asks:
        assert result["agentStatus"] == "Ready" and len(rebooted) == 1
        assert end - at >= arm.latency("vm.restart") + arm.latency("guest.boot")
    else:
        assert result["agentStatus"] == "not restarted" and rebooted == []
