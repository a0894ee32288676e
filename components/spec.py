"""The pipeline spec: the only code that knows the shape of `vmimage:pipeline`.

YAML -> `load_spec` -> an immutable `PipelineSpec`, or a `SpecError` listing every problem
as `<key path>: <what is wrong>`. Validation runs in two passes: pydantic checks shape,
types, ranges and enums; `semantic_problems` then checks what spans keys (references,
uniqueness, Azure naming, region coverage). Both are pure, so tests call them directly.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from components import naming
from components.sizing import (
    MAX_REPLICAS_PER_REGION,
    VMS_PER_REPLICA,
    azure_guidance,
    recommended_replicas,
)
from components.templates import TemplateProblem, render

MAX_VMS_PER_GROUP = 100  # individual VMs; larger fleets belong in a scale set
# Azure: 1,000 VMs per scale set from a platform or Compute Gallery image (600 from a
# managed image, which kind: scaleSet does not use).
MAX_SCALE_SET_INSTANCES = 1000
RESERVED_ADMIN_NAMES = frozenset(
    "administrator admin user user1 test user2 test1 user3 admin1 1 123 a actuser adm "
    "admin2 aspnet backup console david guest john owner root server sql support "
    "support_388945a0 sys test2 test3 user4 user5".split()
)
SSH_KEY_RE = re.compile(
    r"(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( .*)?"
)


class SpecError(Exception):
    """Every problem found in the config, one `<key path>: <what is wrong>` per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(dict.fromkeys(problems))  # each problem once, in order
        super().__init__("\n".join(self.problems))


class _Model(BaseModel):
    # camelCase in YAML, snake_case in Python; unknown keys are errors (typos must not
    # be silently ignored); frozen so no component can change the spec under another.
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_silent_coercion(cls, value: Any, info: ValidationInfo) -> Any:
        # Pydantic's lax mode reads `count: true` as 1 and `publicIp: "no"` as False; a
        # config that says something else than it means must fail, not be reinterpreted.
        field_info = cls.model_fields.get(info.field_name or "")
        if field_info is None:
            return value
        accepted = _scalar_types(field_info.annotation)
        if isinstance(value, bool) and bool not in accepted and int in accepted:
            raise ValueError(f"expected a whole number, got the boolean {str(value).lower()}")
        if isinstance(value, str) and bool in accepted and str not in accepted:
            raise ValueError(f"expected true or false, got the string {value!r}")
        if ipaddress.IPv4Network in accepted and isinstance(value, int | float):
            # pydantic would read 5 as the network 0.0.0.5/32
            raise ValueError(f"expected an IPv4 CIDR such as 10.0.0.0/16, got {_kind(value)}")
        return value


def _scalar_types(annotation: Any) -> set[Any]:
    """The scalar types a field annotation accepts (through Optional and Annotated)."""
    if annotation in (int, bool, str, ipaddress.IPv4Network):
        return {annotation}
    found: set[Any] = set()
    if get_origin(annotation) in (Union, UnionType, Annotated):
        for arg in get_args(annotation):
            found |= _scalar_types(arg)
    return found


def _replicas(value: Any) -> Any:
    # 'auto' is kept as None so the field is a plain optional int (one clean error).
    return None if value == "auto" else value


Replicas = Annotated[
    Annotated[int, Field(ge=1, le=MAX_REPLICAS_PER_REGION)] | None, BeforeValidator(_replicas)
]
Caching = Literal["None", "ReadOnly", "ReadWrite"]
DiskSku = Literal[
    "Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "PremiumV2_LRS", "UltraSSD_LRS",
    "StandardSSD_ZRS", "Premium_ZRS",
]


