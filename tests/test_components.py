"""The components under Pulumi mocks: what the engine would see (types, parents,
dependencies, options, inputs with secrets still marked)."""

from __future__ import annotations

import json

import pytest
from conftest import by_name, load_pipeline, run_offline, stack_config

import offline.runner
from offline.arm import SUBSCRIPTION_ID
from offline.engine import SimulatorMonitor
from offline.report import report_json
from offline.secrets import REDACTED, unwrap
from vmimage.vocabulary import GENERALIZE

VM = "azure-native:compute:VirtualMachine"
NIC = "azure-native:network:NetworkInterface"
VERSION = "azure-native:compute:GalleryImageVersion"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
PASSWORD = "Configured-Pa55word!"


class RecordingMonitor(SimulatorMonitor):
    """Also keeps each registration's per-property dependencies (the monitor itself
    merges them into one list)."""

    last: RecordingMonitor | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.property_dependencies: dict[str, dict[str, list[str]]] = {}
        RecordingMonitor.last = self

    def RegisterResource(self, request):  # the gRPC method name
        urn = self.make_urn(request.parent, request.type, request.name)
        self.property_dependencies[urn] = {
            key: list(deps.urns) for key, deps in request.propertyDependencies.items()
        }
        return super().RegisterResource(request)


def _run_recorded(stack):
    RecordingMonitor.last = None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(offline.runner, "SimulatorMonitor", RecordingMonitor)
        result = run_offline(stack)
    assert RecordingMonitor.last is not None
    return result, RecordingMonitor.last.property_dependencies


@pytest.fixture(scope="module")
def dev():
    pipeline = load_pipeline("dev")
    pipeline["builds"][0]["customize"].append(
        {"template": "linux/run-script.sh.j2", "vars": {"script": "echo second"}}
    )
    result, prop_deps = _run_recorded(stack_config("dev", pipeline))
    assert result.failures == [] and result.error is None, (result.failures, result.error)
    return result, prop_deps


@pytest.fixture(scope="module")
def win():
    result, prop_deps = _run_recorded(stack_config("win"))
    assert result.failures == [] and result.error is None, (result.failures, result.error)
    return result, prop_deps


def regs_of(result, type_):
    return [r for r in result.registrations if r.type == type_]


def build_vm(result):
    return next(r for r in regs_of(result, VM) if r.parent.endswith("::vmimage-v1-0-0-build"))


def clone_vms(result):
    return [r for r in regs_of(result, VM) if "CloneSet" in r.parent]


def password_is_secret(vm):
    """The password sits under a secret marker (Pulumi marks the enclosing top-level
    property, here the whole osProfile, as secret)."""
    wanted = "osProfile.adminPassword"
    return any(wanted == p or wanted.startswith(p + ".") for p in vm.secret_paths)


def test_component_type_tokens(dev):
    result, _ = dev
    components = {r.type for r in result.registrations if not r.custom}
    assert components == {
        "vmimage:index:ImagePipeline", "vmimage:index:Network", "vmimage:index:ImageGallery",
        "vmimage:index:ImageBuild", "vmimage:index:BuildVm", "vmimage:index:GuestScripts",
        "vmimage:index:ImageCapture",
        "vmimage:index:CloneSet",
    }


def test_every_resource_is_parented_up_to_the_pipeline(dev):
    result, _ = dev
    regs = {r.urn: r for r in result.registrations}
    pipeline = next(r for r in result.registrations if r.type == "vmimage:index:ImagePipeline")
    assert pipeline.parent is not None and "pulumi:pulumi:Stack" in pipeline.parent
    # The engine leaves the Stack's type out of its children's URNs.
    assert pipeline.urn == "urn:pulumi:dev::vmimage::vmimage:index:ImagePipeline::vmimage"
    for reg in result.registrations:
        if reg is pipeline:
            continue
        chain, current = [], reg
        while current.parent in regs:
            current = regs[current.parent]
            chain.append(current)
        assert current is pipeline, f"{reg.name} is not under the pipeline"
        parent = regs[reg.parent]
        assert not parent.custom  # only components parent resources
        # Children are named '<component>-<role>'.
        assert reg.name.startswith(parent.name + "-"), (reg.name, parent.name)
        # As the engine forms URNs: the parent's whole type chain, then the child's type.
        assert reg.urn.split("::")[2] == f"{parent.urn.split('::')[2]}${reg.type}"


def test_images_are_protected_and_nothing_else(dev):
    result, _ = dev
    protected = {r.type for r in result.registrations if r.protect}
    assert protected == {
        "azure-native:compute:Gallery", "azure-native:compute:GalleryImage", VERSION,
    }


