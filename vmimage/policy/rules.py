"""The vmimage policy rules as pure functions over plain data.

The CrossGuard pack (``policy/__main__.py``) and the offline runner apply the *same* rules:
both adapt what they see into :class:`ResourceView` objects and call :func:`evaluate` (offline)
or the per-rule checks in :data:`RULES` (CrossGuard). Nothing here imports pulumi or
pulumi-policy, so the offline path needs neither.

Property names are the camelCase azure-native v3 input names as the engine sees them.
Values may be:

* a secret marker ``{SECRET_SIG_KEY: SECRET_SIG, "value": ...}`` (the engine's wire form)
  or the redacted string ``"[secret]"`` - both count as secret, and the marker is looked
  through when reading nested properties;
* an unknown sentinel (a computed value during preview) - a rule never reports a violation
  it cannot prove from known values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from vmimage.azure.nsg_sources import Source, internet_exposure, parse_source, port_range_covers
from vmimage.azure.sizing import (
    MIN_REPLICAS_WHERE_CLONES_RUN,
    VMS_PER_REPLICA,
    recommended_replicas,
)

# The shared vocabulary (vmimage/vocabulary.py), under the short names the rules read best in.
from vmimage.vocabulary import (
    EGRESS_ROLE,
    GALLERY,
    GALLERY_IMAGE,
    GALLERY_IMAGE_VERSION,
    GENERALIZE,
    MANAGED_IMAGE,
    NAT_GATEWAY,
    NIC,
    NSG,
    PUBLIC_IP,
    REDACTED_SECRET,
    RESOURCE_GROUP,
    RETENTION_TAG,
    REVOKED_TAG,
    ROLE_TAG,
    RUN_COMMAND,
    SECRET_SIG,
    SECRET_SIG_KEY,
    SECURITY_RULE,
    UNKNOWN_VALUES,
    VERSION_TAG,
    VIRTUAL_NETWORK,
)
from vmimage.vocabulary import SCALE_SET as VMSS
from vmimage.vocabulary import VIRTUAL_MACHINE as VM

IMAGE_TYPES: frozenset[str] = frozenset(
    {GALLERY, GALLERY_IMAGE, GALLERY_IMAGE_VERSION, MANAGED_IMAGE}
)

Enforcement = Literal["mandatory", "advisory"]


@dataclass(frozen=True)
class ResourceView:
    """One resource as a rule sees it: engine-shaped (camelCase) properties plus options."""

    urn: str
    type: str
    """Type token, e.g. ``azure-native:compute:VirtualMachine``."""
    name: str
    """Logical Pulumi name."""
    props: Mapping[str, Any]
    """Inputs, camelCase; may hold secret markers and unknown sentinels."""
    protect: bool = False
    secret_paths: frozenset[str] = frozenset()
    """Top-level property names marked secret (secret inputs, additionalSecretOutputs)."""


@dataclass(frozen=True)
class Violation:
    policy: str
    """Policy name, kebab-case."""
    enforcement: Enforcement
    urn: str
    message: str
    """What is wrong and what to do instead."""


@dataclass(frozen=True)
class Options:
    allow_public_ip: bool = False
    """Silences ``no-public-ip-on-clones`` (pack config ``allowPublicIp``)."""
    required_tags: tuple[str, ...] = ()
    """Tag keys every taggable resource must carry (pack config ``requiredTags``), as an
    organisation's "deny untagged resources" Azure Policy would demand."""


ResourceCheck = Callable[[ResourceView, Options], list[str]]
StackCheck = Callable[[Sequence[ResourceView], Options], list[tuple[str, str]]]
"""Returns ``(urn, message)`` pairs."""


@dataclass(frozen=True)
class Rule:
    name: str
    enforcement: Enforcement
    description: str
    scope: Literal["resource", "stack"]
    check: ResourceCheck | StackCheck = field(repr=False)


class PolicyInfo(NamedTuple):
    name: str
    enforcement: Enforcement
    description: str


# --- value helpers -------------------------------------------------------------------------------