class InboundRule(_Model):
    """One explicit NSG allow rule; everything else inbound is denied."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][\w.-]{0,79}$", description="NSG rule name, unique in the NSG"
    )
    port: Annotated[str, BeforeValidator(str)] = Field(
        pattern=r"^\d{1,5}(-\d{1,5})?$",
        description="destination port or range, e.g. 443 or 8000-8080",
    )
    source: str = Field(min_length=1, description="CIDR or service tag, e.g. VirtualNetwork")
    protocol: Literal["Tcp", "Udp", "*"] = Field("Tcp", description="IP protocol; * for any")


class NetworkSpec(_Model):
    address_space: ipaddress.IPv4Network = Field(description="VNet address space (IPv4 CIDR)")
    subnet_prefix: ipaddress.IPv4Network = Field(
        description="the subnet of build VM and clones; inside addressSpace, /29 or larger"
    )
    allow_inbound: tuple[InboundRule, ...] = Field(
        (), description="explicit inbound allow rules; all other inbound traffic is denied"
    )
    public_ip: bool = Field(False, description="give clones public IPs (off by default)")


class AdminSpec(_Model):
    username: str = Field(
        min_length=1, max_length=64,
        description="admin user of build VM and clones; not one Azure reserves; "
        "Windows: at most 20 characters",
    )
    ssh_public_key: str | None = Field(
        None,
        description="OpenSSH public key (required for Linux; password authentication stays off)",
    )


class GalleryImageSpec(_Model):
    name: str = Field(description="image definition name in the gallery")
    os: Literal["linux", "windows"] = Field(
        description="OS of the image: picks waagent deprovision or sysprep"
    )
    generation: Literal["V1", "V2"] = Field(
        "V2", description="Hyper-V generation; Trusted Launch needs V2"
    )
    publisher: str = Field(
        min_length=1, max_length=128, description="image definition identifier: publisher"
    )
    offer: str = Field(
        min_length=1, max_length=64, description="image definition identifier: offer"
    )
    sku: str = Field(min_length=1, max_length=64, description="image definition identifier: SKU")
    description: str | None = Field(None, description="free text shown in the portal")


class GallerySpec(_Model):
    name: str = Field(description="Azure Compute Gallery name (letters, digits, '.', '_')")
    image: GalleryImageSpec = Field(description="the image definition every build is a version of")


class ManagedImageSpec(_Model):
    name: str = Field(description="managed image name prefix; the version is appended")


class MarketplaceRef(_Model):
    publisher: str = Field(min_length=1, description="marketplace image publisher, e.g. Canonical")
    offer: str = Field(min_length=1, description="marketplace image offer, e.g. ubuntu-24_04-lts")
    sku: str = Field(min_length=1, description="marketplace image SKU, e.g. server")
    version: str = Field("latest", description="marketplace image version, or latest")


class BuildSource(_Model):
    """Exactly one of: a marketplace image, or an earlier version of this gallery image."""

    marketplace: MarketplaceRef | None = Field(None, description="start from a marketplace image")
    version: str | None = Field(
        None, description="start from an older version built here (capture: gallery or both)"
    )


class DataDiskSpec(_Model):
    lun: int = Field(
        ge=0, le=63, description="logical unit number, unique per VM; kept in the image"
    )
    size_gb: int = Field(ge=1, le=32767, description="disk size in GiB")
    caching: Caching = Field(
        "None", description="host caching; ReadWrite loses unflushed writes if the host fails"
    )
    sku: DiskSku = Field(
        "StandardSSD_LRS",
        description="managed disk SKU; PremiumV2_LRS and UltraSSD_LRS cannot be captured",
    )


class CustomizeStep(_Model):
    template: str = Field(
        min_length=1,
        description="Jinja2 template under templates/, e.g. linux/install-packages.sh.j2",
    )
    vars: dict[str, Any] = Field(default_factory=dict, description="variables the template needs")
    timeout_seconds: int = Field(1800, ge=60, le=5400, description="run command timeout in seconds")


class RegionSpec(_Model):
    name: str = Field(description="Azure region to replicate the version to")
    replicas: Replicas = Field(
        None,
        description="replicas in that region, or auto (the default): 1 per 20 VMs cloned "
        "there at once, at least 2 where clones run",
    )


class BuildSpec(_Model):
    version: str = Field(
        description="gallery image version Major.Minor.Patch; immutable once built"
    )
    from_: BuildSource = Field(
        alias="from", description="what the build VM boots: a marketplace image or an older version"
    )
    size: str = Field(
        pattern=r"^(Standard|Basic)_\w+$", description="build VM size, e.g. Standard_D2s_v5"
    )
    data_disks: tuple[DataDiskSpec, ...] = Field(
        (), description="managed data disks of the build VM; captured with their LUNs"
    )
    customize: tuple[CustomizeStep, ...] = Field(
        (), description="scripts run on the build VM, in order, before deprovision"
    )
    regions: tuple[RegionSpec, ...] = Field(
        (), description="target regions; the pipeline's location is always one"
    )
    storage_type: Literal["Standard_LRS", "Standard_ZRS", "Premium_LRS"] = Field(
        "Standard_LRS", description="storage of the version's replicas"
    )
    retired: bool = Field(
        False, description="delete the build VM; the captured version stays as it is"
    )
    exclude_from_latest: bool = Field(
        False, description="clones asking for latest skip this version"
    )
    end_of_life: date | None = Field(
        None, description="end-of-life date recorded on the version (YYYY-MM-DD)"
    )


class Rollout(_Model):
    batch_size: int | None = Field(
        None, ge=1,
        description="clones per batch; each batch waits for the one before (default: one batch)",
    )


class CloneSpec(_Model):
    name: str = Field(description="clone group name; part of every clone VM's name")
    count: int = Field(  # upper limits depend on kind: see _clone_problems
        ge=0, description="how many clones: at most 100 VMs, or 1000 scale set instances"
    )
    version: str = Field("latest", description="image version to clone: one built here, or latest")
    size: str = Field(
        pattern=r"^(Standard|Basic)_\w+$", description="clone VM size, e.g. Standard_B2s"
    )
    kind: Literal["vm", "scaleSet"] = Field(
        "vm", description="individual VMs, or one Flexible scale set (gallery only)"
    )
    region: str | None = Field(
        None, description="region of the clones, a target region of the version (default: location)"
    )
    zones: tuple[Literal["1", "2", "3"], ...] = Field(
        (), description="availability zones the clones spread over, round-robin"
    )
    rollout: Rollout = Field(Rollout(), description="how clones roll out")


class SecuritySpec(_Model):
    trusted_launch: bool | None = Field(
        None, description="secure boot + vTPM; default on for Gen2 gallery images"
    )
    encryption_at_host: bool = Field(False, description="encrypt temp disks and caches at the host")
    boot_diagnostics: bool = Field(
        True, description="managed boot diagnostics (serial log, screenshot)"
    )


class PipelineSpec(_Model):
    resource_group: str = Field(description="resource group for everything the pipeline creates")
    location: str = Field(description="Azure region; defaults to azure-native:location")
    network: NetworkSpec = Field(description="the network of build VM and clones")
    admin: AdminSpec = Field(description="who logs in to build VM and clones")
    capture: Literal["gallery", "managedImage", "both"] = Field(
        "gallery", description="capture into a gallery image version, a managed image, or both"
    )
    gallery: GallerySpec | None = Field(
        None, description="the Azure Compute Gallery (capture: gallery or both)"
    )
    managed_image: ManagedImageSpec | None = Field(
        None, description="the managed image (capture: managedImage or both)"
    )
    builds: tuple[BuildSpec, ...] = Field(
        min_length=1, description="the image versions to build, each once"
    )
    clones: tuple[CloneSpec, ...] = Field(
        (), description="groups of VMs cloned from the built versions"
    )
    security: SecuritySpec = Field(
        SecuritySpec(), description="security settings of build VM and clones"
    )
    protect_images: bool = Field(
        True, description="protect galleries, definitions and versions from deletion"
    )

    # -- derived facts, so components never re-derive them differently ----------------
    @property
    def os(self) -> str:
        return self.gallery.image.os if self.gallery else "linux"

    @property
    def windows(self) -> bool:
        return self.os == "windows"

    @property
    def image_name(self) -> str:
        if self.gallery:
            return self.gallery.image.name
        # Without either, validation reports the missing name; 'image' keeps it going.
        return self.managed_image.name if self.managed_image else "image"

    @property
    def uses_gallery(self) -> bool:
        return self.capture in ("gallery", "both")

    @property
    def uses_managed_image(self) -> bool:
        return self.capture in ("managedImage", "both")

    @property
    def trusted_launch(self) -> bool:
        if self.security.trusted_launch is not None:
            return self.security.trusted_launch
        # Managed images support no Trusted Launch; Gen1 images cannot boot it.
        return (
            self.uses_gallery
            and not self.uses_managed_image
            and self.gallery is not None
            and self.gallery.image.generation == "V2"
        )

    def build(self, version: str) -> BuildSpec:
        return next(b for b in self.builds if b.version == version)

    def regions_of(self, build: BuildSpec) -> tuple[RegionSpec, ...]:
        """Target regions; the source region is always one (Azure requires it), added
        with replicas 'auto' when the config leaves it out."""
        if all(r.name != self.location for r in build.regions):
            return (RegionSpec(name=self.location), *build.regions)
        return build.regions

    def clone_region(self, clone: CloneSpec) -> str:
        return clone.region or self.location

    def resolve_version(self, wanted: str) -> str | None:
        """'latest' is the newest version not excluded from latest; pinned is itself."""
        if wanted != "latest":
            return wanted if any(b.version == wanted for b in self.builds) else None
        candidates = [
            b.version for b in self.builds
            if not b.exclude_from_latest and naming.parse_version(b.version) is not None
        ]
        return max(candidates, key=naming.parse_version, default=None)

    def replicas_for(self, build: BuildSpec, region: RegionSpec) -> int:
        """Explicit replicas, or 'auto' (components/sizing.py)."""
        if region.replicas is not None:
            return region.replicas
        return recommended_replicas(self.vms_created_from(build.version, region.name))

    def vms_created_from(self, version: str, region: str) -> int:
        return sum(
            c.count
            for c in self.clones
            if self.resolve_version(c.version) == version and self.clone_region(c) == region
        )


auto_replicas = recommended_replicas  # the name the spec's `replicas: auto` goes by


@dataclass(frozen=True)
class Loaded:
    spec: PipelineSpec
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Loading


def load_spec(raw: Any, *, location: str | None = None) -> Loaded:
    """Validate raw config (the `vmimage:pipeline` object) into a spec, or raise SpecError
    with all problems. `location` is `azure-native:location`, the default region."""
    if raw is None or raw == {}:
        raise SpecError(["vmimage:pipeline: missing; see README 'Config reference'"])
    if not isinstance(raw, dict):
        raise SpecError([f"vmimage:pipeline: expected a mapping, got {_kind(raw)}"])
    data = dict(raw)
    data.setdefault("location", location)
    problems = list(_pre_checks(data))
    if data.get("location") is None:
        problems.append(
            "location: not set; set azure-native:location (or vmimage:pipeline.location)"
        )
        data["location"] = "unset"
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        # Shape errors stop the cross-key rules, but the rules of single values (names,
        # regions, version numbers) still run on the raw data: every problem at once.
        raise SpecError(
            problems + list(_pydantic_problems(exc)) + _raw_value_problems(data)
        ) from None
    problems += semantic_problems(spec)
    if problems:
        raise SpecError(problems)
    return Loaded(spec, warnings(spec))


def _pre_checks(data: dict[str, Any]) -> Iterator[str]:
    admin = data.get("admin")
    if isinstance(admin, dict) and ("password" in admin or "adminPassword" in admin):
        # Reported once, here: without the key, pydantic adds no second 'unknown key' line.
        data["admin"] = {k: v for k, v in admin.items() if k not in ("password", "adminPassword")}
        yield (
            "admin.password: passwords never go in plain config; run "
            "`pulumi config set --secret vmimage:adminPassword` (or leave it out and "
            "one is generated)"
        )


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing",
            bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def key_path(loc: Iterable[str | int]) -> str:
    """('builds', 0, 'dataDisks', 1, 'lun') -> 'builds[0].dataDisks[1].lun'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "vmimage:pipeline"


