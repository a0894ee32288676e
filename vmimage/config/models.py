"""The pipeline spec's models: the only code that knows the shape of `vmimage:pipeline`.

Pydantic checks shape, types, ranges and enums here (its errors worded in
vmimage/config/errors.py); the rules that span keys live in vmimage/config/rules.py, and
vmimage/config/validate.py runs both. All pure, so tests call them directly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError

from vmimage.azure import arm_ids, naming
from vmimage.azure.arm_ids import ArmId
from vmimage.azure.sizing import MAX_REPLICAS_PER_REGION, recommended_replicas
from vmimage.config.base import SpecModel
from vmimage.config.bootstrap import BootstrapData
from vmimage.config.capture import BOTH, NAMES, VHD, CaptureName
from vmimage.config.steps import KINDS as STEP_KINDS
from vmimage.config.steps import CustomizeStep
from vmimage.config.values import (
    ContainerName,
    DiskEncryptionSetId,
    DriveLetter,
    Duration,
    FailurePolicy,
    GalleryImageId,
    IdentityId,
    ImageVersionId,
    Label,
    LicenseType,
    ManagedImageId,
    MountPathValue,
    Reason,
    RecipeName,
    SecurityEncryptionType,
    SecurityType,
    StorageAccountId,
    SubnetId,
    TagKey,
    TagValue,
    VhdUri,
    repeated,
)


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


class InboundRule(SpecModel):
    """One explicit NSG allow rule; everything else inbound is denied."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$",
        description="NSG rule name, unique in the NSG: letters, digits, '_', '.', '-'"
    )
    port: Annotated[str, BeforeValidator(str)] = Field(
        pattern=r"^[0-9]{1,5}(-[0-9]{1,5})?$",
        description="destination port or range, e.g. 443 or 8000-8080",
    )
    source: str = Field(min_length=1, description="CIDR or service tag, e.g. VirtualNetwork")
    protocol: Literal["Tcp", "Udp", "*"] = Field("Tcp", description="IP protocol; * for any")


class NetworkSpec(SpecModel):
    subnet_id: SubnetId | None = Field(
        None, description="an existing subnet (ARM id, any group or subscription) for build "
        "VMs and clones; then no VNet, subnet, NSG or egress is created"
    )
    address_space: ipaddress.IPv4Network | None = Field(
        None, description="VNet address space (IPv4 CIDR); required without subnetId")
    subnet_prefix: ipaddress.IPv4Network | None = Field(
        None, description="the subnet of build VM and clones; inside addressSpace, /29 or "
        "larger; required without subnetId"
    )
    allow_inbound: tuple[InboundRule, ...] = Field(
        (), description="explicit inbound allow rules; all other inbound traffic is denied"
    )
    egress: Literal["natGateway", "none"] = Field(
        "natGateway", description="outbound access of the subnet the program creates: a NAT "
        "gateway with a public IP, or none (a private subnet: air-gapped builds)"
    )
    public_ip: bool = Field(False, description="give clones public IPs (off by default)")

    @property
    def existing(self) -> bool:
        return self.subnet_id is not None


class AdminSpec(SpecModel):
    username: str = Field(
        min_length=1, max_length=64,
        description="admin user of build VM and clones; not one Azure reserves; "
        "Windows: at most 20 characters",
    )
    ssh_public_key: str | None = Field(
        None,
        description="OpenSSH public key (required for Linux; password authentication stays off)",
    )


def _image_identifier(value: str) -> str:
    problems = naming.IMAGE_IDENTIFIER.problems(value)
    if problems:
        raise ValueError(problems[0])
    return value


#: A publisher, offer or SKU: ASCII, and nothing that would change an ARM path.
ImageIdentifier = Annotated[str, AfterValidator(_image_identifier)]


#: `gallery.image` keys that describe the definition the stack creates: with
#: `gallery.imageId` the existing definition has them already, so they are refused
#: (vmimage/config/definition.py), by config key and field name.
CREATED_DEFINITION_KEYS = {"name": "name", "publisher": "publisher", "offer": "offer",
                           "sku": "sku", "description": "description"}


