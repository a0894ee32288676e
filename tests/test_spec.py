"""Spec validation: the example stacks load; bad configs give exactly the expected
`<key path>: <message>` lines, every problem at once; sizing and security defaults."""

from __future__ import annotations

import json

import pulumi
import pytest
from conftest import LOCATION, load_pipeline, load_stack_dict, problems_of

from vmimage.config.errors import SpecError, key_path
from vmimage.config.models import auto_replicas
from vmimage.config.rules import semantic_problems
from vmimage.config.security_type import wanted_security_type
from vmimage.config.validate import load_spec
from vmimage.stack import config as stack_config_module


def windows_pipeline():
    raw = load_pipeline("dev")
    raw["gallery"]["image"]["os"] = "windows"
    raw["admin"].pop("sshPublicKey")
    raw["builds"][0]["customize"] = []
    return raw


# -- the example stacks -------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "win"])
def test_example_stacks_load(stack):
    config = load_stack_dict(stack)
    loaded = load_spec(config["vmimage:pipeline"], location=config["azure-native:location"])
    spec = loaded.spec
    assert spec.location == "westeurope"
    assert spec.builds[0].version == "1.0.0"
    assert spec.os == ("windows" if stack == "win" else "linux")
    assert spec.resolve_version(spec.clones[0].version) == "1.0.0"


def test_dev_stack_values_are_typed():
    spec = load_spec(load_pipeline("dev"), location=LOCATION).spec
    build = spec.builds[0]
    assert [(d.lun, d.size_gb, d.caching, d.sku) for d in build.data_disks] == [
        (0, 64, "ReadOnly", "Premium_LRS"), (1, 128, "None", "StandardSSD_LRS"),
    ]
    assert [r.name for r in spec.regions_of(build)] == ["westeurope", "northeurope"]
    assert spec.clones[0].count == 3 and spec.clones[0].size == "Standard_B2s"
    assert str(spec.network.subnet_prefix) == "10.42.1.0/24"


def test_spec_is_immutable():
    spec = load_spec(load_pipeline("dev"), location=LOCATION).spec
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        spec.clones[0].count = 7  # type: ignore[misc]


def test_location_comes_from_azure_native_location_or_is_reported():
    assert load_spec(load_pipeline("dev"), location="northeurope").spec.location == "northeurope"
    assert problems_of(load_pipeline("dev"), location=None) == [
        "location: not set; set azure-native:location (or vmimage:pipeline.location)"
    ]


# -- bad configs: exact lines, all at once -------------------------------------------------

def test_several_problems_are_all_reported_with_key_paths():
    raw = load_pipeline("dev")
    raw["builds"][0]["dataDisks"][1]["lun"] = 0  # duplicate LUN
    raw["clones"][0]["version"] = "2.0.0"  # not built
    raw["clones"].append({"name": "web", "count": 1, "version": "1.0.0", "size": "Standard_B2s"})
    raw["admin"]["username"] = "root"
    assert problems_of(raw) == [
        "admin.username: 'root' is reserved by Azure; choose another",
        "builds[0].dataDisks[1].lun: LUN 0 is used twice",
        "clones[0].version: 2.0.0 is not built here (versions: 1.0.0)",
        "clones[1].name: 'web' is already used by clones[0]",
    ]


def test_shape_errors_are_all_reported_with_key_paths():
    raw = load_pipeline("dev")
    raw["builds"][0]["dataDisks"][1]["lun"] = 64
    raw["builds"][0]["dataDisks"][0]["caching"] = "WriteBack"
    raw["clones"][0]["count"] = -1
    raw["capture"] = "snapshot"
    problems = problems_of(raw)
    assert problems == [
        "capture: must be one of 'gallery', 'managedImage' or 'both', {vhd: ...}, or a list "
        "of them (got 'snapshot')",
        "builds[0].dataDisks[0].caching: must be one of 'None', 'ReadOnly' or 'ReadWrite' "
        "(got 'WriteBack')",
        "builds[0].dataDisks[1].lun: must be at most 63 (got 64)",
        "clones[0].count: must be at least 0 (got -1)",
    ]