def _pydantic_problems(exc: ValidationError) -> Iterator[str]:
    errors = exc.errors()
    failed_items = {e["loc"][0] for e in errors if len(e["loc"]) > 2}
    for err in errors:
        # A list whose items failed is not also 'too short'.
        if err["type"] == "too_short" and err["loc"][0] in failed_items:
            continue
        kind = err["type"]
        # Drop pydantic's internal union/validator segments from the path; the last
        # segment of an unknown key is the user's key, whatever characters it holds.
        *inner, last = err["loc"] or ("",)
        loc = [p for p in inner if not _is_pydantic_tag(p)]
        if kind == "extra_forbidden" or not _is_pydantic_tag(last):
            loc.append(last)
        path = key_path(loc)
        if kind == "extra_forbidden":
            yield f"{path}: unknown key{_did_you_mean(loc)}"
        elif kind == "missing":
            yield f"{path}: required"
        elif kind == "literal_error":
            yield f"{path}: must be one of {err['ctx']['expected']} (got {err['input']!r})"
        else:
            yield f"{path}: {_message(err)}"


_NOISE = {"function-before", "function-after", "constrained-int"}
_TAG = re.compile(r"[a-z][a-z0-9_-]*\[.*\]")  # e.g. function-before[_replicas(), ...]