def test_capture_source_is_the_generalize_output(dev):
    result, prop_deps = dev
    version = regs_of(result, VERSION)[0]
    generalize = regs_of(result, GENERALIZE)[0]
    vm = build_vm(result)
    source = unwrap(version.inputs)["storageProfile"]["source"]["virtualMachineId"]
    assert source == vm.id
    assert unwrap(generalize.outputs)["vmId"] == vm.id
    # A data dependency on Generalize, not on the VM: the capture waits for generalize.
    assert prop_deps[version.urn]["storageProfile"] == [generalize.urn]
    assert generalize.urn in version.dependencies
    assert vm.urn not in version.dependencies


def test_generalize_records_the_subscription_of_its_vm(dev):
    """The subscription the step's SDK client uses comes from the VM's ARM id, and stays
    an input: stacks recorded it (once from a client-config lookup), and dropping it
    would show every captured build as changed."""
    result, _ = dev
    props = unwrap(regs_of(result, GENERALIZE)[0].inputs)
    assert props["subscriptionId"] == SUBSCRIPTION_ID
    assert build_vm(result).id.startswith(f"/subscriptions/{SUBSCRIPTION_ID}/")


def test_generalize_seals_after_the_last_customize_step(dev):
    """The seal is the Generalize step's (it ends with the guest powering off), and it
    waits for the last customize command; Linux seals with the detached deprovision."""
    result, prop_deps = dev
    generalize = regs_of(result, GENERALIZE)[0]
    last = by_name(result)["vmimage-v1-0-0-scripts-customize-1"]
    vm = build_vm(result)
    assert last.urn in generalize.dependencies
    assert vm.urn in prop_deps[generalize.urn]["vmId"]
    props = unwrap(generalize.inputs)
    assert props["os"] == "linux" and props.get("sealChecks") is None
    assert "systemd-run" in props["sealScript"] and "waagent" in props["sealScript"]
    assert props["vmName"] == "vm-build-web-ubuntu-1-0-0"
    assert "vmimage-v1-0-0-scripts-deprovision" not in by_name(result)


def test_run_commands_are_chained_in_order(dev):
    result, _ = dev
    commands = by_name(result)
    first = commands["vmimage-v1-0-0-scripts-customize-0"]
    second = commands["vmimage-v1-0-0-scripts-customize-1"]
    vm = build_vm(result)
    assert vm.urn in first.dependencies
    assert first.urn in second.dependencies
    names = [unwrap(c.inputs)["runCommandName"] for c in (first, second)]
    assert names == ["customize-00-install-packages", "customize-01-run-script"]
    scripts = [unwrap(c.inputs)["source"]["script"] for c in (first, second)]
    assert "apt-get" in scripts[0] and "nginx" in scripts[0]
    assert [unwrap(c.inputs)["tags"]["vmimage-step"] for c in (first, second)] == [
        "customize", "customize"]


def test_clones_boot_from_the_version(dev):
    result, prop_deps = dev
    version = regs_of(result, VERSION)[0]
    clones = clone_vms(result)
    assert len(clones) == 3
    for clone in clones:
        assert unwrap(clone.inputs)["storageProfile"]["imageReference"] == {"id": version.id}
        assert version.urn in clone.dependencies
        assert version.urn in prop_deps[clone.urn]["storageProfile"]


def test_clone_names_are_unique(dev):
    result, _ = dev
    clones = clone_vms(result)
    azure_names = [unwrap(c.inputs)["vmName"] for c in clones]
    computers = [unwrap(c.inputs)["osProfile"]["computerName"] for c in clones]
    # Registration order follows the SDK thread pool; the set of names is the contract.
    assert sorted(azure_names) == ["web-1-0-0-000", "web-1-0-0-001", "web-1-0-0-002"]
    assert len(set(computers)) == len(computers)
    nics = [unwrap(r.inputs)["networkInterfaceName"] for r in regs_of(result, NIC)]
    assert len(set(nics)) == len(nics) == 4
    # Each clone uses its own NIC.
    nic_ids = [unwrap(c.inputs)["networkProfile"]["networkInterfaces"][0]["id"] for c in clones]
    assert len(set(nic_ids)) == 3


def test_build_vm_data_disks_match_config(dev):
    result, _ = dev
    disks = unwrap(build_vm(result).inputs)["storageProfile"]["dataDisks"]
    assert [(int(d["lun"]), int(d["diskSizeGB"]), d["caching"],
             d["managedDisk"]["storageAccountType"], d["createOption"]) for d in disks] == [
        (0, 64, "ReadOnly", "Premium_LRS", "Empty"),
        (1, 128, "None", "StandardSSD_LRS", "Empty"),
    ]


def test_clones_get_every_lun_from_the_image(dev):
    result, _ = dev
    for clone in clone_vms(result):
        disks = unwrap(clone.inputs)["storageProfile"]["dataDisks"]
        assert [(int(d["lun"]), d["createOption"], d["caching"]) for d in disks] == [
            (0, "FromImage", "ReadOnly"), (1, "FromImage", "None"),
        ]