class GalleryImageSpec(SpecModel):
    name: str | None = Field(
        None, description="image definition name in the gallery (required unless "
        "gallery.imageId)")
    os: Literal["linux", "windows"] = Field(
        description="OS of the image: picks waagent deprovision or sysprep"
    )
    generation: Literal["V1", "V2"] = Field(
        "V2", description="Hyper-V generation; Trusted Launch needs V2"
    )
    publisher: ImageIdentifier | None = Field(
        None, min_length=1, max_length=128,
        description="image definition identifier: publisher (required unless gallery.imageId)"
    )
    offer: ImageIdentifier | None = Field(
        None, min_length=1, max_length=64,
        description="image definition identifier: offer (required unless gallery.imageId)"
    )
    sku: ImageIdentifier | None = Field(
        None, min_length=1, max_length=64,
        description="image definition identifier: SKU (required unless gallery.imageId)")
    description: str | None = Field(None, description="free text shown in the portal")
    disk_controller_types: tuple[Literal["SCSI", "NVMe"], ...] = Field(
        ("SCSI",), min_length=1,
        description="disk controllers the image boots with; NVMe-only sizes (v6 and later) "
        "need NVMe, and it cannot be added to an existing definition",
    )
    architecture: Literal["x64", "Arm64"] = Field(
        "x64", description="CPU architecture of the image; build and clone sizes must match "
        "(Arm64: sizes with a 'p', e.g. Standard_D2ps_v5); fixed once the definition exists")


class RetentionSpec(SpecModel):
    keep: int = Field(ge=1, description="how many of the newest versions (by version number, "
                      "among the builds) stay in latest; older ones are excluded from "
                      "latest, get an end-of-life date, lose their build VM, and may be "
                      "deleted by removing their build")
    end_of_life: Duration | None = Field(
        None, description="ISO 8601 days or weeks (P90D, P12W): an older version's "
        "end-of-life date is its publication date (Azure's publishedDate) plus this; "
        "informational, Azure deletes nothing at end of life")


class GallerySpec(SpecModel):
    name: str | None = Field(
        None, description="Azure Compute Gallery name (letters, digits, '.', '_'); required "
        "unless gallery.imageId")
    image_id: GalleryImageId | None = Field(
        None, description="publish into an existing image definition (any resource group "
        "or subscription the credentials can write to): it is read and checked before "
        "anything is registered, and never created, changed or deleted; gallery.name and "
        "gallery.image's name, publisher, offer, sku and description are then the "
        "definition's own and refused here")
    image: GalleryImageSpec = Field(
        description="the image definition every build is a version of (with imageId: what "
        "the builds are, checked against it)")
    retention: RetentionSpec | None = Field(
        None, description="keep the newest N versions in latest; retire the rest "
        "(vmimage/config/retention.py)")

    @property
    def existing(self) -> ArmId | None:
        """The existing definition versions are published into (parsed), if any."""
        return arm_ids.parse(self.image_id, "gallery image definition") \
            if self.image_id else None

    @property
    def gallery_name(self) -> str:
        existing = self.existing
        return existing.names[0] if existing else self.name or "gallery"

    @property
    def definition_name(self) -> str:
        existing = self.existing
        return existing.names[1] if existing else self.image.name or "image"


class ManagedImageSpec(SpecModel):
    name: str = Field(description="managed image name prefix; the version is appended")
    os: Literal["linux", "windows"] | None = Field(
        None, description="OS of the image; required without a gallery (picks waagent or "
        "sysprep, SSH key or password)")
    generation: Literal["V1", "V2"] = Field(
        "V2", description="Hyper-V generation, when there is no gallery image definition")


class PurchasePlan(SpecModel):
    name: ImageIdentifier = Field(min_length=1, description="plan name (often the SKU)")
    product: ImageIdentifier = Field(min_length=1, description="plan product (often the offer)")
    publisher: ImageIdentifier = Field(min_length=1, description="plan publisher")


class MarketplaceRef(SpecModel):
    publisher: ImageIdentifier = Field(
        min_length=1, description="marketplace image publisher, e.g. Canonical")
    offer: ImageIdentifier = Field(
        min_length=1, description="marketplace image offer, e.g. ubuntu-24_04-lts")
    sku: ImageIdentifier = Field(min_length=1, description="marketplace image SKU, e.g. server")
    version: str = Field("latest", description="marketplace image version, or latest")
    plan: PurchasePlan | None = Field(
        None, description="the purchase plan of an image that carries one (terms accepted "
        "with `az vm image terms accept`); set on the build VM, the image definition and "
        "every VM cloned from it")