def _is_pydantic_tag(part: str | int) -> bool:
    return isinstance(part, str) and (part in _NOISE or bool(_TAG.fullmatch(part)))


def _message(err: Any) -> str:
    msg, kind, value = err["msg"], err["type"], err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        return f"{value!r} does not match {ctx['pattern']}"
    if kind in ("ip_v4_network", "ip_any_network"):
        if not isinstance(value, str):
            return f"expected an IPv4 CIDR such as 10.0.0.0/16, got {_kind(value)}"
        try:
            network = ipaddress.ip_interface(value).network
        except ValueError:
            return f"{value!r} is not an IPv4 CIDR (e.g. 10.0.0.0/16)"
        return f"{value!r} has host bits set; did you mean {str(network)!r}?"
    # Say it in YAML's words (list, mapping), not Python's (tuple, instance of NetworkSpec).
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {_kind(value)}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping, got {_kind(value)}"
    if kind == "string_type":
        hint = "; quote it in YAML" if isinstance(value, int | float) else ""
        return f"expected a string, got {_kind(value)} {value!r}{hint}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {value!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {value!r}"
    if kind.startswith(("date_", "datetime_")):
        return f"expected a date YYYY-MM-DD, got {value!r}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {"greater_than_equal": "at least", "greater_than": "more than",
                 "less_than_equal": "at most", "less_than": "less than"}[kind]
        bound = next(iter(ctx.values()))
        return f"must be {words} {bound} (got {value!r})"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length', 1)} item(s)"
    if kind == "value_error":
        msg = str(ctx.get("error") or msg.removeprefix("Value error, "))
    return msg[0].lower() + msg[1:] if msg else msg