def is_secret_marker(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def is_secret(value: Any) -> bool:
    return is_secret_marker(value) or value == REDACTED_SECRET


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in UNKNOWN_VALUES


def reveal(value: Any) -> Any:
    """The plain value behind (possibly nested) secret markers."""
    while is_secret_marker(value):
        value = value.get("value")
    return value


def get(obj: Any, *path: str | int) -> Any:
    """Walk ``path`` through dicts and lists, looking through secret markers; None if absent.

    Unknown sentinels are returned as they are so a caller can tell "unknown" from "absent".
    """
    cur = reveal(obj)
    for key in path:
        if is_unknown(cur):
            return cur
        if isinstance(key, int):
            if not isinstance(cur, Sequence) or isinstance(cur, str) or key >= len(cur):
                return None
            cur = reveal(cur[key])
        else:
            if not isinstance(cur, Mapping):
                return None
            cur = reveal(cur.get(key))
    return cur


def as_list(value: Any) -> list[Any]:
    value = reveal(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [reveal(v) for v in value]
    return []


def _text(value: Any) -> str | None:
    value = reveal(value)
    if isinstance(value, str) and not is_unknown(value):
        return value
    return None


def _int(value: Any) -> int | None:
    """An integral number; protobuf Structs hand every number to the pack as a float."""
    value = reveal(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        return None
    return int(value)


def tags(r: ResourceView) -> Mapping[str, Any]:
    t = get(r.props, "tags")
    return t if isinstance(t, Mapping) else {}


def role(r: ResourceView) -> str | None:
    value = _text(tags(r).get(ROLE_TAG))
    return value.lower() if value else None


def region_key(region: str) -> str:
    """Azure accepts "West Europe" and "westeurope" alike."""
    return region.replace(" ", "").lower()


def _profile(r: ResourceView) -> Any:
    """The VM-shaped profile: the VM itself, or a scale set's virtualMachineProfile."""
    if r.type == VMSS:
        return get(r.props, "virtualMachineProfile")
    return r.props


def _profile_root_key(r: ResourceView) -> str:
    return "virtualMachineProfile" if r.type == VMSS else "osProfile"


def _is_compute(r: ResourceView) -> bool:
    return r.type in (VM, VMSS)


def _is_clone(r: ResourceView) -> bool:
    # Every scale set here is a clone set; VMs say so with their role tag.
    return r.type == VMSS or (r.type == VM and role(r) == "clone")


def _azure_name(r: ResourceView) -> str:
    for key in ("vmName", "vmScaleSetName", "name"):
        value = _text(r.props.get(key))
        if value:
            return value
    return r.name


def _describe(r: ResourceView) -> str:
    kind = "scale set" if r.type == VMSS else "VM"
    who = role(r) or "untagged"
    return f"{who} {kind} '{_azure_name(r)}'"


# --- rule 1: no-readwrite-data-disk-caching ------------------------------------------------------


def check_data_disk_caching(r: ResourceView, _: Options) -> list[str]:
    if not _is_compute(r):
        return []
    out: list[str] = []
    for disk in as_list(get(_profile(r), "storageProfile", "dataDisks")):
        caching = _text(get(disk, "caching"))
        if caching and caching.lower() == "readwrite":
            lun = _int(get(disk, "lun"))
            out.append(
                f"{_describe(r)}: data disk LUN {lun} uses caching ReadWrite; writes cached on the "
                "host are lost if the host fails. Set caching to ReadOnly (read-heavy data) or "
                "None (write-heavy data, logs)."
            )
    return out


# --- rule 2: clones-from-captured-image ----------------------------------------------------------

_GALLERY_ID = re.compile(
    r"/providers/microsoft\.compute/galleries/(?P<gallery>[^/]+)/images/(?P<image>[^/]+)"
    r"(?:/versions/(?P<version>[^/]+))?/?$",
    re.IGNORECASE,
)
_MANAGED_IMAGE_ID = re.compile(r"/providers/microsoft\.compute/images/[^/]+/?$", re.IGNORECASE)


def check_clone_image(r: ResourceView, _: Options) -> list[str]:
    if not _is_clone(r):
        return []
    ref = get(_profile(r), "storageProfile", "imageReference")
    if is_unknown(ref):
        return []
    image_id = get(ref, "id")
    if is_unknown(image_id):
        return []  # computed from another resource (the image version) during preview
    fix = (
        "Set storageProfile.imageReference.id to the captured gallery image version "
        "(/subscriptions/.../galleries/<gallery>/images/<definition>/versions/<x.y.z>) "
        "or managed image id (.../providers/Microsoft.Compute/images/<name>)."
    )
    if isinstance(image_id, str) and image_id:
        if _GALLERY_ID.search(image_id) or _MANAGED_IMAGE_ID.search(image_id):
            return []
        return [f"{_describe(r)} boots from '{image_id}', which is not a captured image. {fix}"]
    if not isinstance(ref, Mapping):
        return [f"{_describe(r)} has no storageProfile.imageReference. {fix}"]
    if _text(ref.get("publisher")) or _text(ref.get("offer")):
        urn = ":".join(
            str(reveal(ref.get(k)) or "") for k in ("publisher", "offer", "sku", "version")
        )
        return [
            f"{_describe(r)} uses the marketplace image {urn}; clones must boot the captured "
            f"image. {fix}"
        ]
    for key in ("communityGalleryImageId", "sharedGalleryImageId"):
        if _text(ref.get(key)):
            return [f"{_describe(r)} uses {key} '{ref.get(key)}', not this pipeline's image. {fix}"]
    return [f"{_describe(r)} has an imageReference without an id. {fix}"]


# --- rule 3: no-public-ip-on-clones --------------------------------------------------------------

_PUBLIC_IP_FIX = (
    "Clones and builds need no inbound internet path (run commands go through the Azure control "
    "plane); reach them through Azure Bastion or a private network, or set allowPublicIp in the "
    "policy config if this stack really must expose them."
)


def _ip_configs_with_public_ip(network_profile: Any) -> list[str]:
    names: list[str] = []
    for nic in as_list(get(network_profile, "networkInterfaceConfigurations")):
        for ipc in as_list(get(nic, "ipConfigurations")):
            if get(ipc, "publicIPAddressConfiguration") is not None:
                names.append(str(get(ipc, "name") or get(nic, "name") or "?"))
    return names


def check_public_ip(r: ResourceView, options: Options) -> list[str]:
    if options.allow_public_ip:
        return []
    if r.type == PUBLIC_IP and role(r) == EGRESS_ROLE:
        return []  # a NAT gateway's address: outbound only, no inbound path to any VM
    if r.type == PUBLIC_IP:
        return [f"public IP address '{_azure_name(r)}' is declared. {_PUBLIC_IP_FIX}"]
    if r.type == NIC:
        # Build NICs are covered by the PublicIPAddress check; an untagged NIC may be a clone's.
        if role(r) == "build":
            return []
        out = []
        for ipc in as_list(get(r.props, "ipConfigurations")):
            if get(ipc, "publicIPAddress") is not None:
                out.append(
                    f"network interface '{_azure_name(r)}' ip configuration "
                    f"'{get(ipc, 'name') or '?'}' attaches a public IP. {_PUBLIC_IP_FIX}"
                )
        return out
    if _is_clone(r):
        return [
            f"{_describe(r)} ip configuration '{name}' requests a public IP "
            f"(publicIPAddressConfiguration). Remove it. {_PUBLIC_IP_FIX}"
            for name in _ip_configs_with_public_ip(get(_profile(r), "networkProfile"))
        ]
    return []


# --- rule 4: no-internet-ssh-rdp -----------------------------------------------------------------

_ADMIN_PORTS = {22: "SSH", 3389: "RDP"}


def _allowing(rule: Any) -> bool:
    direction = _text(get(rule, "direction")) or ""
    access = _text(get(rule, "access")) or ""
    protocol = (_text(get(rule, "protocol")) or "*").lower()
    return (direction.lower() == "inbound" and access.lower() == "allow"
            and protocol in ("tcp", "*"))


def _sources(rule: Any) -> list[Source]:
    """The rule's sources, read by meaning; what cannot be read is not judged."""
    texts = [_text(get(rule, "sourceAddressPrefix"))] + [
        _text(s) for s in as_list(get(rule, "sourceAddressPrefixes"))
    ]
    found = []
    for text in texts:
        if text:
            try:
                found.append(parse_source(text))
            except ValueError:
                continue
    return found


def _exposures(rules: Sequence[Any], where: str, fallback_name: str = "?") -> list[str]:
    """Whether the allow rules covering an admin port, together, open it to the internet:
    `0.0.0.0/1` and `128.0.0.0/1` are the whole IPv4 internet in two rules."""
    exposed, names = [], []
    for port, label in _ADMIN_PORTS.items():
        covering = [
            rule for rule in rules
            if _allowing(rule) and any(
                spec and port_range_covers(spec, port)
                for spec in [_text(get(rule, "destinationPortRange"))]
                + [_text(p) for p in as_list(get(rule, "destinationPortRanges"))])
        ]
        exposure = internet_exposure(s for rule in covering for s in _sources(rule))
        if exposure:
            exposed.append(f"{port}/{label} ({exposure})")
            names += [_text(get(r, "name")) or _text(get(r, "securityRuleName"))
                      or fallback_name for r in covering]
    if not exposed:
        return []
    rule_names = ", ".join(f"'{n}'" for n in dict.fromkeys(names))
    return [
        f"{where}: rule(s) {rule_names} allow inbound {'; '.join(exposed)}. Never open SSH/RDP "
        "to the internet: restrict the sources to a management range or use Azure Bastion; "
        "the pipeline itself needs neither (it uses run commands)."
    ]


def check_internet_ssh_rdp(r: ResourceView, _: Options) -> list[str]:
    if r.type == NSG:
        where = (
            f"network security group '{_text(r.props.get('networkSecurityGroupName')) or r.name}'"
        )
        return _exposures(as_list(get(r.props, "securityRules")), where)
    if r.type == SECURITY_RULE:
        nsg = _text(r.props.get("networkSecurityGroupName")) or "?"
        return _exposures([r.props], f"network security group '{nsg}'", r.name)
    return []


# --- rule 5: images-protected --------------------------------------------------------------------


def check_images_protected(r: ResourceView, _: Options) -> list[str]:
    if r.type not in IMAGE_TYPES or r.protect:
        return []
    tags = r.props.get("tags")
    if r.type in (GALLERY_IMAGE_VERSION, MANAGED_IMAGE) and isinstance(tags, Mapping) \
            and tags.get(RETENTION_TAG):
        return []  # past retention's keep: removing its build deletes it, as the plan said
    kind = r.type.rsplit(":", 1)[-1]
    return [
        f"{kind} '{r.name}' is not protected: a destroy or an accidental replacement would "
        "delete an image that clones depend on, and a version number cannot be reused. "
        "Register it with ResourceOptions(protect=True)."
    ]


# --- rule 6: min-replicas-where-clones-run (stack) -----------------------------------------------

# Shared with the spec's `replicas: auto`, so auto never trips this rule.
MIN_REPLICAS = MIN_REPLICAS_WHERE_CLONES_RUN


def _clone_count(r: ResourceView) -> int:
    if r.type == VMSS:
        capacity = _int(get(r.props, "sku", "capacity"))
        return capacity if capacity is not None and capacity > 0 else 1
    return 1


def _version_regions(v: ResourceView) -> dict[str, int]:
    """Region -> replica count, applying Azure's defaults (replicaCount, else 1; own region)."""
    profile = get(v.props, "publishingProfile")
    default = _int(get(profile, "replicaCount")) or 1
    regions: dict[str, int] = {}
    for target in as_list(get(profile, "targetRegions")):
        name = _text(get(target, "name"))
        if name:
            count = _int(get(target, "regionalReplicaCount"))
            regions[region_key(name)] = count if count is not None else default
    location = _text(get(v.props, "location"))
    if not regions and location:
        regions[region_key(location)] = default
    return regions


def _same(a: Any, b: str | None) -> bool:
    """Name equality where an unknown or absent name on the version side matches anything."""
    a_text = _text(a)
    return a_text is None or b is None or a_text.lower() == b.lower()


def _versions_for(clone: ResourceView, versions: Sequence[ResourceView]) -> list[ResourceView]:
    image_id = get(_profile(clone), "storageProfile", "imageReference", "id")
    if isinstance(image_id, str) and not is_unknown(image_id):
        m = _GALLERY_ID.search(image_id)
        if not m:
            return []  # managed image or marketplace: no gallery replicas involved
        matched = [
            v
            for v in versions
            if _same(v.props.get("galleryName"), m["gallery"])
            and _same(v.props.get("galleryImageName"), m["image"])
            and (
                m["version"] in (None, "latest")
                or _same(v.props.get("galleryImageVersionName"), m["version"])
            )
        ]
        if matched:
            return matched
    return list(versions)


def _version_label(v: ResourceView) -> str:
    """How the config names a gallery version: its Major.Minor.Patch."""
    return _text(v.props.get("galleryImageVersionName")) or "(unknown)"


def check_min_replicas(resources: Sequence[ResourceView], _: Options) -> list[tuple[str, str]]:
    versions = [r for r in resources if r.type == GALLERY_IMAGE_VERSION]
    if not versions:
        return []
    demand: dict[str, dict[str, list[ResourceView]]] = {}  # version urn -> region -> clones
    for clone in resources:
        if not (_is_compute(clone) and role(clone) == "clone"):
            continue
        location = _text(clone.props.get("location"))
        if not location:
            continue
        for v in _versions_for(clone, versions):
            demand.setdefault(v.urn, {}).setdefault(region_key(location), []).append(clone)
    out: list[tuple[str, str]] = []
    for v in versions:
        regions = _version_regions(v)
        for region, clones in sorted(demand.get(v.urn, {}).items()):
            n = sum(_clone_count(c) for c in clones)
            needed = recommended_replicas(n)
            have = regions.get(region, 0)
            if have >= needed:
                continue
            where = ", ".join(sorted(_azure_name(c) for c in clones))
            if have == 0:
                problem = (
                    f"is not replicated to {region}, where {n} clone VM(s) run ({where}); "
                    "they cannot be created there"
                )
            else:
                problem = f"has {have} replica(s) in {region}, where {n} clone VM(s) run ({where})"
            out.append(
                (
                    v.urn,
                    f"gallery image version '{v.name}' {problem}. In the config, list "
                    f"{{name: {region}, replicas: {needed}}} (or replicas: auto) under "
                    f"builds[].regions of version {_version_label(v)} (at least "
                    f"{MIN_REPLICAS} so one busy or failed replica does not stall "
                    f"deployments, and 1 per {VMS_PER_REPLICA} VMs created at once).",
                )
            )
    return out


# --- rule 7: admin-password-secret, linux-password-auth-off --------------------------------------


def check_admin_password_secret(r: ResourceView, _: Options) -> list[str]:
    if not _is_compute(r):
        return []
    root_key = _profile_root_key(r)
    # Secretness may sit on the password itself or on any object that encloses it.
    # Read the raw (unrevealed) values: get() would strip the very markers looked for here.
    if r.type == VMSS:
        vm_profile = r.props.get("virtualMachineProfile")
        inner = reveal(vm_profile)
        chain = [vm_profile, inner.get("osProfile") if isinstance(inner, Mapping) else None]
    else:
        chain = [r.props.get("osProfile")]
    os_profile = get(_profile(r), "osProfile")
    raw = os_profile.get("adminPassword") if isinstance(os_profile, Mapping) else None
    if raw is None or raw == "" or is_unknown(reveal(raw)):
        return []
    declared = {root_key, f"{root_key}.adminPassword", "adminPassword"}
    if r.type == VMSS:
        declared |= {
            "virtualMachineProfile.osProfile",
            "virtualMachineProfile.osProfile.adminPassword",
        }
    if is_secret(raw) or any(is_secret(c) for c in chain) or declared & r.secret_paths:
        return []
    path = (
        "virtualMachineProfile.osProfile.adminPassword"
        if r.type == VMSS
        else "osProfile.adminPassword"
    )
    return [
        f"{_describe(r)}: {path} is a plain value, so it is stored unencrypted in the state and "
        "can leak into logs. Pass a secret (random.RandomPassword(...).result or "
        "config.require_secret(...)) and list the enclosing property in additional_secret_outputs; "
        "for Linux prefer SSH keys and no password."
    ]


def check_linux_password_auth(r: ResourceView, _: Options) -> list[str]:
    if not _is_compute(r):
        return []
    linux = get(_profile(r), "osProfile", "linuxConfiguration")
    if not isinstance(linux, Mapping):
        return []
    disabled = get(linux, "disablePasswordAuthentication")
    if disabled is True or is_unknown(disabled):
        return []
    return [
        f"{_describe(r)} is Linux with password authentication "
        f"{'enabled' if disabled is False else 'left at its default (enabled)'}. Set "
        "osProfile.linuxConfiguration.disablePasswordAuthentication=True and provide "
        "linuxConfiguration.ssh.publicKeys; the pipeline's run commands need no password."
    ]


# --- rule 8: build-vm-deallocated-after-capture (stack) ------------------------------------------


def _is_generalize(r: ResourceView) -> bool:
    return r.type == GENERALIZE


def check_build_vm_generalized(
    resources: Sequence[ResourceView], _: Options
) -> list[tuple[str, str]]:
    targets: set[str] = set()
    wildcard = False  # a Generalize whose target is still unknown (preview) may be any build VM
    for g in resources:
        if not _is_generalize(g):
            continue
        name = get(g.props, "vmName")
        vm_id = get(g.props, "vmId")
        if isinstance(name, str) and not is_unknown(name):
            targets.add(name.lower())
        elif isinstance(vm_id, str) and not is_unknown(vm_id):
            targets.add(vm_id.rstrip("/").rsplit("/", 1)[-1].lower())
        else:
            wildcard = True
    if wildcard:
        return []
    out: list[tuple[str, str]] = []
    for vm in resources:
        if vm.type != VM or role(vm) != "build":
            continue
        if _azure_name(vm).lower() in targets:
            continue
        out.append(
            (
                vm.urn,
                f"{_describe(vm)} is not generalized by any Generalize step: after capture it "
                "would stay allocated and keep billing compute. Add a Generalize step for it (it "
                "deallocates the VM before generalizing) or retire the build VM from the stack.",
            )
        )
    return out


# --- rule 10: required-tags ----------------------------------------------------------------------

#: The types this program registers that take tags in ARM (a subnet takes none).
TAGGABLE: frozenset[str] = frozenset({
    RESOURCE_GROUP, VIRTUAL_NETWORK, NSG, NAT_GATEWAY, PUBLIC_IP, NIC, VM, VMSS, RUN_COMMAND,
    GALLERY, GALLERY_IMAGE, GALLERY_IMAGE_VERSION, MANAGED_IMAGE,
})


def check_required_tags(r: ResourceView, options: Options) -> list[str]:
    if not options.required_tags or r.type not in TAGGABLE:
        return []
    tags = get(r.props, "tags")
    if is_unknown(tags):
        return []  # a preview: judged when known
    present = set(tags) if isinstance(tags, Mapping) else set()
    missing = [key for key in options.required_tags if key not in present]
    if not missing:
        return []
    return [f"{_describe(r)} lacks the tag(s) {', '.join(missing)} that the policy config "
            "requires (requiredTags); add them under vmimage:pipeline tags"]


# --- rule 11: license-type-on-windows ------------------------------------------------------------


def check_license_type_on_windows(r: ResourceView, _: Options) -> list[str]:
    """A Windows VM or scale set without Azure Hybrid Benefit pays for Windows by the hour;
    an estate with licences (Software Assurance) usually means to use them."""
    if not _is_compute(r):
        return []
    profile = _profile(r)
    windows = get(profile, "osProfile", "windowsConfiguration")
    if windows is None or is_unknown(windows):
        return []
    license_type = get(profile, "licenseType")
    if license_type or is_unknown(license_type):
        return []
    return [f"{_describe(r)} is Windows without a licenseType: it pays the Windows licence "
            "by the hour. With Azure Hybrid Benefit, set licenseType: Windows_Server (or "
            "Windows_Client) on the build and clone group in vmimage:pipeline"]


# --- rule 13: trusted-launch-required ------------------------------------------------------------

#: The security types that measure the boot chain (secure boot, vTPM): Azure's names.
SECURED_TYPES = ("TrustedLaunch", "ConfidentialVM")


def check_trusted_launch_required(r: ResourceView, _: Options) -> list[str]:
    """A VM or scale set without Trusted Launch (or a confidential VM's protection) boots
    with no secure boot or vTPM; many platform baselines require them on every VM."""
    if not _is_compute(r):
        return []
    security_type = get(_profile(r), "securityProfile", "securityType")
    if security_type in SECURED_TYPES or is_unknown(security_type):
        return []
    return [f"{_describe(r)} runs as a Standard VM (no secure boot, no vTPM); set "
            "security.type: TrustedLaunch (or ConfidentialVM) in vmimage:pipeline, which "
            "needs a generation V2 image captured to a gallery"]


# --- rule 12: no-revoked-versions ----------------------------------------------------------------


def _revoked(resources: Sequence[ResourceView]) -> dict[tuple[str, str, str], str]:
    """(gallery, image, version) in lower case -> reason, for versions tagged revoked."""
    found: dict[tuple[str, str, str], str] = {}
    for v in resources:
        reason = _text(tags(v).get(REVOKED_TAG)) if v.type == GALLERY_IMAGE_VERSION else None
        key = tuple(_text(v.props.get(k)) for k in
                    ("galleryName", "galleryImageName", "galleryImageVersionName"))
        if reason and all(key):
            found[tuple(str(k).lower() for k in key)] = reason  # type: ignore[index]
    return found


def check_no_revoked_versions(
    resources: Sequence[ResourceView], _: Options
) -> list[tuple[str, str]]:
    """Clone VMs and scale sets, and build VMs of child builds, booting a version tagged
    revoked. A build VM of a version that is itself revoked is let be: nothing uses it."""
    revoked = _revoked(resources)
    if not revoked:
        return []
    out: list[tuple[str, str]] = []
    for r in resources:
        if not (_is_clone(r) or (r.type == VM and role(r) == "build")):
            continue
        image_id = get(_profile(r), "storageProfile", "imageReference", "id")
        m = _GALLERY_ID.search(image_id) if isinstance(image_id, str) else None
        if m is None or m["version"] is None:
            continue
        reason = revoked.get((m["gallery"].lower(), m["image"].lower(), m["version"].lower()))
        if reason is None:
            continue
        if role(r) == "build":
            own = _text(tags(r).get(VERSION_TAG))
            if own and any(k[2] == own.lower() for k in revoked):
                continue
            fix = (f"revoke version {own or '?'} too, or build it from another version "
                   "(builds[].from.version)")
        else:
            fix = "move the clone group to another version (clones[].version)"
        out.append((r.urn, f"{_describe(r)} boots gallery image version {m['version']}, "
                           f"which is revoked ({reason}): {fix}."))
    return out


# --- registry ------------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule(
        "no-readwrite-data-disk-caching",
        "advisory",
        "Data disks of build and clone VMs must not use ReadWrite host caching.",
        "resource",
        check_data_disk_caching,
    ),
    Rule(
        "clones-from-captured-image",
        "mandatory",
        "Clone VMs and scale sets must boot a captured gallery image version or managed image.",
        "resource",
        check_clone_image,
    ),
    Rule(
        "no-public-ip-on-clones",
        "mandatory",
        "No public IP addresses, nor public IPs on clone NICs or scale sets, unless allowed.",
        "resource",
        check_public_ip,
    ),
    Rule(
        "no-internet-ssh-rdp",
        "mandatory",
        "Network security rules must not allow SSH (22) or RDP (3389) in from the internet.",
        "resource",
        check_internet_ssh_rdp,
    ),
    Rule(
        "images-protected",
        "mandatory",
        "Galleries, image definitions, image versions and managed images must be protected.",
        "resource",
        check_images_protected,
    ),
    Rule(
        "min-replicas-where-clones-run",
        "advisory",
        "Gallery image versions need at least 2 replicas in every region where clones run.",
        "stack",
        check_min_replicas,
    ),
    Rule(
        "admin-password-secret",
        "mandatory",
        "A VM admin password must be a secret.",
        "resource",
        check_admin_password_secret,
    ),
    Rule(
        "linux-password-auth-off",
        "mandatory",
        "Linux VMs must disable password authentication.",
        "resource",
        check_linux_password_auth,
    ),
    Rule(
        "required-tags",
        "mandatory",
        "Resources that take tags carry every tag key the pack config requires "
        "(requiredTags; none by default).",
        "resource",
        check_required_tags,
    ),
    Rule(
        "license-type-on-windows",
        "advisory",
        "Windows VMs and scale sets name a licenseType (Azure Hybrid Benefit); advisory "
        "unless the pack config makes it mandatory.",
        "resource",
        check_license_type_on_windows,
    ),
    Rule(
        "trusted-launch-required",
        "advisory",
        "VMs and scale sets run Trusted Launch or as confidential VMs (secure boot and "
        "vTPM); advisory unless the pack config makes it mandatory.",
        "resource",
        check_trusted_launch_required,
    ),
    Rule(
        "build-vm-deallocated-after-capture",
        "advisory",
        "Every build VM must be generalized (and so deallocated) by a Generalize step.",
        "stack",
        check_build_vm_generalized,
    ),
    Rule(
        "no-revoked-versions",
        "mandatory",
        "Clone VMs and scale sets, and child builds, must not boot a revoked gallery "
        "image version (tagged vmimage-revoked).",
        "stack",
        check_no_revoked_versions,
    ),
)

RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES}

