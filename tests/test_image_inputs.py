"""What an image is made from and of (#17): sources (marketplace with a plan, another
gallery's version, a managed image, an imported VHD), OS disks, Arm64, and formatted data
disks: refused at their key paths when misused, registered as the engine receives them
(plain mocks), and taken by the simulated Azure (offline)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from conftest import LOCATION, load_stack_dict, problems_of, run_offline, stack_config
from program_mocks import run_program
from rich.console import Console

from offline.arm import SUBSCRIPTION_ID, SimulatedArm
from offline.arm.tenancy import add_existing
from offline.cli import main
from vmimage.config.fingerprint import build_fingerprint
from vmimage.config.validate import load_spec

VM = "azure-native:compute:VirtualMachine"
VMSS = "azure-native:compute:VirtualMachineScaleSet"
VERSION = "azure-native:compute:GalleryImageVersion"
DEFINITION = "azure-native:compute:GalleryImage"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
GENERALIZE = "pulumi-python:dynamic/vmimage:Generalize"

GROUP = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups"
OTHER_VERSION = (f"{GROUP}/rg-shared/providers/Microsoft.Compute/galleries/galshared/images/"
                 "base/versions/2.0.0")
MANAGED_IMAGE = f"{GROUP}/rg-shared/providers/Microsoft.Compute/images/img-base"
ACCOUNT = f"{GROUP}/rg-up/providers/Microsoft.Storage/storageAccounts/stimport"
BLOB = "https://stimport.blob.core.windows.net/vhds/{}.vhd"
PLAN = {"name": "cis-ubuntu2204-l1", "product": "cis-ubuntu-linux-2204-l1",
        "publisher": "center-for-internet-security-inc"}


def dev() -> dict[str, Any]:
    return load_stack_dict("dev")


def vhd_pipeline() -> dict[str, Any]:
    """An imported VHD (1.0.0) and a child build on it (1.1.0) that the clones run."""
    pipeline = load_stack_dict("dev")["vmimage:pipeline"]
    child = pipeline["builds"][0]
    child.update(version="1.1.0", **{"from": {"version": "1.0.0"}})
    child["dataDisks"] = [{"lun": 1, "sizeGb": 64,
                           "format": {"fs": "xfs", "mount": "/srv/data", "label": "data"}}]
    pipeline["builds"] = [{"version": "1.0.0", "from": {"vhd": {
        "uri": BLOB.format("os"), "storageAccountId": ACCOUNT,
        "dataDisks": [{"lun": 0, "uri": BLOB.format("data0")}]}},
        "regions": [{"name": "westeurope"}, {"name": "northeurope"}]}, child]
    pipeline["clones"][0]["version"] = "1.1.0"
    return pipeline


# -- the spec ----------------------------------------------------------------------------------

def test_exactly_one_source_of_five():
    raw = dev()["vmimage:pipeline"]
    raw["builds"][0]["from"]["managedImageId"] = MANAGED_IMAGE
    assert problems_of(raw) == [
        "builds[0].from: give exactly one of marketplace, version, imageVersionId, "
        "managedImageId or vhd (got marketplace, managedImageId)"]


def test_a_vhd_build_has_no_build_vm_keys_and_its_blobs_are_the_accounts():
    raw = vhd_pipeline()
    imported = raw["builds"][0]
    imported.update(size="Standard_D2s_v5", customize=[{"inline": "echo hi"}], spot=True)
    imported["from"]["vhd"]["dataDisks"].append({"lun": 0, "uri": BLOB.format("os")})
    imported["from"]["vhd"]["uri"] = "https://elsewhere.blob.core.windows.net/vhds/os.vhd"
    problems = problems_of(raw)
    for key in ("size", "customize", "spot"):
        assert f"builds[0].{key}: not with from.vhd (an imported VHD has no build VM; " \
               "customize it in a later build with from.version)" in problems
    assert "builds[0].from.vhd.uri: the blob is in storage account 'elsewhere', not in " \
           "from.vhd.storageAccountId ('stimport')" in problems
    assert "builds[0].from.vhd.dataDisks[1].lun: LUN 0 is used twice" in problems


@pytest.mark.parametrize("uri", [
    "http://stimport.blob.core.windows.net/vhds/os.vhd",       # not https
    "https://stimport.blob.core.windows.net/vhds/os.vhdx",     # not a VHD
    "https://stimport.file.core.windows.net/share/os.vhd",     # not a blob
])
def test_a_vhd_is_an_https_page_blob(uri):
    raw = vhd_pipeline()
    raw["builds"][0]["from"]["vhd"]["uri"] = uri
    [problem] = problems_of(raw)
    assert problem.startswith("builds[0].from.vhd.uri: ") and ".vhd page blob" in problem


def test_a_vhd_becomes_a_gallery_version_only():
    raw = vhd_pipeline()
    raw["capture"] = "both"
    raw["managedImage"] = {"name": "img"}
    raw["security"] = {"trustedLaunch": False}
    assert "builds[0].from.vhd: a VHD becomes a gallery image version; set capture: gallery " \
        "(a VHD export beside it is fine)" in problems_of(raw)


def test_size_is_required_but_for_a_vhd():
    raw = dev()["vmimage:pipeline"]
    del raw["builds"][0]["size"]
    assert problems_of(raw) == ["builds[0].size: required"]
    assert load_spec(vhd_pipeline(), location=LOCATION).spec.builds[0].size is None


def test_arm64_sizes_must_match_the_architecture():
    raw = dev()["vmimage:pipeline"]
    raw["gallery"]["image"]["architecture"] = "Arm64"
    raw["builds"][0]["size"] = "Standard_D2ps_v5"
    assert problems_of(raw) == [
        "clones[0].size: Standard_B2s is an x64 size, but gallery.image.architecture is Arm64"]
    raw["gallery"]["image"]["architecture"] = "x64"
    assert problems_of(raw) == [
        "builds[0].size: Standard_D2ps_v5 is an Arm64 size, but gallery.image.architecture "
        "is x64 (Arm64 sizes have a 'p', e.g. Standard_D2ps_v5)"]


def test_os_disks_grow_never_shrink_and_fit_a_gallery():
    raw = dev()["vmimage:pipeline"]
    raw["builds"][0]["osDisk"] = {"sizeGb": 3000}
    raw["clones"][0]["osDisk"] = {"sizeGb": 64, "ephemeral": True}
    raw["security"] = {"diskEncryptionSetId": (
        f"{GROUP}/rg-keys/providers/Microsoft.Compute/diskEncryptionSets/des")}
    assert problems_of(raw) == [
        "builds[0].osDisk.sizeGb: 3000 GiB; a gallery image version's OS disk is at most "
        "2,048 GiB (Shallow replication takes larger images)",
        "clones[0].osDisk.sizeGb: 64 GiB is smaller than the image's OS disk (3000 GiB); a "
        "disk can grow, never shrink",
        "clones[0].osDisk.ephemeral: an ephemeral OS disk lives on the host, not in a "
        "managed disk: security.diskEncryptionSetId cannot encrypt it"]


def test_formats_follow_the_os_and_never_share_a_target():
    raw = dev()["vmimage:pipeline"]
    disks = raw["builds"][0]["dataDisks"]
    disks[0]["format"] = {"fs": "ntfs", "letter": "F"}
    disks[1]["format"] = {"fs": "ext4", "mount": "/data"}
    disks.append({"lun": 2, "sizeGb": 8, "format": {"fs": "xfs", "mount": "/data"}})
    disks.append({"lun": 3, "sizeGb": 8, "format": {"fs": "xfs", "mount": "/data/logs"}})
    disks.append({"lun": 4, "sizeGb": 8, "format": {"fs": "xfs", "mount": "/b",
                                                     "label": "thirteen-long"}})
    assert problems_of(raw) == [
        "builds[0].dataDisks[0].format.fs: Linux disks are formatted ext4 or xfs",
        "builds[0].dataDisks[0].format.letter: Linux disks take a mount path, not a letter",
        "builds[0].dataDisks[0].format.mount: required on Linux, e.g. /data",
        "builds[0].dataDisks[2].format: /data is also dataDisks[1]'s /data; one disk would "
        "hide the other in every clone",
        "builds[0].dataDisks[3].format: /data/logs is under dataDisks[1]'s /data; one disk "
        "would hide the other in every clone",
        "builds[0].dataDisks[4].format.label: an xfs label is at most 12 characters"]


def test_mount_paths_are_typed_values():
    raw = dev()["vmimage:pipeline"]
    disks = raw["builds"][0]["dataDisks"]
    disks[0]["format"] = {"fs": "xfs", "mount": "/var"}
    disks[1]["format"] = {"fs": "xfs", "mount": "/a/../b"}
    assert problems_of(raw) == [
        "builds[0].dataDisks[0].format.mount: /var is the system's; mount data elsewhere, "
        "e.g. /data",
        "builds[0].dataDisks[1].format.mount: '/a/../b' is not a plain path (no . or .. "
        "parts)"]


def test_a_child_build_may_not_mount_over_an_inherited_disk():
    raw = dev()["vmimage:pipeline"]
    first = raw["builds"][0]
    first["dataDisks"][0]["format"] = {"fs": "ext4", "mount": "/data"}
    child = {"version": "2.0.0", "from": {"version": first["version"]}, "size": first["size"],
             "dataDisks": [{"lun": 5, "sizeGb": 8, "format": {"fs": "ext4",
                                                               "mount": "/data/app"}}]}
    raw["builds"].append(child)
    assert problems_of(raw) == [
        "builds[1].dataDisks[0].format: /data/app is under builds[0].dataDisks[0]'s /data; "
        "one disk would hide the other in every clone"]
    # The inherited disk declared again at its LUN is the same disk, not a second one.
    child["dataDisks"] = [{**first["dataDisks"][0]},
                          {"lun": 5, "sizeGb": 8, "format": {"fs": "ext4", "mount": "/srv/app"}}]
    assert len(load_spec(raw, location=LOCATION).spec.builds) == 2


def test_one_definition_one_plan():
    raw = dev()["vmimage:pipeline"]
    first = raw["builds"][0]
    first["from"]["marketplace"]["plan"] = PLAN
    second = {**first, "version": "2.0.0", "from": {"marketplace": {
        **first["from"]["marketplace"], "plan": {**PLAN, "name": "other"}}}}
    raw["builds"].append(second)
    assert problems_of(raw) == [
        "builds[1].from.marketplace.plan: differs from the pipeline's first plan; one image "
        "definition carries one purchase plan"]


def test_fingerprints_of_existing_builds_do_not_change():
    """Keys added since leave a build's fingerprint alone until they are set."""
    spec = load_spec(dev()["vmimage:pipeline"], location=LOCATION).spec
    before = build_fingerprint(spec, spec.builds[0])
    raw = dev()["vmimage:pipeline"]
    raw["builds"][0]["dataDisks"][0]["format"] = {"fs": "ext4", "mount": "/data"}
    formatted = load_spec(raw, location=LOCATION).spec
    assert build_fingerprint(formatted, formatted.builds[0]) != before
    assert before == build_fingerprint(spec, spec.builds[0])


