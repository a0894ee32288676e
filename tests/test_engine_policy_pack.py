"""The CrossGuard pack as `pulumi preview --policy-pack policy` runs it: the Python language
host starts `python -u -m pulumi.policy <engine address> <pack directory>` in the pack's
directory (pulumi/pulumi `sdk/python/cmd/pulumi-language-python`, RunPlugin), and the
engine calls GetAnalyzerInfo, Configure, Analyze per resource (its checked inputs) and
AnalyzeStack (every resource's outputs), over the Analyzer gRPC service.

Resources are the program's own registrations under mocks (dev and win stacks), plus
hand-made violations; each finding must come back with its enforcement level.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, load_stack_dict, run_offline, stack_config
from engine_host import analyzer_stub, clean_env, fake_engine, host_process, to_struct
from google.protobuf import empty_pb2, struct_pb2
from program_mocks import run_program
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2

from offline.policy_check import check_run
from vmimage.policy import rules

PACK = ROOT / "policy"
MANDATORY = analyzer_pb2.EnforcementLevel.MANDATORY
ADVISORY = analyzer_pb2.EnforcementLevel.ADVISORY


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    log_dir = tmp_path_factory.mktemp("pack")
    with fake_engine() as (address, _), host_process(
            ["pulumi.policy", address, str(PACK)], cwd=PACK,
            env=clean_env(PULUMI_PROJECT="vmimage", PULUMI_STACK="dev",
                          PULUMI_DRY_RUN="true"), log_dir=log_dir) as host:
        yield analyzer_stub(host)


@pytest.fixture(scope="module", params=["dev", "win"])
def stack(request: pytest.FixtureRequest) -> Any:
    return request.param, run_program(load_stack_dict(request.param), stack=request.param)


def options(reg: Any) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=reg.protect, additionalSecretOutputs=reg.additional_secret_outputs,
        parent=reg.parent)


#: A VM's securityProfile that trusted-launch-required (advisory) lets pass.
TRUSTED = {"securityProfile": {"securityType": "TrustedLaunch"}}


def analyze(pack: Any, type_: str, name: str, props: Any, **opts: Any) -> list[Any]:
    struct = props if isinstance(props, struct_pb2.Struct) else to_struct(props)
    response = pack.Analyze(analyzer_pb2.AnalyzeRequest(
        type=type_, properties=struct, urn=f"urn:pulumi:dev::vmimage::{type_}::{name}",
        name=name, options=analyzer_pb2.AnalyzerResourceOptions(**opts)))
    return list(response.diagnostics)


def test_analyzer_info_lists_every_rule_with_its_enforcement(pack):
    info = pack.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "vmimage"
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels == {r.name: MANDATORY if r.enforcement == "mandatory" else ADVISORY
                      for r in rules.RULES}


def test_the_programs_resources_pass_every_mandatory_policy(pack, stack):
    """...and the pack in the engine finds what the offline runner finds."""
    name, recorded = stack
    customs = [r for r in recorded.resources if r.custom]
    findings = []
    for reg in customs:
        response = pack.Analyze(analyzer_pb2.AnalyzeRequest(
            type=reg.type, properties=reg.request.object, urn=reg.urn, name=reg.name,
            options=options(reg)))
        findings += list(response.diagnostics)
    stack_response = pack.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(
            type=reg.type, properties=reg.response.object, urn=reg.urn, name=reg.name,
            options=options(reg), parent=reg.parent, dependencies=reg.dependencies)
        for reg in customs]))
    findings += list(stack_response.diagnostics)
    assert [f.policyName for f in findings if f.enforcementLevel == MANDATORY] == []
    offline = check_run(run_offline(stack_config(name)))
    assert {(f.policyName, f.enforcementLevel == MANDATORY) for f in findings} == {
        (v.policy, v.enforcement == "mandatory") for v in offline}
    if name == "win":  # what the stack knowingly allows shows as advisory
        assert "no-readwrite-data-disk-caching" in {f.policyName for f in findings}


def test_ssh_open_to_the_internet_is_mandatory(pack):
    nsg = {"networkSecurityGroupName": "nsg", "securityRules": [{
        "name": "ssh", "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
        "sourceAddressPrefix": "Internet", "destinationPortRange": "22", "priority": 100}]}
    (finding,) = analyze(pack, rules.NSG, "nsg", nsg)
    assert (finding.policyName, finding.enforcementLevel) == ("no-internet-ssh-rdp", MANDATORY)


def test_an_unprotected_image_is_mandatory(pack):
    (finding,) = analyze(pack, rules.GALLERY, "gallery", {"galleryName": "g"}, protect=False)
    assert (finding.policyName, finding.enforcementLevel) == ("images-protected", MANDATORY)
    assert analyze(pack, rules.GALLERY, "gallery", {"galleryName": "g"}, protect=True) == []


def test_readwrite_caching_is_advisory(pack):
    vm = {"vmName": "vm", "tags": {"vmimage-role": "build"}, "storageProfile": {
        "dataDisks": [{"lun": 0, "caching": "ReadWrite"}]}, **TRUSTED}
    (finding,) = analyze(pack, rules.VM, "vm", vm)
    assert (finding.policyName, finding.enforcementLevel) == (
        "no-readwrite-data-disk-caching", ADVISORY)


def test_a_plain_password_is_mandatory_and_a_secret_one_passes(pack):
    vm = {"vmName": "vm", "osProfile": {"adminPassword": "P4ssw0rd!", "windowsConfiguration": {}},
          "tags": {"vmimage-role": "clone"}, "licenseType": "Windows_Server", **TRUSTED,
          "storageProfile": {"imageReference": {"id": "/subscriptions/s/resourceGroups/r/"
                             "providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0"}}}
    findings = analyze(pack, rules.VM, "vm", vm)
    assert [(f.policyName, f.enforcementLevel) for f in findings] == [
        ("admin-password-secret", MANDATORY)]
    assert analyze(pack, rules.VM, "vm", vm, additionalSecretOutputs=["osProfile"]) == []


def test_unknown_values_in_a_preview_raise_no_violation(pack):
    vm = {"vmName": "vm", "tags": {"vmimage-role": "clone"},
          "storageProfile": {"imageReference": {"id": rpc.UNKNOWN}}}
    assert [f for f in analyze(pack, rules.VM, "vm", vm)
            if f.enforcementLevel == MANDATORY] == []


def test_policy_pack_config_changes_the_enforcement_level(tmp_path: Path):
    """`--policy-pack-config` reaches the pack through Configure."""
    with fake_engine() as (address, _), host_process(
            ["pulumi.policy", address, str(PACK)], cwd=PACK, env=clean_env(),
            log_dir=tmp_path) as host:
        stub = analyzer_stub(host)
        stub.GetAnalyzerInfo(empty_pb2.Empty())
        stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
            "no-readwrite-data-disk-caching": analyzer_pb2.PolicyConfig(
                enforcementLevel=MANDATORY),
            "license-type-on-windows": analyzer_pb2.PolicyConfig(
                enforcementLevel=MANDATORY)}))
        vm = {"vmName": "vm", "storageProfile": {"dataDisks": [{"lun": 0,
                                                                "caching": "ReadWrite"}]},
              **TRUSTED}
        (finding,) = analyze(stub, rules.VM, "vm", vm)
        assert finding.enforcementLevel == MANDATORY
        windows = {"vmName": "w", "osProfile": {"windowsConfiguration": {}}, **TRUSTED}
        (finding,) = analyze(stub, rules.VM, "w", windows)
        assert (finding.policyName, finding.enforcementLevel) == (
            "license-type-on-windows", MANDATORY)
        leaked = {m for m in host.imported_modules()
                  if m.split(".")[0] in ("offline", "tests", "conftest")}
        assert leaked == set()


def test_required_tags_from_the_pack_config(tmp_path: Path):
    """`requiredTags` reaches the pack through Configure; an untagged VM is then refused
    and a tagged one passes, as an organisation's deny-untagged policy would."""
    with fake_engine() as (address, _), host_process(
            ["pulumi.policy", address, str(PACK)], cwd=PACK, env=clean_env(),
            log_dir=tmp_path) as host:
        stub = analyzer_stub(host)
        stub.GetAnalyzerInfo(empty_pb2.Empty())
        config = struct_pb2.Struct()
        config.update({"requiredTags": ["costCenter"]})
        stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
            "required-tags": analyzer_pb2.PolicyConfig(enforcementLevel=MANDATORY,
                                                       properties=config)}))
        (finding,) = [f for f in analyze(stub, rules.VM, "vm", {"vmName": "vm", "tags": {}})
                      if f.policyName == "required-tags"]
        assert "costCenter" in finding.description + finding.message
        tagged = {"vmName": "vm", "tags": {"costCenter": "4711"}}
        assert not [f for f in analyze(stub, rules.VM, "vm", tagged)
                    if f.policyName == "required-tags"]