def test_unknown_keys_suggest_the_right_one():
    raw = load_pipeline("dev")
    raw["builds"][0]["dataDisk"] = raw["builds"][0].pop("dataDisks")
    raw["clones"][0]["cont"] = 3
    raw["zzz"] = 1
    problems = problems_of(raw)
    assert "builds[0].dataDisk: unknown key; did you mean 'dataDisks'?" in problems
    assert "clones[0].cont: unknown key; did you mean 'count'?" in problems
    zzz = [p for p in problems if p.startswith("zzz:")]
    assert len(zzz) == 1 and "unknown key; expected one of" in zzz[0] and "'builds'" in zzz[0]
    assert len(problems) == 3


def test_missing_required_keys():
    raw = load_pipeline("dev")
    del raw["resourceGroup"]
    del raw["builds"][0]["size"]
    assert problems_of(raw) == ["resourceGroup: required", "builds[0].size: required"]


def test_duplicate_versions_and_bad_version_format():
    raw = load_pipeline("dev")
    second = json.loads(json.dumps(raw["builds"][0]))
    third = json.loads(json.dumps(raw["builds"][0]))
    third["version"] = "1.0"
    raw["builds"] += [second, third]
    problems = problems_of(raw)
    assert problems == [
        "builds[1].version: 1.0.0 is already built by builds[0]; gallery versions are "
        "immutable, give the new build a new version number",
        "builds[2].version: '1.0' is not Major.Minor.Patch (32-bit integers, no leading zeros)",
    ]


@pytest.mark.parametrize("version", ["01.0.0", "1.0.0.0", "4294967296.0.0", "2147483648.1.1"])
def test_version_must_be_major_minor_patch_int32(version):
    raw = load_pipeline("dev")
    raw["builds"][0]["version"] = version
    raw["clones"][0]["version"] = "latest"
    # Only the build's line: 'latest' does not add a misleading second problem.
    assert problems_of(raw) == [
        f"builds[0].version: {version!r} is not Major.Minor.Patch "
        "(32-bit integers, no leading zeros)",
    ]


def test_latest_beside_an_invalid_version_is_reported_not_a_crash():
    raw = load_pipeline("dev")
    second = json.loads(json.dumps(raw["builds"][0]))
    raw["builds"][0]["version"] = "1.0"
    second["version"] = "1.1.0"
    raw["builds"].append(second)
    raw["clones"][0]["version"] = "latest"
    assert problems_of(raw) == [
        "builds[0].version: '1.0' is not Major.Minor.Patch (32-bit integers, no leading zeros)"
    ]


def test_int32_max_is_a_valid_version_component():
    raw = load_pipeline("dev")
    raw["builds"][0]["version"] = "2147483647.0.0"
    raw["clones"][0]["version"] = "latest"
    spec = load_spec(raw, location=LOCATION).spec
    assert spec.resolve_version("latest") == "2147483647.0.0"


def test_clone_version_that_is_not_a_version():
    raw = load_pipeline("dev")
    raw["clones"][0]["version"] = "newest"
    assert problems_of(raw) == ["clones[0].version: 'newest' is not 'latest' or Major.Minor.Patch"]


def test_clone_region_must_be_a_target_region():
    raw = load_pipeline("dev")
    raw["clones"][0]["region"] = "eastus"
    assert problems_of(raw) == [
        "clones[0].region: eastus is not a target region of version 1.0.0; "
        "add it to builds[0].regions"
    ]
    raw["clones"][0]["region"] = "northeurope"  # listed in builds[0].regions
    load_spec(raw, location=LOCATION)


def test_unknown_region_gets_a_suggestion():
    raw = load_pipeline("dev")
    raw["builds"][0]["regions"][1]["name"] = "northeuropa"
    assert problems_of(raw) == [
        "builds[0].regions[1].name: unknown Azure region 'northeuropa'; "
        "did you mean 'northeurope'?"
    ]


def test_source_region_is_always_a_target_region():
    raw = load_pipeline("dev")
    raw["builds"][0]["regions"] = [{"name": "northeurope", "replicas": 1}]
    spec = load_spec(raw, location=LOCATION).spec
    assert [r.name for r in spec.regions_of(spec.builds[0])] == ["westeurope", "northeurope"]


