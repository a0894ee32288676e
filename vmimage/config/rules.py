"""The rules of a pipeline spec that span keys: references, uniqueness, Azure naming,
region coverage, what a managed image or Trusted Launch allows; and the warnings a
reviewer should see. Pure functions of a validated `PipelineSpec`."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from vmimage.azure import limits, naming, nsg_sources
from vmimage.azure.nsg_sources import Source
from vmimage.azure.sizing import VMS_PER_REPLICA, azure_guidance
from vmimage.azure.ssh_keys import key_problems
from vmimage.config import bootstrap
from vmimage.config.capture.target import shown
from vmimage.config.capture.targets import rules_of
from vmimage.config.definition import created_key_problems
from vmimage.config.fingerprint import Capture, build_fingerprint
from vmimage.config.image_inputs import (
    image_input_problems,
    repeated_luns,
    source_count_problem,
)
from vmimage.config.license_rules import license_problems
from vmimage.config.limit_rules import limit_problems
from vmimage.config.limits import MAX_VMS_PER_GROUP, PROGRAM_TAGS
from vmimage.config.revocation_rules import revocation_problems
from vmimage.config.rollout_rules import rollout_problems
from vmimage.config.security_type import security_problems
from vmimage.config.steps import kind_of
from vmimage.config.steps.kind import exit_code_problems
from vmimage.config.usage import still_used
from vmimage.config.values import reads_as_reserved
from vmimage.suggest import did_you_mean

if TYPE_CHECKING:
    from vmimage.azure.reads import MarketplaceImage
    from vmimage.config.models import BuildSpec, CloneSpec, MarketplaceRef, PipelineSpec

RESERVED_ADMIN_NAMES = frozenset(
    "administrator admin user user1 test user2 test1 user3 admin1 1 123 a actuser adm "
    "admin2 aspnet backup console david guest john owner root server sql support "
    "support_388945a0 sys test2 test3 user4 user5".split()
)

def semantic_problems(spec: PipelineSpec) -> list[str]:
    problems: list[str] = []
    problems += _naming_problems(spec)
    problems += _network_problems(spec)
    problems += _admin_problems(spec)
    problems += _capture_problems(spec)
    problems += created_key_problems(spec)
    problems += _build_problems(spec)
    problems += _clone_problems(spec)
    if spec.network.subnet_prefix is not None:  # an existing subnet: checked in preflight
        problems += capacity_problems(spec, spec.network.subnet_prefix, "network.subnetPrefix")
    problems += _disk_controller_problems(spec)
    problems += _tag_problems(spec)
    problems += _encryption_problems(spec)
    problems += image_input_problems(spec)
    problems += rollout_problems(spec)
    problems += license_problems(spec)
    problems += security_problems(spec)
    problems += revocation_problems(spec)
    # Scripts are rendered only from a config otherwise right (a template's vars, say).
    problems += limit_problems(spec, scripts=not problems)
    return problems


def addresses_needed(spec: PipelineSpec) -> int:
    """NICs the subnet must hold at the busiest moment: a VM per build still building,
    every clone and scale-set instance, and, while a group rolls to a new version, its
    successors beside it (old VMs go once the new ones exist)."""
    builds = sum(1 for b in spec.builds if not b.retired and not b.imported)
    builds += sum(1 for b in spec.builds if b.validate_steps and not b.retired)  # validation
    clones = sum(c.count for c in spec.clones)
    surge = sum(surge_of(c) for c in spec.clones if c.kind == "vm")
    return builds + clones + surge


def surge_of(clone: CloneSpec) -> int:
    """How many VMs of a group run twice while it rolls: all of them, or with health
    gates one batch (each batch's old VMs go once it is healthy)."""
    if clone.rollout.health is None:
        return clone.count
    return min(clone.count, clone.rollout.batch_size or clone.count)


def capacity_problems(spec: PipelineSpec, prefix: ipaddress.IPv4Network | ipaddress.IPv6Network,
                      at: str) -> list[str]:
    """Whether the subnet (the one created, or an existing one read from Azure) holds
    what the pipeline needs at once."""
    if prefix.prefixlen > 29:
        return []  # too small for Azure at all: reported on its own
    needed, usable = addresses_needed(spec), limits.usable_addresses(prefix)
    if needed <= usable:
        return []
    return [f"{at}: {prefix} holds {usable} VMs ({prefix.num_addresses} "
            f"addresses, {limits.SUBNET_RESERVED_ADDRESSES} reserved by Azure) but "
            f"this pipeline needs {needed} at once (build and validation VMs, clones and "
            "scale-set instances, and each clone VM twice while its group rolls to a new "
            "version, one batch at a time with rollout.health); "
            "use a larger subnet"]


def _disk_controller_problems(spec: PipelineSpec) -> list[str]:
    """Sizes of the v6 generation and later boot only images that declare NVMe."""
    if not spec.uses_gallery or spec.gallery is None:
        return []
    image = spec.gallery.image
    found = []
    for path, size in spec.sized():
        if size is None or not limits.nvme_only(size):
            continue
        if "NVMe" not in image.disk_controller_types:
            found.append(f"{path}: {size} boots only from images that support NVMe; add NVMe "
                         "to gallery.image.diskControllerTypes (a new definition: it cannot "
                         "be added to an existing one)")
        elif image.generation == "V1":
            found.append(f"{path}: {size} needs NVMe, which generation V1 images do not "
                         "support; use gallery.image.generation V2")
    return found


def _naming_problems(spec: PipelineSpec) -> list[str]:
    found = [f"resourceGroup: {p}" for p in naming.RESOURCE_GROUP.problems(spec.resource_group)]
    if spec.location not in naming.AZURE_REGIONS and spec.location != "unset":
        found.append(f"location: {_region_problem(spec.location)}")
    if spec.gallery:  # an existing definition's names are Azure's already
        if spec.gallery.name is not None:
            found += [f"gallery.name: {p}" for p in naming.GALLERY.problems(spec.gallery.name)]
        if spec.gallery.image.name is not None:
            found += [f"gallery.image.name: {p}"
                      for p in naming.GALLERY_IMAGE.problems(spec.gallery.image.name)]
    if spec.managed_image:
        found += [
            f"managedImage.name: {p}"
            for p in naming.MANAGED_IMAGE.problems(spec.managed_image.name)
        ]
    return found


def raw_value_problems(data: dict[str, Any]) -> list[str]:
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
    hint = did_you_mean(region, sorted(naming.AZURE_REGIONS))
    return f"unknown Azure region {region!r}{hint}"


#: Ports whose exposure to the internet is refused: remote administration.
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
#: Inbound rules get priorities 100, 110, ... and the final deny 4096 (Azure: 100-4096).
MAX_INBOUND_RULES = (4096 - 100) // 10


#: What belongs to the network the program creates: not with an existing subnet.
CREATED_NETWORK_KEYS = {"address_space": "addressSpace", "subnet_prefix": "subnetPrefix",
                        "allow_inbound": "allowInbound", "egress": "egress"}


def _network_problems(spec: PipelineSpec) -> list[str]:
    net = spec.network
    if net.existing:
        return [f"network.{key}: not with network.subnetId (the subnet exists: its network, "
                "rules and egress are its owner's)"
                for field, key in CREATED_NETWORK_KEYS.items() if field in net.model_fields_set]
    missing = [f"network.{key}: required without network.subnetId"
               for field, key in (("address_space", "addressSpace"),
                                  ("subnet_prefix", "subnetPrefix"))
               if getattr(net, field) is None]
    if missing or net.address_space is None or net.subnet_prefix is None:
        return missing
    found = []
    if not net.subnet_prefix.subnet_of(net.address_space):
        found.append(
            f"network.subnetPrefix: {net.subnet_prefix} is not inside "
            f"network.addressSpace {net.address_space}"
        )
    if net.subnet_prefix.prefixlen > 29:
        found.append("network.subnetPrefix: Azure subnets must be /29 or larger")
    if len(net.allow_inbound) > MAX_INBOUND_RULES:
        found.append(f"network.allowInbound: at most {MAX_INBOUND_RULES} rules (Azure's "
                     "priorities run from 100 to 4096)")
    names: dict[str, int] = {}
    sources: dict[int, Source] = {}
    for i, rule in enumerate(net.allow_inbound):
        at = f"network.allowInbound[{i}]"
        low, _, high = rule.port.partition("-")
        if not 1 <= int(low) <= int(high or low) <= 65535:
            found.append(f"{at}.port: {rule.port!r} is not 1-65535")
        key = rule.name.lower()
        if key in nsg_sources.DEFAULT_RULE_NAMES or key == nsg_sources.DENY_ALL_RULE:
            found.append(f"{at}.name: {rule.name!r} is the name of a rule Azure or vmimage "
                         "adds itself; choose another")
        elif key in names:
            found.append(f"{at}.name: {rule.name!r} is already used by "
                         f"network.allowInbound[{names[key]}] (names are compared "
                         "case-insensitively)")
        names.setdefault(key, i)
        try:
            sources[i] = nsg_sources.parse_source(rule.source)
        except ValueError as exc:
            found.append(f"{at}.source: {exc}")
    for port, what in ADMIN_PORTS.items():
        allowing = [i for i, rule in enumerate(net.allow_inbound)
                    if i in sources and rule.protocol in ("Tcp", "*")
                    and nsg_sources.port_range_covers(rule.port, port)]
        exposure = nsg_sources.internet_exposure(sources[i] for i in allowing)
        if exposure:
            rules = ", ".join(f"network.allowInbound[{i}]" for i in allowing)
            found.append(
                f"{rules}: {exposure}, which opens {what} ({port}) to the internet; allow "
                "a source range you control, or use Azure Bastion or just-in-time access"
            )
    return found


def _admin_problems(spec: PipelineSpec) -> list[str]:
    found = []
    user = spec.admin.username
    if user.lower() in RESERVED_ADMIN_NAMES:
        found.append(f"admin.username: {user!r} is reserved by Azure; choose another")
    limit = 20 if spec.windows else 64
    if len(user) > limit:
        found.append(f"admin.username: at most {limit} characters on {spec.os}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", user, re.ASCII) or user.endswith("."):
        found.append(
            f"admin.username: {user!r} may hold ASCII letters, digits, '_', '-', '.' "
            "and must not start with a digit or end with '.'"
        )
    key = spec.admin.ssh_public_key
    if spec.os == "linux" and not key:
        found.append(
            "admin.sshPublicKey: required for Linux (password authentication is off)"
        )
    if key:
        found += [f"admin.sshPublicKey: {p}" for p in key_problems(key)]
    return found


def _capture_problems(spec: PipelineSpec) -> list[str]:
    found = []
    if len(spec.capture_targets) != len(spec.capture):
        found.append(f"capture: a target is listed twice ({shown(spec.capture)})")
    for target in rules_of(spec):
        found += target.problems(spec)
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
        found += [f"{at}.dataDisks[{j}].lun: LUN {lun} is used twice"
                  for j, lun in repeated_luns(build.data_disks)]
        for j, disk in enumerate(build.data_disks):
            if disk.format is not None and spec.os == "windows" and build.size and \
                    limits.nvme_only(build.size):
                found.append(
                    f"{at}.dataDisks[{j}].format: {build.size} has NVMe disks, and Windows "
                    "reports no LUN for an NVMe data disk that Azure documents, so the "
                    "format script cannot find it by LUN; use a size with SCSI disks (v5 "
                    "or older) for this build, or format the disk in a script step")
            if spec.uses_gallery and disk.size_gb > limits.GALLERY_DATA_DISK_MAX_GB:
                found.append(
                    f"{at}.dataDisks[{j}].sizeGb: {disk.size_gb} GiB is over the "
                    f"{limits.GALLERY_DATA_DISK_MAX_GB} GiB a gallery image version "
                    "takes per data disk"
                )
            if disk.sku in ("UltraSSD_LRS", "PremiumV2_LRS"):
                found.append(
                    f"{at}.dataDisks[{j}].sku: {disk.sku} disks cannot be captured into "
                    "an image; use Premium_LRS or StandardSSD_LRS"
                )
        found += _step_problems(spec, build, at)
        seen_regions: set[str] = set()
        for j, region in enumerate(build.regions):
            if region.name in seen_regions:
                found.append(f"{at}.regions[{j}].name: {region.name} is listed twice")
            seen_regions.add(region.name)
            if region.name not in naming.AZURE_REGIONS:
                found.append(f"{at}.regions[{j}].name: {_region_problem(region.name)}")
        if build.regions and not spec.uses_gallery:
            found.append(
                f"{at}.regions: managed images live in one region; target regions "
                "need capture: gallery or both"
            )
        if naming.parse_version(build.version) and spec.image_name.isascii():
            # Only a name made of valid parts is judged: its parts report their own faults.
            vm_name = naming.build_vm_name(spec.image_name, build.version)
            found += [f"{at}.version: {p}" for p in naming.VIRTUAL_MACHINE.problems(vm_name)]
    return found


def _source_problems(spec: PipelineSpec, build: BuildSpec, at: str) -> list[str]:
    src = build.from_
    count = source_count_problem(build, at)
    if count is not None:
        return [count]
    if src.version is None:
        return []
    parent = next((b for b in spec.builds if b.version == src.version), None)
    if parent is None:
        known = ", ".join(b.version for b in spec.builds if b is not build) or "none"
        return [f"{at}.from.version: {src.version} is not built here (versions: {known})"
                f"{still_used(spec, src.version)}"]
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


def _step_problems(spec: PipelineSpec, build: BuildSpec, at: str) -> list[str]:
    if spec.os not in ("linux", "windows"):
        return []  # which scripts fit is unknown until the OS is (reported on its own)
    return [problem for key, steps in (("customize", build.customize),
                                       ("validate", build.validate_steps))
            for j, step in enumerate(steps)
            for problem in (kind_of(step).problems(step, spec.os, f"{at}.{key}[{j}]")
                            + exit_code_problems(step, spec.os, f"{at}.{key}[{j}]")
                            + kind_of(step).build_problems(step, build, f"{at}.{key}[{j}]"))]


def _bootstrap_problems(clone: CloneSpec, os: str, at: str) -> list[str]:
    keyed: tuple[tuple[bootstrap.BootstrapKey, bootstrap.BootstrapData | None], ...] = (
        ("userData", clone.user_data), ("customData", clone.custom_data))
    return [p for key, data in keyed if data is not None
            for p in bootstrap.problems(data, key, os, f"{at}.{key}")]


def _clone_problems(spec: PipelineSpec) -> list[str]:
    found: list[str] = []
    names: dict[str, int] = {}
    for i, clone in enumerate(spec.clones):
        at = f"clones[{i}]"
        found += [f"{at}.name: {p}" for p in naming.CLONE_GROUP.problems(clone.name)]
        found += _bootstrap_problems(clone, spec.os, at)
        if clone.name in names:
            first = names[clone.name]
            found.append(f"{at}.name: {clone.name!r} is already used by clones[{first}]")
        names.setdefault(clone.name, i)
        version = spec.resolve_version(clone.version)
        if version is None:
            if clone.version == "latest":
                # An invalid build version is reported on its own line already.
                if all(naming.parse_version(b.version) for b in spec.builds):
                    found.append(f"{at}.version: 'latest' but every build is "
                                 "excludeFromLatest or revoked")
            elif naming.parse_version(clone.version) is None:
                found.append(
                    f"{at}.version: {clone.version!r} is not 'latest' or Major.Minor.Patch"
                )
            else:
                known = ", ".join(b.version for b in spec.builds)
                found.append(f"{at}.version: {clone.version} is not built here (versions: "
                             f"{known}){still_used(spec, clone.version)}")
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
        if clone.kind == "scaleSet" and clone.count > limits.MAX_SCALE_SET_INSTANCES:
            found.append(
                f"{at}.count: {clone.count} instances is over Azure's limit of "
                f"{limits.MAX_SCALE_SET_INSTANCES} per scale set (Flexible, from a gallery image); "
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


def source_image_problems(spec: PipelineSpec,
                          lookup: Callable[[MarketplaceRef, str], MarketplaceImage | None]
                          ) -> list[str]:
    """What Azure says of each marketplace source, against what the image is declared to
    be: a source of another Hyper-V generation cannot be captured into the definition."""
    found = []
    for i, build in enumerate(spec.builds):
        market = build.from_.marketplace
        if market is None or build.retired:
            continue
        at = f"builds[{i}].from.marketplace"
        image = lookup(market, spec.location)
        name = f"{market.publisher}:{market.offer}:{market.sku}:{market.version}"
        if image is None:
            found.append(f"{at}: Azure has no marketplace image {name} in {spec.location}")
        elif image.generation != spec.generation:
            declared = "gallery.image.generation" if spec.gallery else \
                "managedImage.generation"
            found.append(f"{at}: {name} is a generation {image.generation} image, but "
                         f"{declared} is {spec.generation}; pick the image's {spec.generation} "
                         f"SKU or declare {image.generation}")
        elif image.architecture.lower() != spec.architecture.lower():
            found.append(f"{at}: {name} is an {image.architecture} image, but "
                         f"gallery.image.architecture is {spec.architecture}")
    return found


def _tag_problems(spec: PipelineSpec) -> list[str]:
    found = []
    if len(spec.tags) > limits.MAX_TAGS_PER_RESOURCE - PROGRAM_TAGS:
        found.append(f"tags: at most {limits.MAX_TAGS_PER_RESOURCE - PROGRAM_TAGS} (Azure takes "
                     f"{limits.MAX_TAGS_PER_RESOURCE} per resource, and vmimage puts up to "
                     f"{PROGRAM_TAGS} of its own)")
    seen: dict[str, str] = {}
    for key in spec.tags:
        if reads_as_reserved(key):
            found.append(f"tags.{key}: vmimage-* tags are the program's (what a resource is, "
                         "for reviews and reports), and so is any name that reads like one; "
                         "choose another key")
        # Tag names are case-insensitive in Azure: two such keys are one tag.
        if key.lower() in seen:
            found.append(f"tags.{key}: the same tag name as {seen[key.lower()]!r} (tag names "
                         "are case-insensitive)")
        seen.setdefault(key.lower(), key)
    return found


def _encryption_problems(spec: PipelineSpec) -> list[str]:
    """Per-region keys of gallery versions, and shallow builds."""
    found = []
    for i, build in enumerate(spec.builds):
        at = f"builds[{i}]"
        keyed = [r for r in build.regions if r.disk_encryption_set_id]
        if keyed and not spec.uses_gallery:
            found.append(f"{at}.regions: diskEncryptionSetId is for gallery versions; "
                         "capture: gallery")
        elif keyed:
            unkeyed = [r.name for r in spec.regions_of(build) if not r.disk_encryption_set_id]
            if unkeyed:
                # "A disk encryption set is required for disk ... in target region ..."
                found.append(f"{at}.regions: a version encrypted with customer-managed keys "
                             f"needs a diskEncryptionSetId in every target region (missing: "
                             f"{', '.join(unkeyed)}; the source region is one)")
        if build.replication_mode != "Shallow":
            continue
        if not spec.uses_gallery:
            found.append(f"{at}.replicationMode: Shallow is a gallery version's mode; "
                         "capture: gallery")
        others = [r.name for r in build.regions if r.name != spec.location]
        if others:
            found.append(f"{at}.regions: a Shallow version stays in its source region "
                         f"{spec.location} (not {', '.join(others)}); use Full to replicate")
        for j, region in enumerate(build.regions):
            if region.replicas not in (None, 1):
                found.append(f"{at}.regions[{j}].replicas: a Shallow version has one replica "
                             f"(got {region.replicas})")
        size = sum(d.size_gb for d in build.data_disks)
        if size > limits.SHALLOW_IMAGE_MAX_GB:
            found.append(f"{at}.dataDisks: {size:,} GiB in all; a Shallow version holds up to "
                         f"{limits.SHALLOW_IMAGE_MAX_GB:,} GiB")
    return found


#: Commands that fetch from the internet: a build without egress fails on them. Obvious
#: ones only; a private mirror reached through the VNet is the user's to know about.
INTERNET_COMMANDS = re.compile(
    r"\b((?:apt-get|apt|yum|dnf|zypper|tdnf)\b[^;|&]*?\b(?:update|install|upgrade|dist-upgrade)\b"
    r"|snap\s+install|pip3?\s+install|npm\s+(?:install|ci)|git\s+clone|curl\s|wget\s"
    r"|Invoke-WebRequest|Invoke-RestMethod|Start-BitsTransfer|Install-Module|Install-Package"
    r"|choco\s+install|winget\s+install)",
    re.IGNORECASE)


def internet_command(script: str) -> str | None:
    """The first command of the script that obviously needs the internet, if any."""
    for line in script.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = INTERNET_COMMANDS.search(line)
        if match:
            return " ".join(match.group(0).split())
    return None


def _egress_warnings(spec: PipelineSpec) -> list[str]:
    if spec.network.existing or spec.network.egress != "none":
        return []
    found = []
    for i, build in enumerate(spec.builds):
        steps = [(f"customize[{j}]", step) for j, step in enumerate(build.customize)]
        steps += [(f"validate[{j}]", step) for j, step in enumerate(build.validate_steps)]
        for key, step in steps:
            script = kind_of(step).script_text(step, spec.os)
            command = internet_command(script) if script else None
            if command:
                found.append(f"builds[{i}].{key}: runs `{command}`, but "
                             "network.egress is none (no way out of the subnet): it fails "
                             "unless it reaches a mirror inside the network")
    return found


def warnings(spec: PipelineSpec) -> list[str]:
    """Allowed, but worth a reviewer's attention."""
    found = _egress_warnings(spec)
    for i, build in enumerate(spec.builds):
        for j, step in enumerate(build.customize):
            found += kind_of(step).warnings(step, f"builds[{i}].customize[{j}]")
    for i, clone in enumerate(spec.clones):
        if clone.kind == "scaleSet":
            found.append(
                f"clones[{i}].kind: scale sets roll onto new versions with Flexible "
                "orchestration's rolling upgrades, a preview in older subscriptions: if ARM "
                "refuses the Rolling mode, register the Microsoft.Compute features "
                "VMSSFlexRollingUpgrade and ImageReferenceUpgradeForVmoVMs (README, Scale sets)"
            )
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


def frozen_build_problems(spec: PipelineSpec, captures: Mapping[str, Capture]) -> list[str]:
    """What Azure's state forbids: changing a captured build (its gallery version is
    immutable and its VM generalized), and retiring a build that was never captured (its
    VM would go, and its image was never made)."""
    found = []
    for i, build in enumerate(spec.builds):
        capture = captures.get(build.version)
        captured = capture is not None and capture.captured
        if build.retired and not captured:
            found.append(
                f"builds[{i}].retired: version {build.version} was never captured (Azure has "
                "no image for it); run once without retired: true to build and capture it")
        if captured and capture is not None and capture.fingerprint is not None \
                and capture.fingerprint != build_fingerprint(spec, build):
            found.append(
                f"builds[{i}]: version {build.version} was already captured from another "
                "build (its source, size, disks or customize steps changed). Gallery image "
                "versions are immutable and its build VM is generalized: give the changed "
                "build a new version number (and keep or retire this one)")
    return found
