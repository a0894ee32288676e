"""Azure naming rules and the deterministic names the pipeline gives its resources.

Pure functions only: the spec validator, the components and the offline simulator all
call these, so a name the program produces is a name the simulator accepts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Azure's public regions (az account list-locations, 2026). A typo here would otherwise
# only surface as a LocationNotAvailableForResourceType error minutes into a deployment.
AZURE_REGIONS: frozenset[str] = frozenset(
    """
    australiacentral australiacentral2 australiaeast australiasoutheast austriaeast
    belgiumcentral brazilsouth brazilsoutheast canadacentral canadaeast centralindia
    centralus chilecentral eastasia eastus eastus2 francecentral francesouth
    germanynorth germanywestcentral indonesiacentral israelcentral italynorth japaneast
    japanwest koreacentral koreasouth malaysiawest mexicocentral newzealandnorth
    northcentralus northeurope norwayeast norwaywest polandcentral qatarcentral
    southafricanorth southafricawest southcentralus southeastasia southindia spaincentral
    swedencentral swedensouth switzerlandnorth switzerlandwest uaecentral uaenorth
    uksouth ukwest westcentralus westeurope westindia westus westus2 westus3
    """.split()
)

LINUX_COMPUTER_NAME_MAX = 64
WINDOWS_COMPUTER_NAME_MAX = 15
VM_NAME_MAX = 64


@dataclass(frozen=True)
class NameRule:
    """One Azure resource type's naming rule, as documented under 'Naming rules and
    restrictions for Azure resources'."""

    what: str
    min_len: int
    max_len: int
    pattern: str  # full-match regex
    explain: str
    noun: str = "name"

    def problems(self, name: str) -> list[str]:
        what = f"{self.what} {self.noun}"
        if not self.min_len <= len(name) <= self.max_len:
            return [
                f"{what} {name!r} must be {self.min_len}-{self.max_len} "
                f"characters (has {len(name)})"
            ]
        # ASCII only: \w would let look-alikes through (Cyrillic letters, fullwidth and
        # Arabic-Indic digits) that fail later or, worse, succeed as a different name.
        if not name.isascii():
            odd = next(c for c in name if not c.isascii())
            return [f"{what} {name!r} has {odd!r} (U+{ord(odd):04X}), which is "
                    "not ASCII: use ASCII letters and digits (look-alikes are refused)"]
        if not re.fullmatch(self.pattern, name, re.ASCII):
            return [f"{what} {name!r} is not valid: {self.explain}"]
        return []


RESOURCE_GROUP = NameRule(
    "resource group", 1, 90, r"[\w().-]*[\w()-]",
    "letters, digits, '_', '-', '.', '(' and ')', not ending with '.'",
)
VIRTUAL_NETWORK = NameRule(
    "virtual network", 2, 64, r"[A-Za-z0-9][\w.-]*\w",
    "letters, digits, '_', '-', '.'; start with a letter or digit, end with one or '_'",
)
GALLERY = NameRule(
    "gallery", 1, 80, r"[A-Za-z0-9]([\w.]*[A-Za-z0-9])?",
    "letters, digits, '_' and '.' (no '-'); start and end with a letter or digit",
)
GALLERY_IMAGE = NameRule(
    "gallery image definition", 1, 80, r"[A-Za-z0-9]([\w.-]*[A-Za-z0-9])?",
    "letters, digits, '_', '-', '.'; start and end with a letter or digit",
)
MANAGED_IMAGE = NameRule(
    "managed image", 1, 80, r"[A-Za-z0-9][\w.-]*\w",
    "letters, digits, '_', '-', '.'; start with a letter or digit, end with one or '_'",
)
VIRTUAL_MACHINE = NameRule(
    "virtual machine", 1, VM_NAME_MAX, r"[A-Za-z0-9]([\w.-]*[A-Za-z0-9_])?",
    "letters, digits, '_', '-', '.'; start with a letter or digit, not end with '.' or '-'",
)
# Publisher, offer and SKU of a marketplace image or a gallery image definition: segments
# of ARM resource paths (.../publishers/{p}/.../offers/{o}/skus/{s}), so no '/', '?' or
# quote, and ASCII so a look-alike is never a different image.
IMAGE_IDENTIFIER = NameRule(
    "image", 1, 128, r"[A-Za-z0-9]([\w.-]*[A-Za-z0-9_])?",
    "letters, digits, '_', '-', '.'; start with a letter or digit, not end with '.' or '-'",
    noun="identifier",
)
# Our own rule for clone group names: they become part of VM and computer names.
CLONE_GROUP = NameRule(
    "clone group", 1, 20, r"[a-z][a-z0-9-]*[a-z0-9]|[a-z]",
    "lower-case letters, digits and '-', starting with a letter, not ending with '-'",
)