def test_latest_resolves_to_the_newest_version_not_excluded():
    raw = load_pipeline("dev")
    base = raw["builds"][0]
    for version, excluded in (("1.10.0", False), ("1.9.0", False), ("2.0.0", True)):
        raw["builds"].append({**json.loads(json.dumps(base)), "version": version,
                              "excludeFromLatest": excluded})
    raw["clones"][0]["version"] = "latest"
    spec = load_spec(raw, location=LOCATION).spec
    assert spec.resolve_version("latest") == "1.10.0"  # numeric, not string, order
    assert spec.resolve_version("2.0.0") == "2.0.0"  # pinned still works when excluded
    assert spec.resolve_version("3.0.0") is None


def test_latest_with_every_build_excluded_is_refused():
    raw = load_pipeline("dev")
    raw["builds"][0]["excludeFromLatest"] = True
    raw["clones"][0]["version"] = "latest"
    assert problems_of(raw) == ["clones[0].version: 'latest' but every build is "
                              "excludeFromLatest or revoked"]


def test_linux_needs_an_ssh_key():
    raw = load_pipeline("dev")
    del raw["admin"]["sshPublicKey"]
    assert problems_of(raw) == [
        "admin.sshPublicKey: required for Linux (password authentication is off)"
    ]


def test_ssh_key_must_look_like_one():
    raw = load_pipeline("dev")
    raw["admin"]["sshPublicKey"] = "not a key"
    assert problems_of(raw)[0] == (
        "admin.sshPublicKey: unknown key type 'not'; Azure accepts ssh-rsa or ssh-ed25519")


def _rsa_key(bits: int) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode() + " ops@example"


def _ecdsa_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode()


@pytest.mark.parametrize(("key", "problem"), [
    (lambda: _rsa_key(2048), None),
    (lambda: _rsa_key(1024), "RSA key of 1024 bits; Azure needs at least 2048"),
    (_ecdsa_key, "ecdsa-sha2-nistp256 keys are not supported by Azure"),
    (lambda: "ssh-ed25519 " + _blob(b"ssh-ed25519", b"short"), "key data is malformed"),
    (lambda: "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIG8eVohnH+7mb9ln3Bay8lWX0FEKl5S3uOXo1ecTOghm",
     "the key data is not an ssh-rsa key (it says 'ssh-ed25519')"),
    (lambda: "ssh-ed25519 @@@notbase64", "not valid base64 key material"),
])
def test_ssh_keys_azure_would_refuse_are_refused(key, problem):
    """Azure takes RSA of at least 2048 bits and Ed25519, nothing else; the key's own
    bytes say which it is, not its label."""
    raw = load_pipeline("dev")
    raw["admin"]["sshPublicKey"] = key()
    if problem is None:
        load_spec(raw, location=LOCATION)  # accepted
        return
    found = [p for p in problems_of(raw) if p.startswith("admin.sshPublicKey")]
    assert len(found) == 1 and problem in found[0], found


def _blob(*fields: bytes) -> str:
    """SSH wire format: each field length-prefixed (RFC 4253), base64."""
    import base64
    import struct

    return base64.b64encode(b"".join(struct.pack(">I", len(f)) + f for f in fields)).decode()


def test_windows_username_of_20_characters_is_fine():
    raw = windows_pipeline()
    raw["admin"]["username"] = "a" * 20
    assert load_spec(raw, location=LOCATION).spec.admin.username == "a" * 20


def test_linux_username_may_be_longer_than_windows():
    raw = load_pipeline("dev")
    raw["admin"]["username"] = "a" * 30
    load_spec(raw, location=LOCATION)


@pytest.mark.parametrize("key", ["password", "adminPassword"])
def test_password_in_plain_config_is_refused_once(key):
    raw = load_pipeline("win")
    raw["admin"][key] = "Hunter2!Hunter2!"
    assert problems_of(raw) == [
        "admin.password: passwords never go in plain config; run "
        "`pulumi config set --secret vmimage:adminPassword` (or leave it out and one is "
        "generated)"
    ]


def test_customize_template_vars_missing_names_the_template():
    raw = load_pipeline("dev")
    raw["builds"][0]["customize"][0]["vars"] = {}
    assert problems_of(raw) == [
        "builds[0].customize[0].vars.packages: required by linux/install-packages.sh.j2 "
        "(Debian package names, optionally :arch or =version)"
    ]