# -- what is registered (plain mocks) ----------------------------------------------------------

def test_sources_by_id_boot_the_build_vm():
    for key, image_id in (("imageVersionId", OTHER_VERSION), ("managedImageId", MANAGED_IMAGE)):
        config = dev()
        config["vmimage:pipeline"]["builds"][0]["from"] = {key: image_id}
        recorded = run_program(config)
        build_vm = recorded.by_name("vmimage-v1-0-0-build-vm")
        assert build_vm.inputs["storageProfile"]["imageReference"] == {"id": image_id}


def test_a_plan_is_on_the_definition_and_every_vm_of_the_lineage():
    config = dev()
    pipeline = config["vmimage:pipeline"]
    pipeline["builds"][0]["from"]["marketplace"]["plan"] = PLAN
    child = {**pipeline["builds"][0], "version": "1.1.0", "from": {"version": "1.0.0"}}
    pipeline["builds"].append(child)
    pipeline["clones"].append({"name": "pool", "kind": "scaleSet", "count": 2,
                               "version": "1.1.0", "size": "Standard_B2s"})
    recorded = run_program(config)
    (definition,) = recorded.of_type(DEFINITION)
    assert definition.inputs["purchasePlan"] == PLAN
    vms = recorded.of_type(VM)
    assert len(vms) == 5 and all(vm.inputs["plan"] == PLAN for vm in vms)
    (scale_set,) = recorded.of_type(VMSS)
    assert scale_set.inputs["plan"] == PLAN
    # and nothing of it without a plan
    plain = run_program(dev())
    assert "purchasePlan" not in plain.of_type(DEFINITION)[0].inputs
    assert not any("plan" in vm.inputs for vm in plain.of_type(VM))


