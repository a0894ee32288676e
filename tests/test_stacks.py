"""The example stacks and how the offline runner reads stack files and `--set` overrides."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT, STACKS, load_pipeline, load_stack_dict

from offline.pulumi_host import config_strings
from offline.runner import (
    StackFileError,
    apply_override,
    load_stack,
    parse_key_path,
    stack_file,
)
from vmimage.config.validate import load_spec

# The example stack as it was first written: it must keep working as stacks/Pulumi.dev.yaml.
ISSUE_EXAMPLE = """
config:
  azure-native:location: westeurope
  vmimage:pipeline:
    resourceGroup: rg-vmimage-dev
    network: {addressSpace: 10.42.0.0/16, subnetPrefix: 10.42.1.0/24}
    admin:
      username: azureuser
      sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG8eVohnH+7mb9ln3Bay8lWX0FEKl5S3uOXo1ecTOghm demo@example
    capture: gallery            # gallery | managedImage | both
    gallery:
      name: galvmimagedev
      image: {name: web-ubuntu, os: linux, generation: V2, publisher: contoso, offer: web, sku: ubuntu-24-04}
    builds:
      - version: 1.0.0
        from:
          marketplace: {publisher: Canonical, offer: ubuntu-24_04-lts, sku: server, version: latest}
        size: Standard_D2s_v5
        dataDisks:
          - {lun: 0, sizeGb: 64, caching: ReadOnly, sku: Premium_LRS}
          - {lun: 1, sizeGb: 128, caching: None, sku: StandardSSD_LRS}
        customize:
          - template: linux/install-packages.sh.j2
            vars: {packages: [nginx]}
        regions:
          - {name: westeurope, replicas: 2}   # at least 2 where clones run
          - {name: northeurope, replicas: 1}
    clones:
      - name: web
        count: 3
        version: 1.0.0          # a version built above, or "latest"
        size: Standard_B2s
"""  # noqa: E501


def test_project_reads_stacks_from_the_stacks_dir():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "vmimage"
    assert project["runtime"]["name"] == "python" or project["runtime"] == "python"
    assert project["stackConfigDir"] == "stacks"
    assert stack_file("dev") == STACKS / "Pulumi.dev.yaml"


def test_issue_example_is_the_dev_stack_and_loads():
    example = yaml.safe_load(ISSUE_EXAMPLE)["config"]
    assert load_stack_dict("dev") == example
    spec = load_spec(example["vmimage:pipeline"],
                     location=example["azure-native:location"]).spec
    assert spec.gallery is not None and spec.gallery.image.name == "web-ubuntu"


def test_win_stack_is_windows_with_readwrite_disk_and_two_clones():
    config = load_stack_dict("win")
    raw = config["vmimage:pipeline"]
    assert "password" not in raw["admin"] and "adminPassword" not in raw["admin"]
    assert not any("password" in key.lower() for key in config)  # no plain password
    loaded = load_spec(raw, location=config["azure-native:location"])
    spec = loaded.spec
    assert spec.windows
    assert [d.caching for d in spec.builds[0].data_disks] == ["ReadWrite"]
    assert sum(c.count for c in spec.clones) == 2
    assert spec.builds[0].customize[0].template.startswith("windows/")
    assert loaded.warnings == [
        "builds[0].dataDisks[0].caching: ReadWrite loses unflushed writes if the host fails; "
        "prefer ReadOnly or None"
    ]


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_example_stacks_have_no_warnings_but_the_documented_one(stack):
    config = load_stack_dict(stack)
    warnings = load_spec(config["vmimage:pipeline"],
                         location=config["azure-native:location"]).warnings
    assert all(".caching: ReadWrite" in w for w in warnings)


# -- load_stack and overrides ---------------------------------------------------------------

def test_load_stack_passes_structured_config_as_json():
    stack = load_stack(stack_file("dev"), "dev")
    config = config_strings(stack.config)
    assert config["azure-native:location"] == "westeurope"
    assert yaml.safe_load(config["vmimage:pipeline"]) == load_pipeline("dev")


def test_encrypted_secrets_are_treated_as_absent(tmp_path):
    path = tmp_path / "Pulumi.s.yaml"
    config = load_stack_dict("win")
    config["vmimage:adminPassword"] = {"secure": "v1:AAAA"}
    path.write_text(yaml.safe_dump({"config": config}))
    stack = load_stack(path, "s")
    assert "vmimage:adminPassword" not in stack.config


def test_overrides_apply_inside_the_pipeline():
    stack = load_stack(stack_file("dev"), "dev", [
        "clones[0].count=50", "builds[0].regions[0].replicas=auto",
        "clones[1]={name: api, count: 2, version: latest, size: Standard_B2s}",
        "security.trustedLaunch=false",
    ])
    raw = stack.pipeline
    assert raw["clones"][0]["count"] == 50
    assert raw["builds"][0]["regions"][0]["replicas"] == "auto"
    assert raw["clones"][1] == {"name": "api", "count": 2, "version": "latest",
                                "size": "Standard_B2s"}
    assert raw["security"] == {"trustedLaunch": False}
    spec = load_spec(raw, location="westeurope").spec
    assert spec.replicas_for(spec.builds[0], spec.builds[0].regions[0]) == 3


def test_apply_override_does_not_touch_its_input():
    pipeline = load_pipeline("dev")
    changed = apply_override(pipeline, "clones[0].count=7")
    assert pipeline["clones"][0]["count"] == 3
    assert changed["clones"][0]["count"] == 7


@pytest.mark.parametrize(("path", "parts"), [
    ("clones[0].count", ["clones", 0, "count"]),
    ("builds[1].dataDisks[0].lun", ["builds", 1, "dataDisks", 0, "lun"]),
    ("capture", ["capture"]),
])
def test_parse_key_path(path, parts):
    assert parse_key_path(path) == parts


@pytest.mark.parametrize("item", ["clones[5].count=1", "clones[x].count=1", "nokey",
                                  "capture.x=1", "clones[0].count.x=1", "=1", "clones[9]=1"])
def test_bad_overrides_are_stack_file_errors(item):
    with pytest.raises(StackFileError) as caught:
        apply_override(load_pipeline("dev"), item)
    assert str(caught.value).startswith("--set ")


def test_missing_stack_file_is_a_stack_file_error(tmp_path):
    with pytest.raises(StackFileError, match="cannot read"):
        load_stack(tmp_path / "Pulumi.none.yaml", "none")


@pytest.mark.parametrize("bad", ["a..b", "clones[0]count", "", "[0].x", "a."])
def test_set_refuses_malformed_key_paths(bad):
    from offline.runner import StackFileError, parse_key_path

    with pytest.raises(StackFileError, match="cannot read key path"):
        parse_key_path(bad)