def test_customize_template_of_the_wrong_os():
    raw = load_pipeline("dev")
    raw["builds"][0]["customize"][0]["template"] = "windows/install-features.ps1.j2"
    assert problems_of(raw) == [
        "builds[0].customize[0].template: linux builds use templates under templates/linux/"
    ]


def test_clone_group_name_and_count_limits():
    raw = load_pipeline("dev")
    raw["clones"][0]["name"] = "Web_1"
    raw["clones"].append({"name": "api", "count": 101, "version": "1.0.0",
                          "size": "Standard_B2s"})
    raw["builds"][0]["regions"][0]["replicas"] = "auto"
    assert problems_of(raw) == [
        "clones[0].name: clone group name 'Web_1' is not valid: lower-case letters, digits "
        "and '-', starting with a letter, not ending with '-'",
        "clones[1].count: 101 individual VMs is too many for one group (at most 100); "
        "use kind: scaleSet",
    ]


def test_subnet_outside_address_space():
    raw = load_pipeline("dev")
    raw["network"]["subnetPrefix"] = "10.99.1.0/24"
    assert problems_of(raw) == [
        "network.subnetPrefix: 10.99.1.0/24 is not inside network.addressSpace 10.42.0.0/16"
    ]


@pytest.mark.parametrize("raw", [None, {}, [1, 2], "text"])
def test_empty_or_non_mapping_config(raw):
    problems = problems_of(raw)
    assert len(problems) == 1 and problems[0].startswith("vmimage:pipeline: ")


def test_key_path_formatting():
    assert key_path(("builds", 0, "dataDisks", 1, "lun")) == "builds[0].dataDisks[1].lun"
    assert key_path(()) == "vmimage:pipeline"


# -- sizing and warnings ---------------------------------------------------------------------

@pytest.mark.parametrize(("vms", "replicas"), [(0, 1), (1, 2), (20, 2), (40, 2), (41, 3),
                                               (50, 3), (100, 5), (10_000, 100)])
def test_auto_replicas_is_one_per_20_vms_and_two_where_clones_run(vms, replicas):
    assert auto_replicas(vms) == replicas


@pytest.mark.parametrize(("vms", "replicas"), [(0, 1), (1, 1), (20, 1), (21, 2), (100, 5),
                                               (10_000, 100)])
def test_azure_guidance_is_one_replica_per_20_vms(vms, replicas):
    from vmimage.azure.sizing import azure_guidance

    assert azure_guidance(vms) == replicas


def test_replica_warning_names_the_configured_entry():
    raw = load_pipeline("dev")
    raw["builds"][0]["regions"] = [{"name": "northeurope", "replicas": 1}]
    raw["clones"][0].update(count=30, region="northeurope")
    loaded = load_spec(raw, location=LOCATION)
    # The source region westeurope is added implicitly (auto); the warning names the
    # entry the user wrote, at its index in the config.
    assert [w for w in loaded.warnings if "replicas" in w] == [
        "builds[0].regions[0].replicas: 1 replica(s) for 30 VMs in northeurope; Azure "
        "advises 2 (1 per 20 VMs created at once) or 'auto'"
    ]
    spec = loaded.spec
    regions = spec.regions_of(spec.builds[0])
    assert [(r.name, spec.replicas_for(spec.builds[0], r)) for r in regions] == [
        ("westeurope", 1), ("northeurope", 1)
    ]


def test_auto_replicas_counts_the_clones_in_each_region():
    raw = load_pipeline("dev")
    raw["clones"][0]["count"] = 50
    raw["clones"].append({"name": "api", "count": 30, "version": "latest",
                          "size": "Standard_B2s", "region": "northeurope"})
    for region in raw["builds"][0]["regions"]:
        region["replicas"] = "auto"
    loaded = load_spec(raw, location=LOCATION)
    spec = loaded.spec
    build = spec.builds[0]
    assert {r.name: spec.replicas_for(build, r) for r in spec.regions_of(build)} == {
        "westeurope": 3, "northeurope": 2,
    }
    assert loaded.warnings == []


def test_explicit_replicas_below_guidance_warn():
    raw = load_pipeline("dev")
    raw["clones"][0]["count"] = 50
    loaded = load_spec(raw, location=LOCATION)
    assert loaded.warnings == [
        "builds[0].regions[0].replicas: 2 replica(s) for 50 VMs in westeurope; Azure advises "
        "3 (1 per 20 VMs created at once) or 'auto'"
    ]
    spec = loaded.spec
    assert spec.replicas_for(spec.builds[0], spec.builds[0].regions[0]) == 2  # explicit wins