VERSION_RE = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
INT32_MAX = 2**31 - 1


def parse_version(text: str) -> tuple[int, int, int] | None:
    """Gallery image versions are Major.Minor.Patch, each a 32-bit integer."""
    match = VERSION_RE.fullmatch(text)
    if not match:
        return None
    major, minor, patch = (int(p) for p in match.groups())
    if max(major, minor, patch) > INT32_MAX:
        return None
    return major, minor, patch


def version_key(version: str) -> tuple[int, int, int]:
    """A sort key for versions: numeric, and an invalid one (reported elsewhere) first."""
    return parse_version(version) or (-1, -1, -1)


def version_slug(version: str) -> str:
    """'1.2.3' -> '1-2-3': dots are legal in VM names but not in computer names."""
    return version.replace(".", "-")


def short_hash(*parts: str, length: int = 4) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def build_vm_name(image: str, version: str, role: str = "build") -> str:
    """The build VM of one image version, e.g. 'vm-build-web-ubuntu-1-0-0' (role
    'val': the VM that validates the captured version)."""
    name = f"vm-{role}-{image}-{version_slug(version)}"
    if len(name) > VM_NAME_MAX:
        name = f"vm-{role}-{image[: VM_NAME_MAX - 30]}-{short_hash(image, version, length=8)}"
    return name


@dataclass(frozen=True)
class NetworkNames:
    vnet: str
    subnet: str
    nsg: str
    nat_gateway: str
    nat_ip: str


def network_names(image: str) -> NetworkNames:
    """The pipeline's network, named after its image so that two pipelines in one
    resource group never share (and fight over) one VNet, subnet or NSG. The VNet allows
    64 characters: a longer image name keeps a readable prefix and a hash of the whole."""
    stem = image if len(image) <= VIRTUAL_NETWORK.max_len - 5 else \
        f"{image[: VIRTUAL_NETWORK.max_len - 14]}-{short_hash(image, length=8)}"
    return NetworkNames(vnet=f"vnet-{stem}", subnet=f"snet-{stem}", nsg=f"nsg-{stem}",
                        nat_gateway=f"ng-{stem}", nat_ip=f"pip-ng-{stem}")


def managed_image_name(image: str, version: str) -> str:
    """The managed image of one version, e.g. 'img-web-ubuntu-1-0-0'."""
    return f"img-{image}-{version_slug(version)}"


def clone_vm_name(group: str, version: str, index: int) -> str:
    """A clone's Azure name carries its version, so a clone rolled onto a new version gets a
    new name: ARM treats a PUT to a live name as an update of an immutable image
    reference (PropertyChangeNotAllowed), and old and new VMs coexist during a rollout."""
    return f"{group}-{version_slug(version)}-{index:03d}"


def computer_name(vm_name: str, *, windows: bool) -> str:
    """The guest host name: Windows allows 15 characters, Linux 64; neither allows '.' or
    '_' safely, and Windows names must not be all digits. Long names keep a readable
    prefix and a hash of the whole, so two VMs never share a host name."""
    cleaned = re.sub(r"[^A-Za-z0-9-]", "-", vm_name).strip("-")
    limit = WINDOWS_COMPUTER_NAME_MAX if windows else LINUX_COMPUTER_NAME_MAX
    if len(cleaned) <= limit and not cleaned.isdigit():
        return cleaned
    digest = short_hash(vm_name, length=5)
    return f"{cleaned[: limit - len(digest) - 1].rstrip('-')}-{digest}"


def computer_name_problems(name: str, *, windows: bool) -> list[str]:
    limit = WINDOWS_COMPUTER_NAME_MAX if windows else LINUX_COMPUTER_NAME_MAX
    problems = []
    if not 1 <= len(name) <= limit:
        kind = "Windows" if windows else "Linux"
        problems.append(f"{kind} computer name {name!r} must be 1-{limit} characters")
    if not re.fullmatch(r"[A-Za-z0-9-]+", name):
        problems.append(f"computer name {name!r} may hold only letters, digits and '-'")
    if windows and name.isdigit():
        problems.append(f"Windows computer name {name!r} must not be only digits")
    return problems


def child_name(parent: str, role: str) -> str:
    """Pulumi logical names of a component's children: '<component>-<role>'."""
    return f"{parent}-{role}"