def test_a_clone_on_a_revoked_version_is_mandatory(pack):
    version_id = ("/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/"
                  "images/i/versions/1.1.0")
    version = {"galleryName": "g", "galleryImageName": "i", "galleryImageVersionName": "1.1.0",
               "tags": {"vmimage-revoked": "CVE-2026-0001 in openssl"}}
    clone = {"vmName": "vm-web-0", "tags": {"vmimage-role": "clone"},
             "storageProfile": {"imageReference": {"id": version_id}}}

    def findings(version_props: dict[str, Any]) -> list[Any]:
        response = pack.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[
            analyzer_pb2.AnalyzerResource(
                type=type_, properties=to_struct(props), name=name,
                urn=f"urn:pulumi:dev::vmimage::{type_}::{name}",
                options=analyzer_pb2.AnalyzerResourceOptions(protect=True))
            for type_, name, props in ((rules.GALLERY_IMAGE_VERSION, "v", version_props),
                                       (rules.VM, "vm-web-0", clone))]))
        return [f for f in response.diagnostics if f.policyName == "no-revoked-versions"]

    (finding,) = findings(version)
    assert finding.enforcementLevel == MANDATORY
    assert "CVE-2026-0001 in openssl" in finding.message and finding.urn.endswith("vm-web-0")
    assert findings({**version, "tags": {}}) == []