POLICIES: list[PolicyInfo] = [PolicyInfo(r.name, r.enforcement, r.description) for r in RULES]
"""``(name, enforcement, description)`` for every policy, for docs and the pack."""


def run_resource_rule(rule: Rule, resource: ResourceView, options: Options) -> list[str]:
    assert rule.scope == "resource"
    return rule.check(resource, options)  # type: ignore[arg-type,return-value]


def run_stack_rule(
    rule: Rule, resources: Sequence[ResourceView], options: Options
) -> list[tuple[str, str]]:
    assert rule.scope == "stack"
    return rule.check(resources, options)  # type: ignore[arg-type,return-value]


def evaluate(
    resources: Sequence[ResourceView], *, allow_public_ip: bool = False,
    required_tags: Sequence[str] = (), levels: Mapping[str, Enforcement] | None = None,
) -> list[Violation]:
    """Apply every rule to ``resources``; violations sorted by policy, then urn. `levels`:
    a policy's enforcement as the pack config sets it (``{"<policy>": "mandatory"}``, as
    ``pulumi preview --policy-pack-config`` takes it), else the rule's own."""
    options = Options(allow_public_ip=allow_public_ip, required_tags=tuple(required_tags))
    levels = levels or {}
    found: list[Violation] = []
    for rule in RULES:
        enforcement = levels.get(rule.name, rule.enforcement)
        pairs: Iterable[tuple[str, str]]
        if rule.scope == "resource":
            pairs = ((r.urn, m) for r in resources for m in run_resource_rule(rule, r, options))
        else:
            pairs = run_stack_rule(rule, resources, options)
        found.extend(Violation(rule.name, enforcement, urn, msg) for urn, msg in pairs)
    # sorted() is stable: messages for one resource keep their discovery order.
    return sorted(found, key=lambda v: (v.policy, v.urn))