def test_replicas_out_of_range():
    raw = load_pipeline("dev")
    raw["builds"][0]["regions"][0]["replicas"] = 0
    assert problems_of(raw) == [
        "builds[0].regions[0].replicas: must be at least 1 (got 0)"
    ]


def test_readwrite_caching_is_allowed_but_warned():
    raw = load_pipeline("dev")
    raw["builds"][0]["dataDisks"][1]["caching"] = "ReadWrite"
    assert load_spec(raw, location=LOCATION).warnings == [
        "builds[0].dataDisks[1].caching: ReadWrite loses unflushed writes if the host fails; "
        "prefer ReadOnly or None"
    ]
    assert load_spec(load_pipeline("dev"), location=LOCATION).warnings == []


# -- trusted launch defaults ---------------------------------------------------------------

def test_trusted_launch_defaults():
    def wanted(raw: dict) -> str:
        return wanted_security_type(load_spec(raw, location=LOCATION).spec)

    assert wanted(load_pipeline("dev")) == "TrustedLaunch"

    raw = load_pipeline("dev")
    raw["capture"] = "both"
    assert wanted(raw) == "Standard"

    raw = load_pipeline("dev")
    raw["capture"] = "managedImage"
    raw["builds"][0]["regions"] = []
    assert wanted(raw) == "Standard"

    raw = load_pipeline("dev")
    raw["gallery"]["image"]["generation"] = "V1"
    assert wanted(raw) == "Standard"

    raw = load_pipeline("dev")  # the earlier spelling still says the same
    raw["security"] = {"trustedLaunch": False}
    assert wanted(raw) == "Standard"
    raw["security"] = {"type": "ConfidentialVM"}
    assert wanted(raw) == "ConfidentialVM"


def test_trusted_launch_forced_on_with_managed_image_is_refused():
    raw = load_pipeline("dev")
    raw["capture"] = "both"
    raw["security"] = {"trustedLaunch": True}
    assert problems_of(raw) == [
        "security.trustedLaunch: managed images do not support TrustedLaunch VMs; use "
        "capture: gallery, or security.type: Standard"
    ]


def test_semantic_problems_is_empty_for_the_examples():
    for stack in ("dev", "win"):
        spec = load_spec(load_pipeline(stack), location=LOCATION).spec
        assert semantic_problems(spec) == []


# -- vmimage/stack/config.py: the Pulumi bridge ---------------------------------------

def _set_config(pipeline):
    pulumi.runtime.set_all_config(
        {"vmimage:pipeline": json.dumps(pipeline), "azure-native:location": LOCATION}
    )


def test_load_from_stack_raises_run_error_listing_every_problem():
    raw = load_pipeline("dev")
    raw["builds"][0]["dataDisks"][1]["lun"] = 0
    raw["clones"][0]["version"] = "9.9.9"
    try:
        _set_config(raw)
        with pytest.raises(pulumi.RunError) as caught:
            stack_config_module.load_from_stack()
    finally:
        pulumi.runtime.set_all_config({})
    assert str(caught.value).splitlines() == [
        "invalid vmimage:pipeline config (2 problems):",
        "builds[0].dataDisks[1].lun: LUN 0 is used twice",
        "clones[0].version: 9.9.9 is not built here (versions: 1.0.0)",
    ]


def test_load_from_stack_reads_the_structured_key():
    try:
        _set_config(load_pipeline("dev"))
        loaded = stack_config_module.load_from_stack()
    finally:
        pulumi.runtime.set_all_config({})
    assert loaded.spec.resource_group == "rg-vmimage-dev"
    assert loaded.spec.location == LOCATION


def test_unknown_keys_with_brackets_are_reported_not_crashed_on():
    raw = load_pipeline("dev")
    raw["foo[1]"] = 1
    raw["clones"][0]["x[y]"] = 2
    with pytest.raises(SpecError) as caught:
        load_spec(raw, location=LOCATION)
    problems = caught.value.problems
    assert [p.split(":", 1)[0] for p in problems] == ["clones[0].x[y]", "foo[1]"]
    assert all("unknown key" in p for p in problems)