def test_disks_and_nics_are_deleted_with_their_vm(dev):
    result, _ = dev
    for vm in regs_of(result, VM):
        props = unwrap(vm.inputs)
        assert props["storageProfile"]["osDisk"]["deleteOption"] == "Delete"
        assert all(d["deleteOption"] == "Delete" for d in props["storageProfile"]["dataDisks"])
        # A clone's NIC goes with it; the build VM is replaced delete-first under its own
        # name, so its NIC must survive that (Pulumi deletes it when the build retires).
        expected = "Detach" if vm.name.endswith("-build-vm") else "Delete"
        assert [n["deleteOption"] for n in props["networkProfile"]["networkInterfaces"]] == [
            expected
        ]


def test_linux_vms_use_ssh_keys_only(dev):
    result, _ = dev
    key = load_pipeline("dev")["admin"]["sshPublicKey"]
    for vm in regs_of(result, VM):
        profile = unwrap(vm.inputs)["osProfile"]
        assert "adminPassword" not in profile
        linux = profile["linuxConfiguration"]
        assert linux["disablePasswordAuthentication"] is True
        assert [k["keyData"] for k in linux["ssh"]["publicKeys"]] == [key]
        assert vm.secret_paths == []


def test_trusted_launch_on_for_gen2_gallery(dev):
    result, _ = dev
    for vm in regs_of(result, VM):
        security = unwrap(vm.inputs)["securityProfile"]
        assert security["securityType"] == "TrustedLaunch"
        assert security["uefiSettings"] == {"secureBootEnabled": True, "vTpmEnabled": True}


def test_target_regions_and_replicas(dev):
    result, _ = dev
    profile = unwrap(regs_of(result, VERSION)[0].inputs)["publishingProfile"]
    assert [(r["name"], int(r["regionalReplicaCount"])) for r in profile["targetRegions"]] == [
        ("westeurope", 2), ("northeurope", 1),
    ]


def test_stack_outputs(dev):
    result, _ = dev
    version = regs_of(result, VERSION)[0]
    outputs = result.outputs
    assert outputs["imageVersionIds"] == {"1.0.0": version.id}
    assert outputs["buildVmStates"] == {
        "1.0.0": {"powerState": "deallocated", "osState": "generalized"}
    }
    assert [c["name"] for c in outputs["clones"]["web"]["vms"]] == [
        "web-1-0-0-000", "web-1-0-0-001", "web-1-0-0-002",
    ]
    ips = [c["privateIp"] for c in outputs["clones"]["web"]["vms"]]
    assert len(set(ips)) == 3 and all(ip.startswith("10.42.1.") for ip in ips)
    assert "adminPassword" not in outputs


# -- Windows ------------------------------------------------------------------------------

def test_windows_password_is_a_secret_input(win):
    result, _ = win
    vms = regs_of(result, VM)
    assert len(vms) == 3
    for vm in vms:
        assert password_is_secret(vm)
        profile = unwrap(vm.inputs)["osProfile"]
        assert profile["adminPassword"]  # present for the simulator, but marked secret
        assert "linuxConfiguration" not in profile
        assert len(profile["computerName"]) <= 15


def test_windows_generated_password_output_is_secret(win):
    result, _ = win
    assert result.outputs["adminPassword"] == REDACTED
    password = unwrap(build_vm(result).inputs)["osProfile"]["adminPassword"]
    assert password not in json.dumps(report_json(result), default=str)
    assert len(regs_of(result, "random:index/randomPassword:RandomPassword")) == 1


def test_windows_generalize_checks_then_runs_sysprep(win):
    result, _ = win
    props = unwrap(regs_of(result, GENERALIZE)[0].inputs)
    assert props["os"] == "windows"
    assert "Get-BitLockerVolume" in props["sealChecks"]
    assert "/generalize" in props["sealScript"] and "/quit" in props["sealScript"]
    ops = [o.op for o in result.operations
           if o.resource == regs_of(result, GENERALIZE)[0].urn]
    assert ops == ["seal-checks", "seal", "wait-for-guest-power-off", "deallocate",
                   "generalize"]


def test_windows_configured_password_stays_secret():
    stack = stack_config("win", **{"vmimage:adminPassword": PASSWORD})
    stack.secret_keys = ["vmimage:adminPassword"]
    result = run_offline(stack)
    assert result.failures == [] and result.error is None
    assert regs_of(result, "random:index/randomPassword:RandomPassword") == []
    for vm in regs_of(result, VM):
        assert password_is_secret(vm)
        assert unwrap(vm.inputs)["osProfile"]["adminPassword"] == PASSWORD
    assert "adminPassword" not in result.outputs  # nothing generated, nothing to export
    assert PASSWORD not in json.dumps(report_json(result), default=str)
