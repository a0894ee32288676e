"""The tenancy keys of #16 as config: an existing subnet, egress, tags, identities, disk
encryption sets, spot and shallow builds. Each is refused at its key path when misused,
all problems at once."""

from __future__ import annotations

import pytest
from conftest import LOCATION, load_pipeline, problems_of
from tenancy_ids import DES, DES_NORTH, IDENTITY, SUBNET

from vmimage.config.rules import internet_command, warnings
from vmimage.config.validate import load_spec


def existing_subnet_pipeline():
    raw = load_pipeline("dev")
    raw["network"] = {"subnetId": SUBNET}
    return raw


def test_existing_subnet_is_accepted_alone():
    spec = load_spec(existing_subnet_pipeline(), location=LOCATION).spec
    assert spec.network.existing and spec.network.subnet_id == SUBNET
    assert spec.network.subnet_prefix is None


def test_created_network_keys_are_refused_beside_subnet_id():
    raw = existing_subnet_pipeline()
    raw["network"].update(addressSpace="10.0.0.0/16", subnetPrefix="10.0.1.0/24",
                          egress="none", allowInbound=[{"name": "ssh", "port": 22,
                                                        "source": "10.0.0.0/8"}])
    problems = problems_of(raw)
    for key in ("addressSpace", "subnetPrefix", "allowInbound", "egress"):
        assert f"network.{key}: not with network.subnetId (the subnet exists: its network, " \
               "rules and egress are its owner's)" in problems


def test_without_subnet_id_both_prefixes_are_required():
    raw = load_pipeline("dev")
    raw["network"] = {"egress": "none"}
    assert problems_of(raw) == ["network.addressSpace: required without network.subnetId",
                                "network.subnetPrefix: required without network.subnetId"]


@pytest.mark.parametrize("key, value, kind", [
    (("network", "subnetId"), SUBNET.replace("/subnets/", "/subnet/"), "subnet"),
    (("network", "subnetId"), SUBNET.replace("snet", "ѕnet"), "subnet"),  # Cyrillic s
    (("builds", 0, "identities", 0), DES, "user-assigned identity"),
    (("security", "diskEncryptionSetId"), IDENTITY, "disk encryption set"),
])
def test_malformed_arm_ids_say_what_an_id_looks_like(key, value, kind):
    raw = existing_subnet_pipeline()
    raw["builds"][0]["identities"] = [IDENTITY]
    raw.setdefault("security", {})["diskEncryptionSetId"] = DES
    target = raw
    for part in key[:-1]:
        target = target[part]
    target[key[-1]] = value
    [problem] = problems_of(raw)
    path = ".".join(f"[{p}]" if isinstance(p, int) else p for p in key).replace(".[", "[")
    assert problem.startswith(f"{path}: ")
    assert f"is not the ARM id of a {kind} (/subscriptions/<id>/resourceGroups/<group>/" \
           "providers/" in problem


def test_egress_defaults_to_nat_gateway():
    spec = load_spec(load_pipeline("dev"), location=LOCATION).spec
    assert spec.network.egress == "natGateway"
    raw = load_pipeline("dev")
    raw["network"]["egress"] = "nat"
    [problem] = problems_of(raw)
    assert problem.startswith("network.egress: ") and "natGateway" in problem


def test_no_egress_warns_of_steps_that_need_the_internet():
    raw = load_pipeline("dev")
    raw["network"]["egress"] = "none"
    raw["builds"][0]["customize"].append({"inline": "echo offline only\n"})
    spec = load_spec(raw, location=LOCATION).spec
    [warning] = [w for w in warnings(spec) if "egress" in w]
    assert warning.startswith("builds[0].customize[0]: runs `apt-get")
    assert "network.egress is none" in warning
    # the same pipeline with a way out says nothing of it
    raw["network"]["egress"] = "natGateway"
    assert not [w for w in warnings(load_spec(raw, location=LOCATION).spec) if "egress" in w]


