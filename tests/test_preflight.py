"""What Azure would refuse late, refused before anything is registered (exit 2, the key
named): source images of the wrong generation, NVMe-only sizes without NVMe, gallery disk
limits, a Windows image captured as a managed image only, subnets too small."""

from __future__ import annotations

import copy
import io
from typing import Any

import pytest
from conftest import load_pipeline, load_stack_dict
from program_mocks import run_program
from rich.console import Console

from offline.cli import main
from vmimage.config.errors import SpecError
from vmimage.config.rules import warnings
from vmimage.config.validate import load_spec

LOCATION = "westeurope"


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["up", *argv], console=Console(file=out, width=200))
    return code, out.getvalue()


def problems(raw: dict[str, Any]) -> list[str]:
    try:
        load_spec(raw, location=LOCATION)
    except SpecError as exc:
        return exc.problems
    return []


# -- the source image's generation, as Azure reports it ----------------------------------------

def test_a_gen1_marketplace_source_for_a_gen2_definition_is_refused():
    code, output = cli("--stack", "dev", "--set", "builds[0].from.marketplace.sku=server-gen1")
    assert code == 2
    assert output.strip() == (
        "builds[0].from.marketplace: Canonical:ubuntu-24_04-lts:server-gen1:latest is a "
        "generation V1 image, but gallery.image.generation is V2; pick the image's V2 SKU "
        "or declare V1")


def test_a_marketplace_image_azure_does_not_have_is_refused_and_can_be_declared():
    args = ("--stack", "dev", "--set", "builds[0].from.marketplace.sku=my-sku", "--quiet")
    code, output = cli(*args)
    assert code == 2
    assert "builds[0].from.marketplace: Azure has no marketplace image " \
           "Canonical:ubuntu-24_04-lts:my-sku:latest in westeurope" in output
    code, output = cli(*args, "--marketplace-image", "Canonical:ubuntu-24_04-lts:my-sku=V2")
    assert code == 0, output


def test_plain_mocks_have_no_azure_to_ask():
    """Under Pulumi's own mocks the read is skipped: unit tests need no cloud."""
    config = load_stack_dict("dev")
    config["vmimage:pipeline"]["builds"][0]["from"]["marketplace"]["sku"] = "server-gen1"
    recorded = run_program(config, stack="dev")
    assert recorded.resources


# -- disks, controllers, OS ------------------------------------------------------------------

def test_nvme_only_sizes_need_a_definition_that_declares_nvme():
    raw = load_pipeline("dev")
    raw["clones"][0]["size"] = "Standard_D2ads_v6"
    assert problems(raw) == [
        "clones[0].size: Standard_D2ads_v6 boots only from images that support NVMe; add NVMe "
        "to gallery.image.diskControllerTypes (a new definition: it cannot be added to an "
        "existing one)"]
    raw["gallery"]["image"]["diskControllerTypes"] = ["SCSI", "NVMe"]
    assert problems(raw) == []
    config = load_stack_dict("dev")
    config["vmimage:pipeline"] = raw
    (definition,) = run_program(config, stack="dev").of_type(
        "azure-native:compute:GalleryImage")
    features = {f["name"]: f["value"] for f in definition.inputs["features"]}
    assert features["DiskControllerTypes"] == "SCSI,NVMe"


def test_windows_disk_formatting_is_refused_on_nvme_only_sizes():
    """Windows reports no documented LUN for an NVMe data disk (docs/azure-behaviours.md)."""
    raw = load_pipeline("import")
    raw["gallery"]["image"]["diskControllerTypes"] = ["SCSI", "NVMe"]
    assert problems(raw) == []  # Standard_D4s_v5: SCSI disks
    raw["builds"][1]["size"] = "Standard_D4ads_v6"
    assert problems(raw) == [
        "builds[1].dataDisks[0].format: Standard_D4ads_v6 has NVMe disks, and Windows reports "
        "no LUN for an NVMe data disk that Azure documents, so the format script cannot find "
        "it by LUN; use a size with SCSI disks (v5 or older) for this build, or format the "
        "disk in a script step"]
    del raw["builds"][1]["dataDisks"][0]["format"]
    assert problems(raw) == []  # an unformatted disk is fine on NVMe
    linux = load_pipeline("dev")
    linux["builds"][0]["size"] = "Standard_D4ads_v6"
    linux["gallery"]["image"]["diskControllerTypes"] = ["SCSI", "NVMe"]
    assert not [p for p in problems(linux) if ".format" in p]  # Linux finds NVMe LUNs


def test_nvme_needs_generation_2():
    raw = load_pipeline("dev")
    raw["builds"][0]["size"] = "Standard_D4ads_v6"
    raw["gallery"]["image"].update(generation="V1", diskControllerTypes=["SCSI", "NVMe"])
    raw["security"] = {"trustedLaunch": False}
    assert problems(raw) == [
        "builds[0].size: Standard_D4ads_v6 needs NVMe, which generation V1 images do not "
        "support; use gallery.image.generation V2"]


def test_gallery_data_disks_are_at_most_one_terabyte():
    raw = load_pipeline("dev")
    raw["builds"][0]["dataDisks"][0]["sizeGb"] = 2048
    assert problems(raw) == [
        "builds[0].dataDisks[0].sizeGb: 2048 GiB is over the 1024 GiB a gallery image version "
        "takes per data disk"]


def managed_image_only(pipeline: dict[str, Any], os: str | None) -> dict[str, Any]:
    raw = copy.deepcopy(pipeline)
    raw["capture"] = "managedImage"
    raw["managedImage"] = {"name": "iis"} | ({"os": os} if os else {})
    del raw["gallery"]
    for build in raw["builds"]:
        build.pop("regions", None)
    raw["security"] = {"trustedLaunch": False}
    return raw


def test_a_managed_image_only_pipeline_names_its_os():
    assert problems(managed_image_only(load_pipeline("win"), None)) == [
        "managedImage.os: required when there is no gallery (linux or windows: it decides "
        "deprovision or sysprep, SSH key or password)"]


def test_a_windows_managed_image_gets_windows_settings():
    config = load_stack_dict("win")
    config["vmimage:pipeline"] = managed_image_only(config["vmimage:pipeline"], "windows")
    recorded = run_program(config, stack="win")
    vm = next(r for r in recorded.resources if r.name.endswith("-build-vm"))
    assert "windowsConfiguration" in vm.inputs["osProfile"]["value"]  # secret: has a password
    generalize = next(r for r in recorded.resources
                      if r.type == "pulumi-python:dynamic/vmimage:Generalize")
    assert generalize.inputs["os"] == "windows"
    assert "sysprep.exe" in generalize.inputs["sealScript"]


def test_scale_sets_warn_about_the_rolling_upgrade_preview():
    raw = load_pipeline("dev")
    raw["clones"][0]["kind"] = "scaleSet"
    spec = load_spec(raw, location=LOCATION).spec
    assert any(w.startswith("clones[0].kind: scale sets roll onto new versions") and
               "VMSSFlexRollingUpgrade" in w for w in warnings(spec))


@pytest.mark.parametrize("size", ["Standard_D2s_v5", "Standard_B2s", "Standard_E4as_v5"])
def test_earlier_sizes_boot_scsi_images(size):
    raw = load_pipeline("dev")
    raw["clones"][0]["size"] = size
    assert problems(raw) == []