class VhdDataDisk(SpecModel):
    lun: int = Field(ge=0, le=63, description="the data disk's LUN in the image")
    uri: VhdUri = Field(description="its VHD (a page blob, fixed format)")
    caching: Caching = Field("None", description="host caching of the disk on clones")
    sku: DiskSku = Field("StandardSSD_LRS", description="managed disk SKU on clones")


class VhdSource(SpecModel):
    uri: VhdUri = Field(description="the generalized OS disk: a fixed-format VHD page blob, "
                        "its size a whole number of MiB")
    storage_account_id: StorageAccountId = Field(
        description="the storage account holding the blobs (the one named in every uri)")
    data_disks: tuple[VhdDataDisk, ...] = Field((), description="data disk VHDs, by LUN")


#: A build's sources, by config key (in the order messages list them) and field name.
SOURCE_FIELDS = {"marketplace": "marketplace", "version": "version",
                 "imageVersionId": "image_version_id", "managedImageId": "managed_image_id",
                 "vhd": "vhd"}


class BuildSource(SpecModel):
    """Exactly one source."""

    marketplace: MarketplaceRef | None = Field(None, description="start from a marketplace image")
    version: str | None = Field(
        None, description="start from an older version built here (capture: gallery or both)"
    )
    image_version_id: ImageVersionId | None = Field(
        None, description="start from any gallery image version, by ARM id (another gallery "
        "or subscription)")
    managed_image_id: ManagedImageId | None = Field(
        None, description="start from a managed image, by ARM id")
    vhd: VhdSource | None = Field(
        None, description="a generalized VHD (e.g. made in Hyper-V and uploaded) becomes the "
        "version itself, with no build VM: no customize, size or dataDisks")

    @property
    def given(self) -> list[str]:
        """The config keys of the sources given (exactly one, once the spec is valid)."""
        return [key for key, field in SOURCE_FIELDS.items() if getattr(self, field) is not None]

    @property
    def image_id(self) -> str | None:
        """An image given by ARM id (another gallery's version, a managed image)."""
        return self.image_version_id or self.managed_image_id


class DiskFormat(SpecModel):
    fs: Literal["ext4", "xfs", "ntfs"] = Field(description="file system: ext4 or xfs (Linux), "
                                               "ntfs (Windows)")
    mount: MountPathValue | None = Field(
        None, description="Linux: where it is mounted (by UUID, nofail), e.g. /data; not "
        "at or under the system's trees (/etc, /usr, /boot, /var/lib/waagent, ...) nor "
        "Azure's temporary disk (/mnt)")
    letter: DriveLetter | None = Field(None, description="Windows: its drive letter, E to Z")
    label: Label = Field("", description="file system label (up to 16 letters, digits, _ "
                         "or -)")


class OsDiskSpec(SpecModel):
    size_gb: int | None = Field(
        None, ge=30, le=4095, description="OS disk size in GiB (default: the image's; "
        "marketplace Linux images are 30 GiB); a gallery image takes up to 2,048")
    sku: Literal["Premium_LRS", "StandardSSD_LRS", "Standard_LRS", "Premium_ZRS",
                 "StandardSSD_ZRS"] = Field("Premium_LRS", description="OS disk SKU")


class CloneOsDiskSpec(OsDiskSpec):
    ephemeral: bool = Field(
        False, description="an ephemeral OS disk on the VM's local storage: fast, free, and "
        "lost on deallocation or reimage (the size's cache or resource disk must hold it)")


class DataDiskSpec(SpecModel):
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
    format: DiskFormat | None = Field(
        None, description="partition, format and mount the disk in the build (by LUN), so "
        "every clone boots with it ready: {fs, mount | letter, label}")


class RegionSpec(SpecModel):
    name: str = Field(description="Azure region to replicate the version to")
    replicas: Replicas = Field(
        None,
        description="replicas in that region, or auto (the default): 1 per 20 VMs cloned "
        "there at once, at least 2 where clones run",
    )
    disk_encryption_set_id: DiskEncryptionSetId | None = Field(
        None, description="customer-managed keys for this region's replicas (OS and every "
        "data disk): a disk encryption set in that region")