def _did_you_mean(loc: Sequence[str | int]) -> str:
    if not loc:
        return ""
    fields = _field_names_at(PipelineSpec, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; expected one of {sorted(fields)}"


def _field_names_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The YAML keys allowed at a path, found by walking the models' annotations."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        if part not in fields:
            return []
        current = _model_in(fields[part].annotation)
        if current is None:
            return []
    return [f.alias or n for n, f in current.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, tuple, list) or get_args(annotation):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found:
                return found
    return None


# ---------------------------------------------------------------------------------------
# Rules that span keys


def semantic_problems(spec: PipelineSpec) -> list[str]:
    problems: list[str] = []
    problems += _naming_problems(spec)
    problems += _network_problems(spec)
    problems += _admin_problems(spec)
    problems += _capture_problems(spec)
    problems += _build_problems(spec)
    problems += _clone_problems(spec)
    return problems


def _naming_problems(spec: PipelineSpec) -> list[str]:
    found = [f"resourceGroup: {p}" for p in naming.RESOURCE_GROUP.problems(spec.resource_group)]
    if spec.location not in naming.AZURE_REGIONS and spec.location != "unset":
        found.append(f"location: {_region_problem(spec.location)}")
    if spec.gallery:
        found += [f"gallery.name: {p}" for p in naming.GALLERY.problems(spec.gallery.name)]
        found += [
            f"gallery.image.name: {p}"
            for p in naming.GALLERY_IMAGE.problems(spec.gallery.image.name)
        ]
    if spec.managed_image:
        found += [
            f"managedImage.name: {p}"
            for p in naming.MANAGED_IMAGE.problems(spec.managed_image.name)
        ]
    return found


def _raw_value_problems(data: dict[str, Any]) -> list[str]:
    """The single-value rules of `semantic_problems`, on raw data that failed the shape
    check: only values that are of the right type are judged (the rest is reported)."""

    def at(node: Any, *keys: str | int) -> Any:
        for key in keys:
            if isinstance(key, int):
                node = node[key] if isinstance(node, list) and key < len(node) else None
            else:
                node = node.get(key) if isinstance(node, dict) else None
        return node

    found: list[str] = []
    rules: list[tuple[str, naming.NameRule, Any]] = [
        ("resourceGroup", naming.RESOURCE_GROUP, at(data, "resourceGroup")),
        ("gallery.name", naming.GALLERY, at(data, "gallery", "name")),
        ("gallery.image.name", naming.GALLERY_IMAGE, at(data, "gallery", "image", "name")),
        ("managedImage.name", naming.MANAGED_IMAGE, at(data, "managedImage", "name")),
    ]
    clones = at(data, "clones")
    for i in range(len(clones) if isinstance(clones, list) else 0):
        rules.append((f"clones[{i}].name", naming.CLONE_GROUP, at(clones, i, "name")))
    for path, rule, value in rules:
        if isinstance(value, str):
            found += [f"{path}: {p}" for p in rule.problems(value.strip())]
    location = at(data, "location")
    if isinstance(location, str) and location != "unset" and location not in naming.AZURE_REGIONS:
        found.append(f"location: {_region_problem(location)}")
    builds = at(data, "builds")
    for i in range(len(builds) if isinstance(builds, list) else 0):
        version = at(builds, i, "version")
        if isinstance(version, str) and naming.parse_version(version.strip()) is None:
            found.append(
                f"builds[{i}].version: {version!r} is not Major.Minor.Patch "
                "(32-bit integers, no leading zeros)"
            )
        regions = at(builds, i, "regions")
        for j in range(len(regions) if isinstance(regions, list) else 0):
            name = at(regions, j, "name")
            if isinstance(name, str) and name not in naming.AZURE_REGIONS:
                found.append(f"builds[{i}].regions[{j}].name: {_region_problem(name)}")
    return found


def _region_problem(region: str) -> str:
    close = difflib.get_close_matches(region, sorted(naming.AZURE_REGIONS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown Azure region {region!r}{hint}"


def _network_problems(spec: PipelineSpec) -> list[str]:
    net = spec.network
    found = []
    if not net.subnet_prefix.subnet_of(net.address_space):
        found.append(
            f"network.subnetPrefix: {net.subnet_prefix} is not inside "
            f"network.addressSpace {net.address_space}"
        )
    if net.subnet_prefix.prefixlen > 29:
        found.append("network.subnetPrefix: Azure subnets must be /29 or larger")
    for i, rule in enumerate(net.allow_inbound):
        low, _, high = rule.port.partition("-")
        if not 1 <= int(low) <= int(high or low) <= 65535:
            found.append(f"network.allowInbound[{i}].port: {rule.port!r} is not 1-65535")
        if rule.source in ("*", "0.0.0.0/0", "Internet", "Any") and int(low) <= 3389 and (
            int(high or low) >= 22
        ) and _opens_admin_port(rule.port):
            found.append(
                f"network.allowInbound[{i}]: opens SSH/RDP to the internet; use a source "
                "CIDR you control, Azure Bastion, or just-in-time access"
            )
    return found


def _opens_admin_port(port: str) -> bool:
    low, _, high = port.partition("-")
    return any(int(low) <= p <= int(high or low) for p in (22, 3389))


def _admin_problems(spec: PipelineSpec) -> list[str]:
    found = []
    user = spec.admin.username
    if user.lower() in RESERVED_ADMIN_NAMES:
        found.append(f"admin.username: {user!r} is reserved by Azure; choose another")
    limit = 20 if spec.windows else 64
    if len(user) > limit:
        found.append(f"admin.username: at most {limit} characters on {spec.os}")
    if not re.fullmatch(r"[A-Za-z_][\w.-]*", user) or user.endswith("."):
        found.append(
            f"admin.username: {user!r} may hold letters, digits, '_', '-', '.' "
            "and must not start with a digit or end with '.'"
        )
    key = spec.admin.ssh_public_key
    if spec.os == "linux" and not key:
        found.append(
            "admin.sshPublicKey: required for Linux (password authentication is off)"
        )
    if key and not SSH_KEY_RE.fullmatch(key):
        found.append(
            "admin.sshPublicKey: not an OpenSSH public key "
            "('ssh-ed25519 AAAA... comment' or 'ssh-rsa AAAA...')"
        )
    return found


def _capture_problems(spec: PipelineSpec) -> list[str]:
    found = []
    if spec.uses_gallery and spec.gallery is None:
        found.append(f"gallery: required when capture is {spec.capture!r}")
    if spec.capture == "managedImage" and spec.gallery is None and spec.managed_image is None:
        found.append("managedImage.name: required when capture is 'managedImage' "
                     "and there is no gallery")
    tl = spec.security.trusted_launch
    if tl and spec.uses_managed_image:
        found.append(
            "security.trustedLaunch: managed images do not support Trusted Launch; "
            "use capture: gallery or turn trustedLaunch off"
        )
    if tl and spec.gallery and spec.gallery.image.generation == "V1":
        found.append("security.trustedLaunch: needs a generation V2 image")
    return found


def _build_problems(spec: PipelineSpec) -> list[str]:
    found: list[str] = []
    versions: dict[str, int] = {}
    for i, build in enumerate(spec.builds):
        at = f"builds[{i}]"
        if naming.parse_version(build.version) is None:
            found.append(
                f"{at}.version: {build.version!r} is not Major.Minor.Patch "
                "(32-bit integers, no leading zeros)"
            )
        elif build.version in versions:
            found.append(
                f"{at}.version: {build.version} is already built by "
                f"builds[{versions[build.version]}]; gallery versions are immutable, "
                "give the new build a new version number"
            )
        else:
            versions[build.version] = i
        found += _source_problems(spec, build, at)
        luns: set[int] = set()
        for j, disk in enumerate(build.data_disks):
            if disk.lun in luns:
                found.append(f"{at}.dataDisks[{j}].lun: LUN {disk.lun} is used twice")
            luns.add(disk.lun)
            if disk.sku in ("UltraSSD_LRS", "PremiumV2_LRS"):
                found.append(
                    f"{at}.dataDisks[{j}].sku: {disk.sku} disks cannot be captured into "
                    "an image; use Premium_LRS or StandardSSD_LRS"
                )
        found += _template_problems(spec, build, at)
        seen_regions: set[str] = set()
        for j, region in enumerate(build.regions):
            if region.name in seen_regions:
                found.append(f"{at}.regions[{j}].name: {region.name} is listed twice")
            seen_regions.add(region.name)
            if region.name not in naming.AZURE_REGIONS:
                found.append(f"{at}.regions[{j}].name: {_region_problem(region.name)}")
        if build.regions and spec.capture == "managedImage":
            found.append(
                f"{at}.regions: managed images live in one region; target regions "
                "need capture: gallery or both"
            )
        vm_name = naming.build_vm_name(spec.image_name, build.version)
        found += [f"{at}.version: {p}" for p in naming.VIRTUAL_MACHINE.problems(vm_name)]
    return found


def _source_problems(spec: PipelineSpec, build: BuildSpec, at: str) -> list[str]:
    src = build.from_
    if (src.marketplace is None) == (src.version is None):
        return [f"{at}.from: give exactly one of 'marketplace' or 'version'"]
    if src.version is None:
        return []
    parent = next((b for b in spec.builds if b.version == src.version), None)
    if parent is None:
        known = ", ".join(b.version for b in spec.builds if b is not build) or "none"
        return [f"{at}.from.version: {src.version} is not built here (versions: {known})"]
    mine, theirs = naming.parse_version(build.version), naming.parse_version(parent.version)
    if mine is not None and theirs is not None and theirs >= mine:
        return [
            f"{at}.from.version: parent {parent.version} must be older than "
            f"{build.version} (a version is built on an earlier one; no cycles)"
        ]
    if not spec.uses_gallery:
        return [
            f"{at}.from.version: building on a parent version needs capture: gallery or "
            "both (a parent captured as managed image only cannot be a gallery source)"
        ]
    return []


def _template_problems(spec: PipelineSpec, build: BuildSpec, at: str) -> list[str]:
    found = []
    for j, step in enumerate(build.customize):
        expected_dir = "windows/" if spec.windows else "linux/"
        if not step.template.startswith(expected_dir):
            found.append(
                f"{at}.customize[{j}].template: {spec.os} builds use templates under "
                f"templates/{expected_dir}"
            )
            continue
        try:
            render(step.template, step.vars, os=spec.os, vm_name="validation")
        except TemplateProblem as exc:
            found.append(f"{at}.customize[{j}]: {exc}")
    return found


def _clone_problems(spec: PipelineSpec) -> list[str]:
    found: list[str] = []
    names: dict[str, int] = {}
    for i, clone in enumerate(spec.clones):
        at = f"clones[{i}]"
        found += [f"{at}.name: {p}" for p in naming.CLONE_GROUP.problems(clone.name)]
        if clone.name in names:
            first = names[clone.name]
            found.append(f"{at}.name: {clone.name!r} is already used by clones[{first}]")
        names.setdefault(clone.name, i)
        version = spec.resolve_version(clone.version)
        if version is None:
            if clone.version == "latest":
                # An invalid build version is reported on its own line already.
                if all(naming.parse_version(b.version) for b in spec.builds):
                    found.append(f"{at}.version: 'latest' but every build is excludeFromLatest")
            elif naming.parse_version(clone.version) is None:
                found.append(
                    f"{at}.version: {clone.version!r} is not 'latest' or Major.Minor.Patch"
                )
            else:
                known = ", ".join(b.version for b in spec.builds)
                found.append(f"{at}.version: {clone.version} is not built here (versions: {known})")
            continue
        region = spec.clone_region(clone)
        if clone.region and clone.region not in naming.AZURE_REGIONS:
            found.append(f"{at}.region: {_region_problem(clone.region)}")
            continue
        build = spec.build(version)
        if spec.uses_gallery:
            if all(r.name != region for r in spec.regions_of(build)):
                found.append(
                    f"{at}.region: {region} is not a target region of version {version}; "
                    f"add it to builds[{spec.builds.index(build)}].regions"
                )
        elif region != spec.location:
            found.append(f"{at}.region: a managed image can only clone in {spec.location}")
        if clone.kind == "vm" and clone.count > MAX_VMS_PER_GROUP:
            found.append(
                f"{at}.count: {clone.count} individual VMs is too many for one group "
                f"(at most {MAX_VMS_PER_GROUP}); use kind: scaleSet"
            )
        if clone.kind == "scaleSet" and clone.count > MAX_SCALE_SET_INSTANCES:
            found.append(
                f"{at}.count: {clone.count} instances is over Azure's limit of "
                f"{MAX_SCALE_SET_INSTANCES} per scale set (Flexible, from a gallery image); "
                "split the fleet into several clone groups"
            )
        if clone.kind == "scaleSet" and not spec.uses_gallery:
            found.append(f"{at}.kind: scale sets clone from a gallery image; set capture: gallery")
        if clone.zones and clone.kind == "vm" and clone.count % len(clone.zones):
            found.append(f"{at}.zones: {clone.count} VMs do not spread evenly over "
                         f"{len(clone.zones)} zones")
        width = len(naming.clone_vm_name(clone.name, version, max(clone.count - 1, 0)))
        if width > naming.VM_NAME_MAX:
            found.append(f"{at}.name: clone VM names would exceed {naming.VM_NAME_MAX} characters")
    return found


def warnings(spec: PipelineSpec) -> list[str]:
    """Allowed, but worth a reviewer's attention."""
    found = []
    for i, build in enumerate(spec.builds):
        for j, disk in enumerate(build.data_disks):
            if disk.caching == "ReadWrite":
                found.append(
                    f"builds[{i}].dataDisks[{j}].caching: ReadWrite loses unflushed writes "
                    "if the host fails; prefer ReadOnly or None"
                )
        # Only explicit numbers can be too low; paths name the entry in the config.
        for j, region in enumerate(build.regions):
            vms = spec.vms_created_from(build.version, region.name)
            if region.replicas is not None and region.replicas < azure_guidance(vms):
                found.append(
                    f"builds[{i}].regions[{j}].replicas: {region.replicas} replica(s) for "
                    f"{vms} VMs in {region.name}; Azure advises {azure_guidance(vms)} "
                    f"(1 per {VMS_PER_REPLICA} VMs created at once) or 'auto'"
                )
    return found