@pytest.mark.parametrize("script, found", [
    ("apt-get -o DPkg::Lock::Timeout=300 install -y -- nginx",
     "apt-get -o DPkg::Lock::Timeout=300 install"),
    ("dnf -y update", "dnf -y update"),
    ("curl -fsSL https://example.com/x.sh | sh", "curl"),
    ("Invoke-WebRequest -Uri $u -OutFile x.msi", "Invoke-WebRequest"),
    ("# apt-get install nginx\necho hi", None),
    ("systemctl enable nginx", None),
    ("apt-cache policy", None),
])
def test_internet_commands_are_the_obvious_ones(script, found):
    assert internet_command(script) == found


def test_tags_are_checked_and_vmimage_keys_are_reserved():
    raw = load_pipeline("dev")
    raw["tags"] = {"costCenter": "42", "a/b": "x", "long": "v" * 257}
    assert problems_of(raw) == [
        "tags.a/b: a tag name holds none of < > % & \\ ? / (has /)",
        "tags.long: a tag value is at most 256 characters (has 257)",
    ]
    reserved = ("vmimage-* tags are the program's (what a resource is, for reviews and "
                "reports), and so is any name that reads like one; choose another key")
    raw["tags"] = {"costCenter": "42", "vmimage-role": "mine", "VM\u0131MAGE-role": "mine"}
    assert problems_of(raw) == [f"tags.vmimage-role: {reserved}",
                                f"tags.VM\u0131MAGE-role: {reserved}"]
    raw["tags"] = {"Env": "a", "env": "b"}
    assert problems_of(raw) == ["tags.env: the same tag name as 'Env' (tag names are "
                                "case-insensitive)"]
    raw["tags"] = {f"k{i}": "v" for i in range(43)}
    assert problems_of(raw) == ["tags: at most 42 (Azure takes 50 per resource, and vmimage "
                                "puts up to 8 of its own)"]


def test_tag_values_must_be_strings():
    raw = load_pipeline("dev")
    raw["tags"] = {"owner": {"team": "platform"}}
    [problem] = problems_of(raw)
    assert problem.startswith("tags.owner: ")


def test_regional_keys_need_a_gallery_and_every_region():
    raw = load_pipeline("dev")
    raw["builds"][0]["regions"][0]["diskEncryptionSetId"] = DES
    assert problems_of(raw) == [
        "builds[0].regions: a version encrypted with customer-managed keys needs a "
        "diskEncryptionSetId in every target region (missing: northeurope; the source "
        "region is one)"]
    raw["builds"][0]["regions"][1]["diskEncryptionSetId"] = DES_NORTH
    spec = load_spec(raw, location=LOCATION).spec
    assert [r.disk_encryption_set_id for r in spec.regions_of(spec.builds[0])] == [DES, DES_NORTH]
    raw["capture"] = "managedImage"
    raw.pop("gallery")
    raw["clones"][0]["version"] = "1.0.0"
    assert "builds[0].regions: diskEncryptionSetId is for gallery versions; capture: gallery" \
        in problems_of(raw)


def test_shallow_builds_stay_in_the_source_region_with_one_replica():
    raw = load_pipeline("dev")
    build = raw["builds"][0]
    build["replicationMode"] = "Shallow"
    build["regions"][0]["replicas"] = 2
    build["size"] = "Standard_D64s_v5"
    build["dataDisks"] = [{"lun": lun, "sizeGb": 1024} for lun in range(33)]
    assert problems_of(raw) == [
        "builds[0].regions: a Shallow version stays in its source region westeurope "
        "(not northeurope); use Full to replicate",
        "builds[0].regions[0].replicas: a Shallow version has one replica (got 2)",
        "builds[0].dataDisks: 33,792 GiB in all; a Shallow version holds up to 32,768 GiB",
    ]
    build["regions"] = [{"name": "westeurope"}]
    build["dataDisks"] = []
    spec = load_spec(raw, location=LOCATION).spec
    assert spec.replicas_for(spec.builds[0], spec.regions_of(spec.builds[0])[0]) == 1


def test_spot_and_identities_load():
    raw = load_pipeline("dev")
    raw["builds"][0].update(spot=True, identities=[IDENTITY])
    build = load_spec(raw, location=LOCATION).spec.builds[0]
    assert build.spot and build.identities == (IDENTITY,)
    raw["builds"][0]["spotty"] = True
    [problem] = problems_of(raw)
    assert problem.startswith("builds[0].spotty: ") and "spot" in problem