def test_os_disks_and_ephemeral_clones():
    config = dev()
    pipeline = config["vmimage:pipeline"]
    pipeline["builds"][0]["osDisk"] = {"sizeGb": 64, "sku": "StandardSSD_LRS"}
    pipeline["clones"][0]["osDisk"] = {"sizeGb": 128, "ephemeral": True}
    pipeline["clones"].append({"name": "pool", "kind": "scaleSet", "count": 2,
                               "version": "1.0.0", "size": "Standard_B2s",
                               "osDisk": {"sizeGb": 96, "sku": "Premium_ZRS"}})
    recorded = run_program(config)
    build_disk = recorded.by_name("vmimage-v1-0-0-build-vm").inputs["storageProfile"]["osDisk"]
    assert build_disk["diskSizeGB"] == 64
    assert build_disk["managedDisk"]["storageAccountType"] == "StandardSSD_LRS"
    assert build_disk["caching"] == "ReadWrite" and "diffDiskSettings" not in build_disk
    clones = [vm for vm in recorded.of_type(VM) if "-clones-" in vm.name]
    for clone in clones:
        disk = clone.inputs["storageProfile"]["osDisk"]
        assert disk["diffDiskSettings"] == {"option": "Local"}
        assert disk["caching"] == "ReadOnly" and "managedDisk" not in disk
        assert disk["diskSizeGB"] == 128
    (scale_set,) = recorded.of_type(VMSS)
    disk = scale_set.inputs["virtualMachineProfile"]["storageProfile"]["osDisk"]
    assert disk["diskSizeGB"] == 96
    assert disk["managedDisk"]["storageAccountType"] == "Premium_ZRS"