class BuildSpec(SpecModel):
    version: str = Field(
        description="gallery image version Major.Minor.Patch; immutable once built"
    )
    recipe: RecipeName | None = Field(
        None, description="a recipe of `recipes:` this build inherits its keys from (size, "
        "customize, dataDisks, regions, ...); the build's own keys override the recipe's")
    from_: BuildSource = Field(
        alias="from", description="what the build VM boots: a marketplace image or an older version"
    )
    size: str | None = Field(
        None, pattern=r"^(Standard|Basic)_[A-Za-z0-9_-]+$", validate_default=True,
        description="build VM size, e.g. Standard_D2s_v5 (required but for a vhd source)"
    )
    os_disk: OsDiskSpec | None = Field(
        None, description="the build VM's OS disk: {sizeGb, sku}; the image keeps its size")
    data_disks: tuple[DataDiskSpec, ...] = Field(
        (), description="managed data disks of the build VM; captured with their LUNs"
    )
    customize: tuple[CustomizeStep, ...] = Field(
        (), description="steps run on the build VM, in order, before it is sealed: each "
        f"one of {', '.join(STEP_KINDS)} (vmimage/config/steps/)"
    )
    validate_steps: tuple[CustomizeStep, ...] = Field(
        (), alias="validate",
        description="steps run after capture on a short-lived VM booted from the new "
        "version (the same kinds as customize); clones, child builds and latest use the "
        "version only after they pass")
    regions: tuple[RegionSpec, ...] = Field(
        (), description="target regions; the pipeline's location is always one"
    )
    storage_type: Literal["Standard_LRS", "Standard_ZRS", "Premium_LRS"] = Field(
        "Standard_LRS", description="storage of the version's replicas"
    )
    identities: tuple[IdentityId, ...] = Field(
        (), description="user-assigned managed identities of the build VM (ARM ids): steps "
        "fetch from storage or Key Vault without secrets in config")
    @field_validator("identities", mode="after")
    @classmethod
    def _identities_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for later, first in repeated(value):
            raise ValueError(f"identities[{later}] is identities[{first}] again (ARM ids "
                             "compare case-insensitively)")
        return value
    spot: bool = Field(False, description="run the build VM as Spot (evicted to deallocate, no "
                       "price cap); an evicted VM is started again on the next run, which "
                       "runs the steps not done yet")
    on_failure: FailurePolicy = Field(
        "deallocate", description="when a customize step fails: deallocate the build VM "
        "(no compute billed, disks kept for a look; the next run starts it again), keep it "
        "running, or delete it (and its disks; the next run needs `pulumi up --refresh`)")
    replication_mode: Literal["Full", "Shallow"] = Field(
        "Full", description="Shallow: faster test builds, one replica in the source region "
        "only, not for production")
    retired: bool = Field(
        False, description="delete the build VM; the captured version stays as it is"
    )
    license_type: LicenseType | None = Field(
        None, description="Azure Hybrid Benefit on the build VM (and the validation VM): "
        "Windows_Server or Windows_Client for a Windows image, RHEL_BYOS or SLES_BYOS for "
        "a Linux one")

    @property
    def imported(self) -> bool:
        """Made from a VHD: a version with no build VM."""
        return self.from_.vhd is not None

    @field_validator("size", mode="after")
    @classmethod
    def _size_unless_imported(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Required like any key, but for a VHD, which has no build VM (a source that did
        # not validate is not judged: its own problem is reported).
        source = info.data.get("from_")
        if value is None and source is not None and source.vhd is None:
            raise PydanticCustomError("missing", "Field required")
        return value
    exclude_from_latest: bool = Field(
        False, description="clones asking for latest skip this version"
    )
    end_of_life: date | None = Field(
        None, description="end-of-life date recorded on the version (YYYY-MM-DD)"
    )
    revoked: Reason | None = Field(
        None, description="why this version must no longer be used (one line): it leaves "
        "latest, is tagged vmimage-revoked with the reason, and clones or child builds "
        "pinned to it are refused")

    @property
    def excluded_from_latest(self) -> bool:
        """Out of `latest`: excluded by config, or revoked."""
        return self.exclude_from_latest or self.revoked is not None


#: What a recipe may hold: how a build is made, never which version it is or what it
#: starts from (vmimage/config/recipes.py merges it into each build that names it).
RECIPE_FIELDS = ("size", "os_disk", "data_disks", "customize", "validate_steps", "regions",
                 "storage_type", "identities", "spot", "replication_mode")

_RECIPE_FIELDS: dict[str, Any] = {
    name: (BuildSpec.model_fields[name].annotation, BuildSpec.model_fields[name])
    for name in RECIPE_FIELDS}
RecipeSpec = create_model(  # the build's own fields, so a recipe cannot drift from them
    "RecipeSpec", __base__=SpecModel, __doc__="A named set of build keys.", **_RECIPE_FIELDS)


class HealthProbe(SpecModel):
    protocol: Literal["http", "https", "tcp"] = Field(
        description="how the Application Health extension asks the guest")
    port: int = Field(ge=1, le=65535, description="the port it asks on")
    path: str | None = Field(
        None, pattern=r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$",
        description="the request path (http and https only), e.g. /healthz")
    timeout_seconds: int = Field(
        900, ge=60, le=7200, description="how long a new clone may take to report healthy "
        "before the rollout stops")


class Rollout(SpecModel):
    batch_size: int | None = Field(
        None, ge=1,
        description="clones per batch; each batch waits for the one before (default: one batch)",
    )
    health: HealthProbe | None = Field(
        None, description="gate each batch on the Application Health extension: the next "
        "batch starts, and the old VMs of this one go, only once it reports healthy")
    pause_seconds: int = Field(
        0, ge=0, le=3600, description="wait this long after a healthy batch before the next")


class CloneSpec(SpecModel):
    name: str = Field(description="clone group name; part of every clone VM's name")
    count: int = Field(  # upper limits depend on kind: see _clone_problems
        ge=0, description="how many clones: at most 100 VMs, or 1000 scale set instances"
    )
    version: str = Field("latest", description="image version to clone: one built here, or latest")
    size: str = Field(
        pattern=r"^(Standard|Basic)_[A-Za-z0-9_-]+$",
        description="clone VM size, e.g. Standard_B2s"
    )
    kind: Literal["vm", "scaleSet"] = Field(
        "vm", description="individual VMs, or one Flexible scale set (gallery only); a scale "
        "set rolls onto new versions with rolling upgrades, which older subscriptions must "
        "enable first (Microsoft.Compute features VMSSFlexRollingUpgrade and "
        "ImageReferenceUpgradeForVmoVMs)"
    )
    region: str | None = Field(
        None, description="region of the clones, a target region of the version (default: location)"
    )
    zones: tuple[Literal["1", "2", "3"], ...] = Field(
        (), description="availability zones the clones spread over, round-robin"
    )
    rollout: Rollout = Field(Rollout(), description="how clones roll out")
    os_disk: CloneOsDiskSpec | None = Field(
        None, description="the clones' OS disk: {sizeGb, sku, ephemeral}")
    license_type: LicenseType | None = Field(
        None, description="Azure Hybrid Benefit on every VM (or scale set instance) of the "
        "group: Windows_Server or Windows_Client for a Windows image, RHEL_BYOS or "
        "SLES_BYOS for a Linux one")
    user_data: BootstrapData | None = Field(
        None, description="userData of every VM (or the scale set's VM profile): {file} or "
        "{inline} with vars; at most 64 KB as base64; a secret in state, a digest in the plan")
    custom_data: BootstrapData | None = Field(
        None, description="osProfile.customData (cloud-init, Windows custom data): {file} or "
        "{inline} with vars; at most 65,535 bytes; a secret in state, a digest in the plan")


class SecuritySpec(SpecModel):
    """The security type is the stack's, not a build's: every version is one of the one
    image definition, whose SecurityType feature is fixed once it exists, and every
    build VM, clone and scale set runs it."""

    type: SecurityType | None = Field(
        None, description="the VM security type of build VMs, clones and scale sets, and "
        "the image definition's SecurityType feature: Standard, TrustedLaunch (secure boot "
        "+ vTPM) or ConfidentialVM (a confidential size, e.g. Standard_DC2as_v5); default: "
        "TrustedLaunch for a Gen2 gallery image, else Standard")
    trusted_launch: bool | None = Field(
        None, description="the earlier spelling of type: true is TrustedLaunch, false "
        "Standard (give one of the two)"
    )
    encryption_type: SecurityEncryptionType | None = Field(
        None, description="ConfidentialVM only: the OS disk's securityEncryptionType, "
        "VMGuestStateOnly (the default: the VM guest state blob) or DiskWithVMGuestState "
        "(the OS disk too, confidential disk encryption)")
    secure_boot: bool = Field(
        True, description="TrustedLaunch and ConfidentialVM: UEFI secure boot (vTPM is "
        "always on; off only for kernels or drivers that are not signed)")
    encryption_at_host: bool = Field(False, description="encrypt temp disks and caches at the host")
    disk_encryption_set_id: DiskEncryptionSetId | None = Field(
        None, description="customer-managed keys for the OS and data disks of build VMs, "
        "clones and scale sets (a disk encryption set in the pipeline's region)")
    boot_diagnostics: bool = Field(
        True, description="managed boot diagnostics (serial log, screenshot)"
    )


class VhdExportSpec(SpecModel):
    storage_account_id: StorageAccountId = Field(
        description="the storage account the VHDs are copied into (ARM id; any group or "
        "subscription the credentials can write blobs to)")
    container: ContainerName = Field(
        description="its blob container (created when missing): 3-63 lowercase letters, "
        "digits and single hyphens")


class VhdCapture(SpecModel):
    """`{vhd: {...}}` in `capture:`: the generalized build VM's disks as page blobs."""

    vhd: VhdExportSpec = Field(
        description="copy the captured OS and data disks into a container as fixed-format "
        "VHD page blobs (<image>-<version>-osdisk.vhd, -lun<N>.vhd)")


def _capture_list(value: Any) -> Any:
    """`gallery`, `both` (every target of earlier releases), `{vhd: ...}` or a list, as a
    tuple."""
    if isinstance(value, list | tuple):
        return value
    if isinstance(value, dict):
        return (value,)
    if value == "both":
        return BOTH
    if not isinstance(value, str) or value not in NAMES:
        choices = ", ".join(repr(t) for t in NAMES)
        raise ValueError(f"must be one of {choices} or 'both', {{vhd: ...}}, or a list of "
                         f"them (got {value!r})")
    return (value,)


def _capture_kind(value: Any) -> str:
    return "capture:vhd" if isinstance(value, dict | VhdCapture) else "capture:name"


CaptureItem = Annotated[
    Annotated[CaptureName, Tag("capture:name")] | Annotated[VhdCapture, Tag("capture:vhd")],
    Discriminator(_capture_kind),
]
#: `{vhd: {...}}` as the schema shows it, inline (the capture's schema is written here).
_VHD_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["vhd"],
               "properties": {"vhd": VhdExportSpec.model_json_schema(by_alias=True)}}
Capture = Annotated[
    tuple[CaptureItem, ...], Field(min_length=1), BeforeValidator(_capture_list),
    WithJsonSchema({"anyOf": [
        {"enum": [*NAMES, "both"]},
        _VHD_SCHEMA,
        {"type": "array", "items": {"anyOf": [{"enum": list(NAMES)}, _VHD_SCHEMA]},
         "minItems": 1, "uniqueItems": True}],
        "default": "gallery"}),
]


class PipelineSpec(SpecModel):
    resource_group: str = Field(description="resource group for everything the pipeline creates")
    location: str = Field(description="Azure region; defaults to azure-native:location")
    network: NetworkSpec = Field(description="the network of build VM and clones")
    admin: AdminSpec = Field(description="who logs in to build VM and clones")
    capture: Capture = Field(
        ("gallery",), description="where each build is captured: gallery, managedImage, "
        "both, or a list of targets (vmimage/capture/); a list may add {vhd: "
        "{storageAccountId, container}}: the disks exported as VHD page blobs"
    )
    gallery: GallerySpec | None = Field(
        None, description="the Azure Compute Gallery (capture: gallery or both)"
    )
    managed_image: ManagedImageSpec | None = Field(
        None, description="the managed image (capture: managedImage or both)"
    )
    recipes: dict[RecipeName, RecipeSpec] = Field(
        default_factory=dict, description="named build keys (size, customize, dataDisks, "
        "regions, ...) that builds inherit with `recipe:`, so a monthly build is a version "
        "and a source")
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
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict, description="tags on every resource that takes tags, beside "
        "the program's own (vmimage-* keys are the program's)")

    # -- derived facts, so components never re-derive them differently ----------------
    @property
    def os(self) -> str:
        if self.gallery:
            return self.gallery.image.os
        # Without either, validation reports the missing OS, and the checks that depend
        # on it stay quiet rather than guess.
        return (self.managed_image.os if self.managed_image else None) or "unset"

    @property
    def generation(self) -> str:
        """Hyper-V generation of what is captured: the definition's, or the managed
        image's when there is no gallery."""
        if self.gallery:
            return self.gallery.image.generation
        return self.managed_image.generation if self.managed_image else "V2"

    @property
    def windows(self) -> bool:
        return self.os == "windows"

    @property
    def architecture(self) -> str:
        """x64 or Arm64: the definition's (a managed image is x64 here)."""
        return self.gallery.image.architecture if self.gallery else "x64"

    def root_of(self, version: str) -> BuildSpec:
        """The first build of a version's lineage: what it was made from at the start."""
        build = self.build(version)
        while build.from_.version is not None:
            build = self.build(build.from_.version)
        return build

    def purchase_plan(self, version: str) -> PurchasePlan | None:
        """The marketplace plan a version's VMs carry: its lineage's root's."""
        market = self.root_of(version).from_.marketplace
        return market.plan if market else None

    @property
    def definition_plan(self) -> PurchasePlan | None:
        """The image definition's purchase plan: the one plan of the pipeline's sources."""
        return next((b.from_.marketplace.plan for b in self.builds
                     if b.from_.marketplace and b.from_.marketplace.plan), None)

    @property
    def image_name(self) -> str:
        if self.gallery:
            return self.gallery.definition_name
        # Without either, validation reports the missing name; 'image' keeps it going.
        return self.managed_image.name if self.managed_image else "image"

    @property
    def capture_targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(VHD if isinstance(c, VhdCapture) else c
                                   for c in self.capture))

    @property
    def vhd_export(self) -> VhdExportSpec | None:
        """Where the build VMs' disks are exported as VHDs (`capture: [..., {vhd}]`)."""
        return next((c.vhd for c in self.capture if isinstance(c, VhdCapture)), None)

    @property
    def uses_gallery(self) -> bool:
        return "gallery" in self.capture

    @property
    def uses_managed_image(self) -> bool:
        return "managedImage" in self.capture

    def sized(self) -> list[tuple[str, str | None]]:
        """Each build's and clone group's VM size, by its key path."""
        return [(f"builds[{i}].size", b.size) for i, b in enumerate(self.builds)] + [
            (f"clones[{i}].size", c.size) for i, c in enumerate(self.clones)]

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
        """'latest' is the newest version neither excluded from latest nor revoked; pinned
        is itself."""
        if wanted != "latest":
            return wanted if any(b.version == wanted for b in self.builds) else None
        candidates = [
            b.version for b in self.builds
            if not b.excluded_from_latest and naming.parse_version(b.version) is not None
        ]
        return max(candidates, key=naming.version_key, default=None)

    def replicas_for(self, build: BuildSpec, region: RegionSpec,
                     kept: Mapping[str, int] | None = None) -> int:
        """Explicit replicas, or 'auto' (vmimage/azure/sizing.py); a shallow version has
        its one. `kept`: a captured version's replicas by region, which 'auto' keeps (it
        sizes a version when it is captured, not each time clones move)."""
        if region.replicas is not None:
            return region.replicas
        if build.replication_mode == "Shallow":
            return 1
        if kept and region.name.lower() in kept:
            return kept[region.name.lower()]
        return recommended_replicas(self.vms_created_from(build.version, region.name))

    def vms_created_from(self, version: str, region: str) -> int:
        return sum(
            c.count
            for c in self.clones
            if self.resolve_version(c.version) == version and self.clone_region(c) == region
        )


auto_replicas = recommended_replicas  # the name the spec's `replicas: auto` goes by
