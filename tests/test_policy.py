"""The vmimage policy rules (pure, via ``evaluate``) and the CrossGuard pack that wraps them."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest
from conftest import ROOT

from vmimage.policy import rules
from vmimage.policy.rules import ResourceView, Violation, evaluate

UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SUB = (
    "/subscriptions/00000000-0000-0000-0000-000000000000"
    "/resourceGroups/rg-img/providers/Microsoft.Compute"
)
VERSION_ID = f"{SUB}/galleries/galvmimage/images/ubuntu-web/versions/1.2.3"
MANAGED_IMAGE_ID = f"{SUB}/images/img-ubuntu-web"
MARKETPLACE = {
    "publisher": "Canonical",
    "offer": "ubuntu-24_04-lts",
    "sku": "server",
    "version": "latest",
}


def secret(value: Any) -> dict[str, Any]:
    return {rules.SECRET_SIG_KEY: rules.SECRET_SIG, "value": value}


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:dev::vmimage::{type_}::{name}"


def view(type_: str, name: str, props: dict[str, Any], **kw: Any) -> ResourceView:
    return ResourceView(urn=urn(type_, name), type=type_, name=name, props=props, **kw)


def vm(
    name: str,
    role: str = "clone",
    *,
    image: dict[str, Any] | None = None,
    location: str = "westeurope",
    data_disks: list[dict[str, Any]] | None = None,
    os_profile: Any = None,
    network_profile: dict[str, Any] | None = None,
    **kw: Any,
) -> ResourceView:
    """A good VM of the given role unless an argument says otherwise."""
    if image is None:
        image = {"id": VERSION_ID} if role == "clone" else dict(MARKETPLACE)
    props: dict[str, Any] = {
        "vmName": name,
        "location": location,
        "tags": {
            "vmimage-role": role,
            **({"vmimage-clone-group": "web"} if role == "clone" else {}),
        },
        "storageProfile": {
            "imageReference": image,
            "dataDisks": data_disks
            if data_disks is not None
            else [{"lun": 0, "caching": "ReadOnly", "diskSizeGB": 64}],
        },
        "osProfile": os_profile
        if os_profile is not None
        else {
            "computerName": name,
            "adminUsername": "azureuser",
            "linuxConfiguration": {
                "disablePasswordAuthentication": True,
                "ssh": {"publicKeys": []},
            },
        },
        "networkProfile": network_profile or {"networkInterfaces": [{"id": "nic-id"}]},
        "securityProfile": {"securityType": "TrustedLaunch"},
    }
    return view(rules.VM, name, props, **kw)


def vmss(
    name: str = "web-ss", *, image: dict[str, Any] | None = None, capacity: int = 2, **profile: Any
) -> ResourceView:
    vm_profile: dict[str, Any] = {
        "securityProfile": {"securityType": "TrustedLaunch"},
        "storageProfile": {"imageReference": image or {"id": VERSION_ID}},
        "osProfile": {
            "computerNamePrefix": "web",
            "adminUsername": "azureuser",
            "linuxConfiguration": {"disablePasswordAuthentication": True},
        },
        "networkProfile": {
            "networkInterfaceConfigurations": [
                {
                    "name": "nic",
                    "ipConfigurations": [{"name": "ipc", "subnet": {"id": "subnet-id"}}],
                }
            ]
        },
    }
    vm_profile.update(profile)
    props = {
        "vmScaleSetName": name,
        "location": "westeurope",
        "orchestrationMode": "Flexible",
        "sku": {"name": "Standard_B2s", "capacity": capacity},
        "tags": {"vmimage-role": "clone", "vmimage-clone-group": "web"},
        "virtualMachineProfile": vm_profile,
    }
    return view(rules.VMSS, name, props)


def image_version(
    name: str = "v1", regions: list[tuple[str, int]] | None = None, protect: bool = True
) -> ResourceView:
    targets = [{"name": r, "regionalReplicaCount": n} for r, n in (regions or [("westeurope", 2)])]
    return view(
        rules.GALLERY_IMAGE_VERSION,
        name,
        {
            "galleryName": "galvmimage",
            "galleryImageName": "ubuntu-web",
            "galleryImageVersionName": "1.2.3",
            "location": "westeurope",
            "publishingProfile": {"targetRegions": targets},
            "storageProfile": {"source": {"virtualMachineId": f"{SUB}/virtualMachines/vm-build"}},
        },
        protect=protect,
    )


def generalize(vm_name: Any = "vm-build") -> ResourceView:
    vm_id = UNKNOWN_STRING if vm_name == UNKNOWN_STRING else f"{SUB}/virtualMachines/{vm_name}"
    return view(
        rules.GENERALIZE,
        "build-generalize",
        {"resourceGroupName": "rg-img", "vmName": vm_name, "vmId": vm_id},
    )


def fired(violations: list[Violation], policy: str) -> list[Violation]:
    return [v for v in violations if v.policy == policy]


# --- the registry --------------------------------------------------------------------------------


def test_policies_listed_once_with_valid_enforcement() -> None:
    names = [p.name for p in rules.POLICIES]
    assert len(names) == len(set(names)) == 13
    assert {p.enforcement for p in rules.POLICIES} <= {"mandatory", "advisory"}
    for name, enforcement, description in rules.POLICIES:  # tuple-shaped for docs
        assert name == name.lower() and " " not in name
        assert enforcement and description


def test_good_pipeline_is_clean() -> None:
    resources = [
        vm("vm-build", "build"),
        generalize(),
        image_version(),
        vm("vm-web-0"),
        vm("vm-web-1"),
        view(rules.GALLERY, "gallery", {"galleryName": "galvmimage"}, protect=True),
        view(rules.GALLERY_IMAGE, "definition", {"galleryName": "galvmimage"}, protect=True),
    ]
    assert evaluate(resources) == []


def test_violations_sorted_by_policy_then_urn() -> None:
    resources = [
        vm("vm-z", data_disks=[{"lun": 0, "caching": "ReadWrite"}], image=dict(MARKETPLACE)),
        vm("vm-a", data_disks=[{"lun": 0, "caching": "ReadWrite"}], image=dict(MARKETPLACE)),
        view(rules.PUBLIC_IP, "pip", {}),
    ]
    out = evaluate(resources)
    assert [(v.policy, v.urn) for v in out] == sorted((v.policy, v.urn) for v in out)
    assert len(out) == 5


# --- 1. no-readwrite-data-disk-caching -----------------------------------------------------------


def test_readwrite_data_disk_caching_fires_on_vm_and_scale_set() -> None:
    bad_vm = vm(
        "vm-build",
        "build",
        data_disks=[{"lun": 0, "caching": "ReadOnly"}, {"lun": 3, "caching": "ReadWrite"}],
    )
    bad_ss = vmss(
        storageProfile={
            "imageReference": {"id": VERSION_ID},
            "dataDisks": [{"lun": 1, "caching": "ReadWrite"}],
        }
    )
    out = fired(evaluate([bad_vm, bad_ss, generalize()]), "no-readwrite-data-disk-caching")
    assert [v.urn for v in out] == sorted([bad_vm.urn, bad_ss.urn])
    assert all(v.enforcement == "advisory" for v in out)
    assert any(
        "LUN 3" in v.message and "ReadOnly" in v.message and "None" in v.message for v in out
    )


@pytest.mark.parametrize("caching", ["ReadOnly", "None", None])
def test_readonly_or_no_caching_is_quiet(caching: str | None) -> None:
    disk: dict[str, Any] = {"lun": 0} if caching is None else {"lun": 0, "caching": caching}
    assert not fired(
        evaluate([vm("vm-web-0", data_disks=[disk])]), "no-readwrite-data-disk-caching"
    )


# --- 2. clones-from-captured-image ---------------------------------------------------------------


def test_clone_from_marketplace_fires() -> None:
    out = fired(
        evaluate([vm("vm-web-0", image=dict(MARKETPLACE)), vmss(image=dict(MARKETPLACE))]),
        "clones-from-captured-image",
    )
    assert len(out) == 2 and all(v.enforcement == "mandatory" for v in out)
    assert "Canonical:ubuntu-24_04-lts:server:latest" in out[0].message
    assert "imageReference.id" in out[0].message


@pytest.mark.parametrize(
    "image",
    [
        {"communityGalleryImageId": "/CommunityGalleries/x/Images/y/Versions/1.0.0"},
        {"id": f"{SUB}/disks/some-disk"},
        {},
    ],
)
def test_clone_from_other_sources_fires(image: dict[str, Any]) -> None:
    assert fired(evaluate([vm("vm-web-0", image=image)]), "clones-from-captured-image")


@pytest.mark.parametrize(
    "image_id",
    [
        VERSION_ID,
        VERSION_ID.lower(),
        f"{SUB}/galleries/galvmimage/images/ubuntu-web",
        MANAGED_IMAGE_ID,
        UNKNOWN_STRING,
    ],
)
def test_clone_from_captured_image_is_quiet(image_id: str) -> None:
    assert not fired(
        evaluate([vm("vm-web-0", image={"id": image_id}), vmss(image={"id": image_id})]),
        "clones-from-captured-image",
    )


def test_build_vm_may_use_marketplace() -> None:
    assert not fired(
        evaluate([vm("vm-build", "build", image=dict(MARKETPLACE))]), "clones-from-captured-image"
    )


# --- 3. no-public-ip-on-clones -------------------------------------------------------------------


def _nic(role: str | None, public: bool) -> ResourceView:
    ipc: dict[str, Any] = {"name": "ipconfig1", "subnet": {"id": "subnet-id"}}
    if public:
        ipc["publicIPAddress"] = {"id": "pip-id"}
    props: dict[str, Any] = {"ipConfigurations": [ipc], "networkInterfaceName": f"nic-{role}"}
    if role:
        props["tags"] = {"vmimage-role": role}
    return view(rules.NIC, f"nic-{role}", props)


def test_public_ip_fires_for_address_clone_nic_and_scale_set() -> None:
    public_ss = vmss(
        networkProfile={
            "networkInterfaceConfigurations": [
                {
                    "name": "nic",
                    "ipConfigurations": [
                        {"name": "ipc", "publicIPAddressConfiguration": {"name": "pub"}}
                    ],
                }
            ]
        }
    )
    public_vm = vm(
        "vm-web-0",
        network_profile={
            "networkInterfaceConfigurations": [
                {
                    "name": "nic",
                    "ipConfigurations": [
                        {"name": "ipc", "publicIPAddressConfiguration": {"name": "pub"}}
                    ],
                }
            ]
        },
    )
    resources = [
        view(rules.PUBLIC_IP, "pip", {"publicIpAddressName": "pip"}),
        _nic("clone", True),
        _nic(None, True),
        public_ss,
        public_vm,
    ]
    out = fired(evaluate(resources), "no-public-ip-on-clones")
    assert sorted(v.urn for v in out) == sorted(r.urn for r in resources)
    assert all(v.enforcement == "mandatory" and "allowPublicIp" in v.message for v in out)


def test_private_nics_and_build_nic_are_quiet() -> None:
    resources = [_nic("clone", False), _nic("build", True), vmss(), vm("vm-web-0")]
    assert not fired(evaluate(resources), "no-public-ip-on-clones")


def test_allow_public_ip_silences_the_rule() -> None:
    resources = [view(rules.PUBLIC_IP, "pip", {}), _nic("clone", True)]
    assert fired(evaluate(resources), "no-public-ip-on-clones")
    assert not fired(evaluate(resources, allow_public_ip=True), "no-public-ip-on-clones")


# --- 4. no-internet-ssh-rdp ----------------------------------------------------------------------


def _nsg(*security_rules: dict[str, Any]) -> ResourceView:
    return view(
        rules.NSG,
        "nsg",
        {"networkSecurityGroupName": "nsg-vmimage", "securityRules": list(security_rules)},
    )


def _rule(**kw: Any) -> dict[str, Any]:
    base = {
        "name": "r",
        "priority": 100,
        "direction": "Inbound",
        "access": "Allow",
        "protocol": "Tcp",
        "sourceAddressPrefix": "*",
        "sourcePortRange": "*",
        "destinationAddressPrefix": "*",
        "destinationPortRange": "22",
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    "rule",
    [
        _rule(),
        _rule(destinationPortRange="3389", sourceAddressPrefix="Internet"),
        _rule(destinationPortRange="20-25", sourceAddressPrefix="0.0.0.0/0"),
        _rule(destinationPortRange="*", sourceAddressPrefix="Any"),
        _rule(destinationPortRange=None, destinationPortRanges=["80", "3000-3400"]),
        _rule(sourceAddressPrefix=None, sourceAddressPrefixes=["10.0.0.0/8", "internet"]),
        _rule(direction="inbound", access="allow", protocol="*"),
        _rule(sourceAddressPrefix="INTERNET"),  # service tags are case-insensitive
        _rule(sourceAddressPrefix="::/0"),
        _rule(sourceAddressPrefix=None, sourceAddressPrefixes=["0.0.0.0/1", "128.0.0.0/1"]),
    ],
)
def test_internet_ssh_rdp_fires(rule: dict[str, Any]) -> None:
    out = fired(
        evaluate([_nsg(_rule(name="ok", sourceAddressPrefix="10.0.0.0/8"), rule)]),
        "no-internet-ssh-rdp",
    )
    assert len(out) == 1 and out[0].enforcement == "mandatory"
    assert "Bastion" in out[0].message and "'r'" in out[0].message


def test_internet_judged_on_the_union_of_rules() -> None:
    """The IPv4 internet in two halves is one exposure; four public /10s are each under
    the bar (a /8's worth of addresses) and over it together."""
    halves = [_rule(name="low", sourceAddressPrefix="0.0.0.0/1"),
              _rule(name="high", sourceAddressPrefix="128.0.0.0/1", destinationPortRange="1-100")]
    out = fired(evaluate([_nsg(*halves)]), "no-internet-ssh-rdp")
    assert len(out) == 1 and "0.0.0.0/1, 128.0.0.0/1" in out[0].message
    slices = [_rule(name=f"s{i}", sourceAddressPrefix=f"32.{i * 64}.0.0/10") for i in range(4)]
    assert not fired(evaluate([_nsg(*slices[:1])]), "no-internet-ssh-rdp")
    assert fired(evaluate([_nsg(*slices)]), "no-internet-ssh-rdp")


@pytest.mark.parametrize(
    "rule",
    [
        _rule(sourceAddressPrefix="10.0.0.0/8"),
        _rule(sourceAddressPrefix="VirtualNetwork"),
        _rule(access="Deny"),
        _rule(direction="Outbound"),
        _rule(destinationPortRange="443"),
        _rule(destinationPortRange="23-3388"),
        _rule(protocol="Icmp", destinationPortRange="*"),
        _rule(destinationPortRange=UNKNOWN_STRING),
    ],
)
def test_safe_nsg_rules_are_quiet(rule: dict[str, Any]) -> None:
    assert not fired(evaluate([_nsg(rule)]), "no-internet-ssh-rdp")


def test_standalone_security_rule_checked() -> None:
    bad = view(rules.SECURITY_RULE, "ssh", {"networkSecurityGroupName": "nsg", **_rule(name=None)})
    good = view(
        rules.SECURITY_RULE,
        "https",
        {"networkSecurityGroupName": "nsg", **_rule(destinationPortRange="443")},
    )
    out = fired(evaluate([bad, good]), "no-internet-ssh-rdp")
    assert [v.urn for v in out] == [bad.urn] and "'ssh'" in out[0].message


@pytest.mark.parametrize(
    ("spec", "port", "expected"),
    [
        ("22", 22, True),
        ("20-25", 22, True),
        ("*", 3389, True),
        ("23-30", 22, False),
        ("x", 22, False),
    ],
)
def test_port_range_covers(spec: str, port: int, expected: bool) -> None:
    assert rules.port_range_covers(spec, port) is expected


# --- 5. images-protected -------------------------------------------------------------------------


@pytest.mark.parametrize("type_", sorted(rules.IMAGE_TYPES))
def test_unprotected_image_resources_fire(type_: str) -> None:
    out = fired(evaluate([view(type_, "img", {}, protect=False)]), "images-protected")
    assert len(out) == 1 and "protect=True" in out[0].message and out[0].enforcement == "mandatory"


@pytest.mark.parametrize("type_", sorted(rules.IMAGE_TYPES))
def test_protected_image_resources_are_quiet(type_: str) -> None:
    assert not fired(evaluate([view(type_, "img", {}, protect=True)]), "images-protected")


@pytest.mark.parametrize("type_", sorted(rules.IMAGE_TYPES))
def test_only_an_image_past_retention_s_keep_may_be_unprotected(type_: str) -> None:
    tagged = view(type_, "img", {"tags": {"vmimage-retention": "keep 2"}}, protect=False)
    out = fired(evaluate([tagged]), "images-protected")
    # A version or managed image past keep is deleted once its build leaves the config;
    # a gallery or image definition never is.
    assert len(out) == (0 if type_ in (rules.GALLERY_IMAGE_VERSION, rules.MANAGED_IMAGE) else 1)


def test_protect_not_required_elsewhere() -> None:
    assert not fired(evaluate([vm("vm-web-0"), _nsg()]), "images-protected")


# --- 6. min-replicas-where-clones-run ------------------------------------------------------------


def test_single_replica_where_clones_run_fires() -> None:
    version = image_version(regions=[("westeurope", 1), ("northeurope", 3)])
    out = fired(
        evaluate([version, vm("vm-web-0", location="West Europe")]), "min-replicas-where-clones-run"
    )
    assert [v.urn for v in out] == [version.urn] and out[0].enforcement == "advisory"
    # Advice in the config's words, not ARM's fields.
    assert "{name: westeurope, replicas: 2}" in out[0].message
    assert "builds[].regions of version 1.2.3" in out[0].message
    assert "publishingProfile" not in out[0].message and "regionalReplica" not in out[0].message


def test_region_without_replica_fires() -> None:
    out = fired(
        evaluate([image_version(), vm("vm-web-0", location="eastus")]),
        "min-replicas-where-clones-run",
    )
    assert len(out) == 1 and "not replicated to eastus" in out[0].message


def test_many_clones_need_one_replica_per_twenty() -> None:
    version = image_version(regions=[("westeurope", 2)])
    out = fired(evaluate([version, vmss(capacity=50)]), "min-replicas-where-clones-run")
    assert len(out) == 1 and "replicas: 3}" in out[0].message


def test_enough_replicas_or_no_clones_is_quiet() -> None:
    assert not fired(evaluate([image_version(), vm("vm-web-0")]), "min-replicas-where-clones-run")
    # a build VM in a one-replica region is not a clone
    lonely = image_version(regions=[("westeurope", 1)])
    assert not fired(
        evaluate([lonely, vm("vm-build", "build"), generalize()]), "min-replicas-where-clones-run"
    )


def test_replicas_judged_on_the_version_the_clone_uses() -> None:
    used = image_version("used", regions=[("westeurope", 2)])
    other = view(
        rules.GALLERY_IMAGE_VERSION,
        "other",
        {
            **image_version().props,
            "galleryImageName": "windows-app",
            "publishingProfile": {
                "targetRegions": [{"name": "westeurope", "regionalReplicaCount": 1}]
            },
        },
        protect=True,
    )
    assert not fired(evaluate([used, other, vm("vm-web-0")]), "min-replicas-where-clones-run")


def test_float_replica_counts_from_protobuf_are_understood() -> None:
    version = image_version(regions=[("westeurope", 2.0)])  # type: ignore[list-item]
    assert not fired(evaluate([version, vm("vm-web-0")]), "min-replicas-where-clones-run")


# --- 7. admin-password-secret, linux-password-auth-off -------------------------------------------


def _windows_profile(password: Any) -> dict[str, Any]:
    return {
        "computerName": "win0",
        "adminUsername": "azureuser",
        "adminPassword": password,
        "windowsConfiguration": {},
    }


def test_plain_admin_password_fires() -> None:
    out = fired(
        evaluate([vm("vm-web-0", os_profile=_windows_profile("P@ssw0rd-in-code"))]),
        "admin-password-secret",
    )
    assert len(out) == 1 and out[0].enforcement == "mandatory"
    assert "RandomPassword" in out[0].message and "P@ssw0rd" not in out[0].message


def test_plain_admin_password_on_scale_set_fires() -> None:
    ss = vmss(
        osProfile={
            "computerNamePrefix": "w",
            "adminUsername": "u",
            "adminPassword": "plain",
            "windowsConfiguration": {},
        }
    )
    out = fired(evaluate([ss]), "admin-password-secret")
    assert len(out) == 1 and "virtualMachineProfile.osProfile.adminPassword" in out[0].message


@pytest.mark.parametrize(
    ("os_profile", "secret_paths"),
    [
        (_windows_profile(secret("s3cret!")), frozenset()),
        (_windows_profile(rules.REDACTED_SECRET), frozenset()),
        (secret(_windows_profile("s3cret!")), frozenset()),
        (_windows_profile("s3cret!"), frozenset({"osProfile"})),
        (_windows_profile(UNKNOWN_STRING), frozenset()),
        ({"computerName": "w", "adminUsername": "u", "windowsConfiguration": {}}, frozenset()),
    ],
)
def test_secret_or_absent_admin_password_is_quiet(
    os_profile: Any, secret_paths: frozenset[str]
) -> None:
    r = vm("vm-web-0", os_profile=os_profile, secret_paths=secret_paths)
    assert not fired(evaluate([r]), "admin-password-secret")


def test_secret_os_profile_on_scale_set_is_quiet() -> None:
    profile = {"computerNamePrefix": "w", "adminUsername": "u", "adminPassword": "s3cret!"}
    assert fired(evaluate([vmss(osProfile=profile)]), "admin-password-secret")
    assert not fired(evaluate([vmss(osProfile=secret(profile))]), "admin-password-secret")


@pytest.mark.parametrize("linux", [{"disablePasswordAuthentication": False}, {}])
def test_linux_password_auth_fires(linux: dict[str, Any]) -> None:
    profile = {"computerName": "l", "adminUsername": "u", "linuxConfiguration": linux}
    out = fired(
        evaluate([vm("vm-build", "build", os_profile=profile), generalize()]),
        "linux-password-auth-off",
    )
    assert len(out) == 1 and "disablePasswordAuthentication=True" in out[0].message


def test_linux_password_auth_on_scale_set_fires() -> None:
    ss = vmss(
        osProfile={
            "computerNamePrefix": "w",
            "adminUsername": "u",
            "linuxConfiguration": {"disablePasswordAuthentication": False},
        }
    )
    assert fired(evaluate([ss]), "linux-password-auth-off")


def test_linux_password_auth_off_and_windows_are_quiet() -> None:
    resources = [vm("vm-web-0"), vmss(), vm("vm-web-1", os_profile=_windows_profile(secret("x")))]
    assert not fired(evaluate(resources), "linux-password-auth-off")


# --- 8. build-vm-deallocated-after-capture -------------------------------------------------------


def test_build_vm_without_generalize_fires() -> None:
    build = vm("vm-build", "build")
    out = fired(evaluate([build, generalize("vm-other")]), "build-vm-deallocated-after-capture")
    assert [v.urn for v in out] == [build.urn] and out[0].enforcement == "advisory"
    assert "Generalize" in out[0].message and "billing" in out[0].message


def test_build_vm_with_generalize_is_quiet() -> None:
    assert not fired(
        evaluate([vm("vm-build", "build"), generalize("VM-BUILD")]),
        "build-vm-deallocated-after-capture",
    )
    # during preview the Generalize target may still be unknown: no false alarm
    assert not fired(
        evaluate([vm("vm-build", "build"), generalize(UNKNOWN_STRING)]),
        "build-vm-deallocated-after-capture",
    )
    # the VM id alone identifies the target too
    by_id = view(
        rules.GENERALIZE, "g", {"vmName": UNKNOWN_STRING, "vmId": f"{SUB}/virtualMachines/vm-build"}
    )
    assert not fired(
        evaluate([vm("vm-build", "build"), by_id]), "build-vm-deallocated-after-capture"
    )
    # clones need no Generalize
    assert not fired(evaluate([vm("vm-web-0")]), "build-vm-deallocated-after-capture")


# --- value helpers -------------------------------------------------------------------------------


def test_get_looks_through_secret_markers_and_keeps_unknowns() -> None:
    props = {"a": secret({"b": [secret("x")]}), "u": UNKNOWN_STRING}
    assert rules.get(props, "a", "b", 0) == "x"
    assert rules.get(props, "a", "missing") is None
    assert rules.get(props, "u", "deeper") == UNKNOWN_STRING


# --- the CrossGuard pack -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pack() -> ModuleType:
    """The pack's entry file, loaded from its path as the engine's host runs it (the pack
    directory is not a package)."""
    spec = importlib.util.spec_from_file_location("vmimage_policy_pack",
                                                  ROOT / "policy" / "__main__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_policies_matches_rule_registry(pack: ModuleType) -> None:
    from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

    built = pack.build_policies()
    assert [p.name for p in built] == [p.name for p in rules.POLICIES]
    for p, rule in zip(built, rules.RULES, strict=True):
        assert p.enforcement_level == EnforcementLevel(rule.enforcement)
        expected = ResourceValidationPolicy if rule.scope == "resource" else StackValidationPolicy
        assert isinstance(p, expected)


@pytest.fixture()
def servicer(pack: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run the pack's real main() with the gRPC server stubbed; return its analyzer servicer."""
    import pulumi_policy.policy as pp

    captured: dict[str, Any] = {}

    class FakeServer:
        def add_insecure_port(self, address: str) -> int:
            return 0

        def start(self) -> None:
            pass

        def stop(self, grace: Any) -> None:
            captured["stopped"] = True

    def stop_serving(_: float) -> None:
        raise KeyboardInterrupt  # PolicyPack.__init__ serves until interrupted

    monkeypatch.setattr(pp.grpc, "server", lambda *a, **k: FakeServer())
    monkeypatch.setattr(
        pp.analyzer_pb2_grpc,
        "add_AnalyzerServicer_to_server",
        lambda s, _: captured.setdefault("servicer", s),
    )
    monkeypatch.setattr(pp.time, "sleep", stop_serving)
    pack.main()
    assert captured.get("stopped")
    return captured["servicer"]


def test_main_builds_pack_with_every_policy(servicer: Any) -> None:
    info = servicer.GetAnalyzerInfo(None, None)
    assert info.name == "vmimage"
    assert [p.name for p in info.policies] == [p.name for p in rules.POLICIES]


def _struct(props: dict[str, Any]) -> Any:
    from google.protobuf import struct_pb2

    s = struct_pb2.Struct()
    s.update(props)
    return s


def _analyze(
    servicer: Any, type_: str, name: str, props: dict[str, Any], **opts: Any
) -> list[tuple[str, str]]:
    from pulumi.runtime import proto

    request = proto.AnalyzeRequest(
        type=type_,
        urn=urn(type_, name),
        name=name,
        properties=_struct(props),
        options=proto.AnalyzerResourceOptions(**opts),
    )
    response = servicer.Analyze(request, None)
    return [(d.policyName, d.message) for d in response.diagnostics]


def test_pack_reports_resource_violations(servicer: Any) -> None:
    diags = _analyze(servicer, rules.PUBLIC_IP, "pip", {"publicIpAddressName": "pip"})
    assert [d[0] for d in diags] == ["no-public-ip-on-clones"]
    unprotected = _analyze(servicer, rules.GALLERY, "gallery", {"galleryName": "g"}, protect=False)
    assert [d[0] for d in unprotected] == ["images-protected"]
    assert _analyze(servicer, rules.GALLERY, "gallery", {"galleryName": "g"}, protect=True) == []


def test_pack_tolerates_unknowns(servicer: Any) -> None:
    clone = dict(vm("vm-web-0").props)
    clone["storageProfile"] = {"imageReference": {"id": UNKNOWN_STRING}}
    assert _analyze(servicer, rules.VM, "vm-web-0", clone) == []


def test_pack_secret_check_uses_additional_secret_outputs(servicer: Any) -> None:
    props = dict(vm("vm-web-0", os_profile=_windows_profile("plain")).props,
                 licenseType="Windows_Server")
    assert [d[0] for d in _analyze(servicer, rules.VM, "vm-web-0", props)] == [
        "admin-password-secret"
    ]
    assert (
        _analyze(servicer, rules.VM, "vm-web-0", props, additionalSecretOutputs=["osProfile"]) == []
    )


def test_pack_honours_allow_public_ip_config(servicer: Any) -> None:
    from pulumi.runtime import proto

    config = proto.PolicyConfig(
        enforcementLevel=proto.MANDATORY, properties=_struct({"allowPublicIp": True})
    )
    servicer.Configure(
        proto.ConfigureAnalyzerRequest(policyConfig={"no-public-ip-on-clones": config}), None
    )
    assert _analyze(servicer, rules.PUBLIC_IP, "pip", {}) == []


def test_pack_runs_stack_policies(servicer: Any) -> None:
    from pulumi.runtime import proto

    def resource(r: ResourceView) -> Any:
        return proto.AnalyzerResource(
            type=r.type,
            urn=r.urn,
            name=r.name,
            properties=_struct(dict(r.props)),
            options=proto.AnalyzerResourceOptions(protect=r.protect),
        )

    version = image_version(regions=[("westeurope", 1)])
    request = proto.AnalyzeStackRequest(
        resources=[resource(vm("vm-build", "build")), resource(version), resource(vm("vm-web-0"))]
    )
    diags = {(d.policyName, d.urn) for d in servicer.AnalyzeStack(request, None).diagnostics}
    assert diags == {
        ("min-replicas-where-clones-run", version.urn),
        ("build-vm-deallocated-after-capture", urn(rules.VM, "vm-build")),
    }


# --- no-revoked-versions -------------------------------------------------------------------------


def revoked_version(reason: str | None = "CVE-2026-0001 in openssl") -> ResourceView:
    version = image_version()
    tags = {"vmimage-role": "image", "vmimage-version": "1.2.3"}
    if reason is not None:
        tags["vmimage-revoked"] = reason
    return view(version.type, version.name, {**version.props, "tags": tags}, protect=True)


def child_build(own: str) -> ResourceView:
    build = vm("vm-build-child", role="build", image={"id": VERSION_ID})
    props = {**build.props, "tags": {**build.props["tags"], "vmimage-version": own}}
    return view(rules.VM, build.name, props)


def test_clones_and_child_builds_on_a_revoked_version_fire() -> None:
    clone, scale_set = vm("vm-web-0"), vmss("vmss-api")
    found = fired(evaluate([revoked_version(), clone, scale_set, child_build("1.3.0")]),
                  "no-revoked-versions")
    assert {v.urn for v in found} == {clone.urn, scale_set.urn, child_build("1.3.0").urn}
    assert {v.enforcement for v in found} == {"mandatory"}
    assert all("1.2.3" in v.message and "CVE-2026-0001 in openssl" in v.message
               for v in found)
    assert any("clones[].version" in v.message for v in found)
    assert any("builds[].from.version" in v.message for v in found)


def test_versions_not_revoked_and_revoked_children_are_quiet() -> None:
    assert not fired(evaluate([revoked_version(None), vm("vm-web-0"), vmss("vmss-api")]),
                     "no-revoked-versions")
    # A child that is revoked itself is used by nobody: its build VM may stay.
    child = child_build("1.3.0")
    child_revoked = view(rules.GALLERY_IMAGE_VERSION, "v2", {
        **image_version().props, "galleryImageVersionName": "1.3.0",
        "tags": {"vmimage-revoked": "built on 1.2.3"}})
    assert not fired(evaluate([revoked_version(), child_revoked, child]), "no-revoked-versions")


def test_clones_on_another_version_of_the_image_are_quiet() -> None:
    other = VERSION_ID.replace("1.2.3", "1.2.4")
    assert VERSION_ID != other
    assert not fired(evaluate([revoked_version(), vm("vm-web-0", image={"id": other})]),
                     "no-revoked-versions")