def test_an_arm64_definition():
    config = dev()
    pipeline = config["vmimage:pipeline"]
    pipeline["gallery"]["image"]["architecture"] = "Arm64"
    pipeline["builds"][0]["size"] = "Standard_D2ps_v5"
    pipeline["clones"][0]["size"] = "Standard_D2ps_v5"
    (definition,) = run_program(config).of_type(DEFINITION)
    assert definition.inputs["architecture"] == "Arm64"
    (plain,) = run_program(dev()).of_type(DEFINITION)
    assert "architecture" not in plain.inputs  # x64 is Azure's default: old stacks unchanged


def test_a_vhd_build_registers_only_its_version_and_the_child_formats_first():
    config = dev()
    config["vmimage:pipeline"] = vhd_pipeline()
    recorded = run_program(config)
    versions = {v.inputs["galleryImageVersionName"]: v for v in recorded.of_type(VERSION)}
    assert versions["1.0.0"].inputs["storageProfile"] == {
        "osDiskImage": {"source": {"uri": BLOB.format("os"), "storageAccountId": ACCOUNT}},
        "dataDiskImages": [{"lun": 0, "source": {"uri": BLOB.format("data0"),
                                                 "storageAccountId": ACCOUNT}}]}
    build_vms = [vm for vm in recorded.of_type(VM) if "-build-" in vm.name]
    assert [vm.name for vm in build_vms] == ["vmimage-v1-1-0-build-vm"]  # none for 1.0.0
    assert len(recorded.of_type(GENERALIZE)) == 1
    disks = build_vms[0].inputs["storageProfile"]["dataDisks"]
    assert [(d["lun"], d["createOption"]) for d in disks] == [(0, "FromImage"), (1, "Empty")]
    commands = recorded.of_type(RUN_COMMAND)
    assert [c.inputs["runCommandName"] for c in commands] == [
        "vmimage-format-disks", "customize-00-install-packages"]
    assert "1:xfs:/srv/data:data" in commands[0].inputs["source"]["script"]
    assert commands[0].urn in commands[1].dependencies  # the steps come after the disks
    clone_disks = [vm.inputs["storageProfile"]["dataDisks"]
                   for vm in recorded.of_type(VM) if "-clones-" in vm.name]
    assert clone_disks and all([d["lun"] for d in disks] == [0, 1] for disks in clone_disks)


# -- offline --------------------------------------------------------------------------------

def test_an_imported_vhd_and_its_child_run_offline():
    arm = SimulatedArm()
    add_existing(arm, ACCOUNT, region="westeurope")
    result = run_offline(stack_config("dev", vhd_pipeline()), arm=arm)
    assert not (result.failures or result.error or result.config_problems)
    assert result.outputs["buildVmStates"]["1.0.0"] == {"powerState": "none",
                                                        "osState": "imported"}
    missing = run_offline(stack_config("dev", vhd_pipeline()))  # no storage account
    assert any("storage account" in f.message for f in missing.failures)


def test_sources_by_id_run_offline_against_existing_images():
    for key, image_id in (("imageVersionId", OTHER_VERSION), ("managedImageId", MANAGED_IMAGE)):
        pipeline = dev()["vmimage:pipeline"]
        pipeline["builds"][0]["from"] = {key: image_id}
        arm = SimulatedArm()
        add_existing(arm, image_id, region="westeurope")
        if key == "imageVersionId":  # its definition is read first (and fits the stack's)
            add_existing(arm, image_id.rsplit("/versions/", 1)[0], region="westeurope",
                         props={"features": [{"name": "SecurityType",
                                              "value": "TrustedLaunchSupported"}]})
        result = run_offline(stack_config("dev", pipeline), arm=arm)
        assert not (result.failures or result.error or result.config_problems), (
            result.failures or result.error or result.config_problems)
        missing = run_offline(stack_config("dev", pipeline))
        if key == "imageVersionId":  # refused before anything is registered
            assert missing.config_problems and not missing.registrations
        else:
            assert any(f.code == "NotFound" for f in missing.failures)


def test_the_import_example_runs_with_its_storage_account_declared():
    out = io.StringIO()
    code = main(["up", "--stack", "import", "--quiet", "--existing",
                 "/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups/"
                 "rg-vmimage-uploads/providers/Microsoft.Storage/storageAccounts/"
                 "stvmimageimport"], console=Console(file=out, width=200))
    assert code == 0, out.getvalue()
