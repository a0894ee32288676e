"""Typed values for the untrusted strings of the config: each parsed once, here, at the
config boundary, into a value that knows its parts, so no consumer parses or checks the
string again. Every config key that takes such a string uses one of these types (the
JSON schema and docs/config-reference.md are generated from their metadata), and
docs/security.md lists the guarantee each one gives.

Each value is a `str` subclass holding the text as the config wrote it (so fingerprints,
state and templates see the same text as before), with its parsed parts as attributes.
A refusal raises ValueError, which pydantic reports at the key's path
(vmimage/config/errors.py); no message echoes a query string or a credential.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, WithJsonSchema

from vmimage.azure import arm_ids
from vmimage.azure.arm_ids import ArmId
from vmimage.azure.licensing import LICENSE_OS
from vmimage.config.credentials import SECRET_PARAMETERS, redact, signed_parameters

# -- https URIs ----------------------------------------------------------------------------

MAX_URI_CHARS = 2048
#: Azure Blob Storage endpoints, by cloud: public, US Government, China (21Vianet)
#: (learn.microsoft.com/azure/storage/common/storage-account-overview "Standard endpoints";
#: .../azure-government/compare-azure-government-global-azure; .../china/resources-developer-guide).
BLOB_HOST_SUFFIXES = (".blob.core.windows.net", ".blob.core.usgovcloudapi.net",
                      ".blob.core.chinacloudapi.cn")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
#: RFC 3986 pchar and '/': unreserved, sub-delimiters but quotes, ':', '@', and '%' as
#: part of a %XX escape only. Quotes are left out: the guest scripts quote the URI.
_PATH = re.compile(r"(?:/(?:[A-Za-z0-9._~!$&()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*")
_QUERY = re.compile(r"(?:[A-Za-z0-9._~!$&()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*")
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")  # a storage account name
_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")


class HttpsUri(str):
    """An https URL checked by one strict parser: the text as written, and its parts."""

    host: str
    port: int | None
    path: str
    query: str

    def __new__(cls, text: str, host: str, port: int | None, path: str, query: str) -> HttpsUri:
        made = super().__new__(cls, text)
        made.host, made.port, made.path, made.query = host, port, path, query
        return made

    @property
    def is_blob(self) -> bool:
        """Azure Blob Storage, in any cloud: where a managed identity's token may go."""
        return self.host.endswith(BLOB_HOST_SUFFIXES)

    @property
    def account(self) -> str | None:
        """The storage account of a blob URL (its host's first label)."""
        return self.host.split(".", 1)[0] if self.is_blob else None

    def __reduce__(self) -> tuple[Any, ...]:
        return (HttpsUri, (str(self), self.host, self.port, self.path, self.query))


def parse_https_uri(text: str, *, hosts: tuple[str, ...] = (), query: bool = False,
                    ports: bool = False) -> HttpsUri:
    """`text` as an HttpsUri, or ValueError saying why not (the query redacted).

    hosts: allowed host suffixes (empty: any public DNS name); query: whether a query
    string is allowed at all (a credential-bearing parameter never is); ports: whether an
    explicit port is allowed. The authority is read strictly, so that every parser that
    reads the URI later (curl, .NET's System.Uri, Python's urllib) finds the same host:
    no backslash, userinfo, percent-escape, IP literal, non-ASCII or punycode label."""
    shown = repr(redact(text))
    if len(text) > MAX_URI_CHARS:
        raise ValueError(f"{len(text):,} characters; at most {MAX_URI_CHARS:,}")
    bad = next((c for c in text if not ("!" <= c <= "~")), None)
    if bad is not None:
        what = "a space" if bad == " " else f"{bad!r} (U+{ord(bad):04X})"
        raise ValueError(f"{shown} holds {what}: an https URL is printable ASCII; "
                         "encode the rest (%xx)")
    if not text.startswith("https://"):
        scheme = text.partition("://")[0] if "://" in text else "no"
        raise ValueError(f"{shown}: only https URLs are allowed (got {scheme[:10]!r} scheme)"
                         if scheme != "no" else f"{shown}: only https URLs are allowed "
                         "(https://...)")
    rest = text.removeprefix("https://")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    tail = rest[len(authority):]
    for char, why in (("\\", "a backslash"), ("@", "user information (user@host)"),
                      ("%", "a percent-escape"), ("[", "an IP literal"),
                      ("'", "a quote"), ('"', "a quote"), ("`", "a quote")):
        if char in authority:
            raise ValueError(f"{shown}: its host part holds {why}; give a plain host name")
    host, colon, port_text = authority.partition(":")
    port: int | None = None
    if colon:
        if not ports:
            raise ValueError(f"{shown}: no port here (https uses 443)")
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{shown}: {port_text!r} is not a port")
        port = int(port_text)
    host = host.lower()
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{shown}: {host!r} is not a host name (letters, digits and '-' "
                         "in dot-separated labels)")
    if any(label.startswith("xn--") for label in labels):
        raise ValueError(f"{shown}: {host!r} is an internationalised (punycode) name; "
                         "look-alike hosts are refused")
    if labels[-1].isdigit():
        raise ValueError(f"{shown}: {host!r} is an IP address; give a host name")
    if hosts and not host.endswith(hosts):
        raise ValueError(f"{shown}: the host must end with {' or '.join(hosts)}")
    before_fragment, hash_sign, _ = tail.partition("#")
    if hash_sign:
        raise ValueError(f"{shown}: no #fragment (the server never sees it)")
    path, question, query_text = before_fragment.partition("?")
    if not _PATH.fullmatch(path) or "\\" in path:
        raise ValueError(f"{shown}: the path holds characters a URL must encode (%xx)")
    if any(seg in (".", "..") for seg in _decoded(path).split("/")):
        raise ValueError(f"{shown}: the path holds '.' or '..' segments")
    if question:
        secret = signed_parameters("?" + query_text, SECRET_PARAMETERS)
        if secret:
            raise ValueError(f"{shown}: holds a credential (query parameter {secret[0]!r}); "
                             "no secrets in config: a blob is read with the build VM's "
                             "managed identity")
        if not query:
            raise ValueError(f"{shown}: no query string (?...) here")
        if not _QUERY.fullmatch(query_text):
            raise ValueError(f"{shown}: the query holds characters a URL must encode (%xx)")
    return HttpsUri(text, host, port, path or "/", query_text)


def _decoded(text: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def _uri_type(check: Callable[[str], HttpsUri], schema: dict[str, Any]) -> Any:
    return Annotated[str, AfterValidator(check), WithJsonSchema(
        {"type": "string", "format": "uri", "pattern": "^https://", "maxLength": MAX_URI_CHARS,
         **schema})]


def _download_uri(text: str) -> HttpsUri:
    return parse_https_uri(text, query=True)


VHD_EXAMPLE = "https://<account>.blob.core.windows.net/<container>/<name>.vhd"


def _vhd_uri(text: str) -> HttpsUri:
    try:
        uri = parse_https_uri(text, hosts=BLOB_HOST_SUFFIXES)
    except ValueError as exc:
        raise ValueError(f"{exc}; expected the https URL of a .vhd page blob "
                         f"({VHD_EXAMPLE})") from None
    segments = uri.path.split("/")[1:]
    account = uri.host.split(".", 1)[0]
    if uri.host.count(".") != 4 or not _ACCOUNT.fullmatch(account) or len(segments) < 2 \
            or not _CONTAINER.fullmatch(segments[0]) or not segments[-1].endswith(".vhd"):
        raise ValueError(f"{redact(text)!r} is not the https URL of a .vhd page blob "
                         f"({VHD_EXAMPLE})")
    return uri


#: A file the guest downloads (`file.uri`): any public host; a query only without
#: credentials; a blob endpoint is read with the build VM's identity (`is_blob`).
DownloadUri = _uri_type(_download_uri, {"description": "an https URL without credentials"})
#: A VHD page blob (`from.vhd.uri`): Azure Blob Storage only, no query (so no SAS).
VhdUri = _uri_type(_vhd_uri, {"description": "https URL of a .vhd page blob"})


# -- storage names -------------------------------------------------------------------------


def _container_name(text: str) -> str:
    if not _CONTAINER.fullmatch(text):
        raise ValueError(f"{text!r} is not a blob container name (3-63 lowercase letters, "
                         "digits and hyphens, starting with a letter or digit, no two "
                         "hyphens in a row, not ending with one)")
    return text


#: A blob container's name (`capture[].vhd.container`), as Azure Storage takes it
#: (learn.microsoft.com "Naming and Referencing Containers, Blobs, and Metadata"): what a
#: blob URL's path starts with, so it needs no escaping there.
ContainerName = Annotated[str, AfterValidator(_container_name), WithJsonSchema(
    {"type": "string", "minLength": 3, "maxLength": 63,
     "pattern": "^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$"})]


# -- ARM ids -------------------------------------------------------------------------------


def _arm_id(kind: str) -> Any:
    def check(text: str) -> ArmId:
        return arm_ids.parse(text, kind)  # ValueError says what such an id looks like
    return Annotated[str, AfterValidator(check), WithJsonSchema(
        {"type": "string", "pattern": "^/subscriptions/[0-9A-Fa-f-]{36}/resourceGroups/",
         "description": f"ARM id: {arm_ids.example(kind)}"})]


SubnetId = _arm_id("subnet")
ImageVersionId = _arm_id("gallery image version")
#: An existing image definition versions are published into (`gallery.imageId`).
GalleryImageId = _arm_id("gallery image definition")
ManagedImageId = _arm_id("managed image")
StorageAccountId = _arm_id("storage account")
IdentityId = _arm_id("user-assigned identity")
DiskEncryptionSetId = _arm_id("disk encryption set")


def repeated(ids: tuple[str, ...]) -> list[tuple[int, int]]:
    """(index, index of the first equal one) of each id listed before, compared as ARM
    compares them (case-insensitively)."""
    first: dict[str, int] = {}
    found = []
    for i, text in enumerate(ids):
        key = text.lower()
        if key in first:
            found.append((i, first[key]))
        first.setdefault(key, i)
    return found


# -- mount paths ---------------------------------------------------------------------------

MAX_MOUNT_CHARS = 1024
#: Trees the OS, its package managers and the Azure agents need at boot: a blank disk
#: mounted at or under one hides what is there (sshd's config, the loader, the agent's
#: state) in every clone. `/lib*` is any top directory starting with lib (lib32, lib64).
SYSTEM_TREES = ("/boot", "/etc", "/usr", "/bin", "/sbin", "/proc", "/sys", "/dev", "/run",
                "/root", "/var/lib/waagent", "/var/lib/cloud", "/var/lib/dpkg", "/var/lib/apt",
                "/var/lib/rpm", "/var/lib/systemd", "/opt/microsoft",
                #: Azure's temporary (resource) disk: cloud-init's Azure datasource mounts
                #: it at /mnt, waagent at ResourceDisk.MountPoint=/mnt/resource
                #: (docs/azure-behaviours.md); it is wiped on redeploy.
                "/mnt")
#: Directories that hold the system's own data: a disk may go below them, not on them.
SYSTEM_DIRECTORIES = frozenset({"/", "/var", "/var/lib", "/var/log", "/home", "/tmp", "/opt",
                                "/var/tmp"})
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


class MountPath(str):
    """An absolute, normalised Linux path where a data disk may be mounted."""

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.split("/")[1:])

    def overlaps(self, other: str) -> bool:
        """The same place, or one under the other (mounting one hides the other)."""
        return self == other or self.startswith(other + "/") or other.startswith(self + "/")


def under(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree + "/")


def parse_mount_path(text: str) -> MountPath:
    if len(text) > MAX_MOUNT_CHARS:
        raise ValueError(f"{len(text):,} characters; at most {MAX_MOUNT_CHARS:,}")
    if not text.startswith("/"):
        raise ValueError(f"{text!r} is not an absolute path (/...)")
    segments = text.split("/")[1:]
    if text != "/" and (text.endswith("/") or "" in segments):
        raise ValueError(f"{text!r} is not a normalised path (no // or trailing /)")
    if any(s in (".", "..") for s in segments):
        raise ValueError(f"{text!r} is not a plain path (no . or .. parts)")
    if text != "/" and not all(_SEGMENT.fullmatch(s) for s in segments):
        raise ValueError(f"{text!r}: each part is letters, digits, '.', '_' or '-'")
    top = "/" + segments[0]
    tree = next((t for t in SYSTEM_TREES if under(text, t)), None)
    if tree is None and top.startswith("/lib"):
        tree = top
    if tree is not None:
        raise ValueError(f"{text} is at or under {tree}, which the system needs at boot; "
                         "mount data elsewhere, e.g. /data")
    if text in SYSTEM_DIRECTORIES:
        raise ValueError(f"{text} is the system's; mount data elsewhere, e.g. /data")
    return MountPath(text)


MountPathValue = Annotated[str, AfterValidator(parse_mount_path), WithJsonSchema(
    {"type": "string", "pattern": r"^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$",
     "maxLength": MAX_MOUNT_CHARS})]


# -- project files -------------------------------------------------------------------------

MAX_PROJECT_PATH_CHARS = 1024
_PROJECT_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def parse_project_path(text: str) -> str:
    """A file of the project, relative to Pulumi.yaml's directory: no absolute path, no
    '..' or '.', no backslash, so joined to the project root it stays under it."""
    if len(text) > MAX_PROJECT_PATH_CHARS:
        raise ValueError(f"{len(text):,} characters; at most {MAX_PROJECT_PATH_CHARS:,}")
    if text.startswith("/") or "\\" in text or re.match(r"[A-Za-z]:", text):
        raise ValueError(f"{text!r} must be relative to Pulumi.yaml's directory "
                         "(no leading /, drive or backslash)")
    segments = text.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise ValueError(f"{text!r} must be a plain path inside the project (no '..', '.' "
                         "or empty parts)")
    if not all(_PROJECT_SEGMENT.fullmatch(s) for s in segments):
        raise ValueError(f"{text!r}: each part is letters, digits, '.', '_' or '-' and "
                         "starts with a letter, digit or '_'")
    return text


ProjectPath = Annotated[str, AfterValidator(parse_project_path), WithJsonSchema(
    {"type": "string", "pattern": r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$",
     "maxLength": MAX_PROJECT_PATH_CHARS})]


# -- small names ---------------------------------------------------------------------------


def _drive_letter(text: str) -> str:
    if not re.fullmatch(r"[E-Ze-z]", text):
        raise ValueError(f"{text!r} is not a drive letter E to Z (A-C are the floppy and "
                         "system drives, D the temporary disk)")
    return text


#: A Windows drive letter for a data disk: E to Z (C: system, D: Azure's temporary disk).
DriveLetter = Annotated[str, AfterValidator(_drive_letter), WithJsonSchema(
    {"type": "string", "pattern": "^[E-Ze-z]$"})]
MAX_LABEL = 16


def _label(text: str) -> str:
    if not re.fullmatch(rf"[A-Za-z0-9_-]{{0,{MAX_LABEL}}}", text):
        raise ValueError(f"{text!r} is not a file system label (up to {MAX_LABEL} letters, "
                         "digits, _ or -)")
    return text


#: A file system label: what mkfs and Format-Volume take without quoting.
Label = Annotated[str, AfterValidator(_label), WithJsonSchema(
    {"type": "string", "pattern": rf"^[A-Za-z0-9_-]{{0,{MAX_LABEL}}}$"})]


MAX_RECIPE_NAME = 63


def _recipe_name(text: str) -> str:
    if not re.fullmatch(rf"[A-Za-z][A-Za-z0-9_-]{{0,{MAX_RECIPE_NAME - 1}}}", text):
        raise ValueError(f"{text!r} is not a recipe name (a letter, then up to "
                         f"{MAX_RECIPE_NAME - 1} letters, digits, _ or -)")
    return text


#: A recipe's name (`recipes:` keys, `builds[].recipe`): a plain word, so it reads the same
#: in a plan, a diff and a terminal.
RecipeName = Annotated[str, AfterValidator(_recipe_name), WithJsonSchema(
    {"type": "string", "pattern": rf"^[A-Za-z][A-Za-z0-9_-]{{0,{MAX_RECIPE_NAME - 1}}}$"})]


def kb_id(text: str) -> str:
    if not re.fullmatch(r"KB[0-9]{4,8}", text):
        raise ValueError(f"{text!r} is not a KB id (KB and 4 to 8 digits, e.g. KB5034439)")
    return text


#: A Windows update by its KB article, as IUpdate.KBArticleIDs lists it with KB before.
KbId = Annotated[str, AfterValidator(kb_id), WithJsonSchema(
    {"type": "string", "pattern": "^KB[0-9]{4,8}$"})]


# -- failure policy ------------------------------------------------------------------------

#: What happens to a build VM when one of its customize steps fails: left running (keep),
#: deallocated (compute released, disks kept: the default), or deleted with its disks.
FailurePolicy = Literal["keep", "deallocate", "delete"]


# -- licences ------------------------------------------------------------------------------

#: Azure Hybrid Benefit: one of `licensing.LICENSE_OS`'s keys, exactly as Azure spells
#: them; which OS each is for is checked by `license_os_problem` (config rules).
LicenseType = Literal["Windows_Server", "Windows_Client", "RHEL_BYOS", "SLES_BYOS"]


def license_os_problem(license_type: str | None, os: str) -> str | None:
    """Why a licence type does not fit the image's OS ('linux' or 'windows'), or None."""
    wanted = LICENSE_OS.get(license_type or "")
    if wanted is None or os not in LICENSE_OS.values() or wanted == os:
        return None
    fits = ", ".join(k for k, v in LICENSE_OS.items() if v == os)
    return (f"{license_type} is a {wanted.capitalize()} licence and the image is "
            f"{os.capitalize()}: use {fits}, or leave it out")


# -- exit codes ----------------------------------------------------------------------------

#: What a guest reports as a process's exit code: PowerShell's `$LASTEXITCODE` is a signed
#: 32-bit integer (0xC0000005 reads -1073741819); a Linux status is 0-255, which the step
#: rules check (`config/steps/kind.exit_code_problems`).
MIN_EXIT_CODE, MAX_EXIT_CODE = -(2**31), 2**31 - 1
ExitCode = Annotated[int, Field(ge=MIN_EXIT_CODE, le=MAX_EXIT_CODE, strict=True)]


# -- tags ----------------------------------------------------------------------------------

#: Azure's limits (learn.microsoft.com/azure/azure-resource-manager/management/tag-resources
#: "Limitations"): names up to 512 characters, values up to 256, and names without these.
MAX_TAG_NAME = 512
MAX_TAG_VALUE = 256
TAG_NAME_FORBIDDEN = "<>%&\\?/"
RESERVED_TAG_PREFIX = "vmimage-"
#: Look-alikes NFKC leaves alone (Unicode confusables.txt, a few that matter here): a tag
#: key folded through these and NFKC must not become the program's own prefix.
CONFUSABLES = str.maketrans({
    "ı": "i", "і": "i", "ɩ": "i", "ι": "i", "ӏ": "l", "ⅰ": "i", "ꙇ": "i",
    "м": "m", "ḿ": "m", "а": "a", "ɑ": "a", "α": "a", "ɡ": "g", "ց": "g", "е": "e", "ε": "e",
    "ё": "e", "ѕ": "s", "о": "o", "ο": "o", "р": "p", "с": "c", "ԁ": "d", "ν": "v",
    "ᴠ": "v", "ѵ": "v", "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "−": "-",
    "﹣": "-", "_": "-",
})


def folded(text: str) -> str:
    """A tag key as a reader may see it: compatibility-normalised, case-folded, accents
    and invisible format characters dropped, confusables mapped to ASCII."""
    text = unicodedata.normalize("NFKC", text).translate(CONFUSABLES).casefold()
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text
                   if unicodedata.category(c) not in ("Mn", "Cf")).translate(CONFUSABLES)


def _tag_key(text: str) -> str:
    if not 1 <= len(text) <= MAX_TAG_NAME:
        raise ValueError(f"a tag name is 1-{MAX_TAG_NAME} characters")
    forbidden = sorted({c for c in text if c in TAG_NAME_FORBIDDEN})
    if forbidden:
        raise ValueError(f"a tag name holds none of {' '.join(TAG_NAME_FORBIDDEN)} "
                         f"(has {' '.join(forbidden)})")
    if not text.isprintable():
        raise ValueError("a tag name holds no control or invisible characters")
    return text


def reads_as_reserved(key: str) -> bool:
    """A tag key that is, or reads as, one of the program's own (`vmimage-*`): refused by
    the rules (vmimage/config/rules.py), beside every other problem of the config."""
    return folded(key).startswith(RESERVED_TAG_PREFIX)


def _tag_value(text: str) -> str:
    if len(text) > MAX_TAG_VALUE:
        raise ValueError(f"a tag value is at most {MAX_TAG_VALUE} characters "
                         f"(has {len(text)})")
    if not text.isprintable():
        raise ValueError("a tag value holds no control or invisible characters")
    return text


TagKey = Annotated[str, AfterValidator(_tag_key), WithJsonSchema(
    {"type": "string", "minLength": 1, "maxLength": MAX_TAG_NAME,
     "pattern": r"^[^<>%&\\?/]+$"})]
TagValue = Annotated[str, AfterValidator(_tag_value), WithJsonSchema(
    {"type": "string", "maxLength": MAX_TAG_VALUE})]

# -- revocation ----------------------------------------------------------------------------

#: A revoked version's reason: recorded as the value of its `vmimage-revoked` tag, so within
#: a tag value's length, and shown on one line of a plan.
MAX_REASON = MAX_TAG_VALUE


def _reason(text: str) -> str:
    if not text.strip():
        raise ValueError("a reason says why, in a few words (it is empty)")
    if len(text) > MAX_REASON:
        raise ValueError(f"a reason is at most {MAX_REASON} characters (has {len(text)})")
    if not text.isprintable():
        raise ValueError("a reason is one line, without control or invisible characters")
    return text.strip()


#: A short one-line reason (`builds[].revoked`): why a version must no longer be used.
Reason = Annotated[str, AfterValidator(_reason), WithJsonSchema(
    {"type": "string", "minLength": 1, "maxLength": MAX_REASON, "pattern": r"\S"})]


# -- durations -----------------------------------------------------------------------------

#: The longest duration taken: ten years of days, so a date plus it stays a valid date.
MAX_DURATION_DAYS = 3650
#: The ISO 8601 subset read: `PnD` (days) or `PnW` (weeks), ASCII digits only, no sign, no
#: years or months (their length varies), no time part.
_DURATION = re.compile(r"P([0-9]{1,5})([DW])", re.ASCII)


class IsoDuration(str):
    """An ISO 8601 duration in days or weeks (`P90D`, `P12W`): the text, and its days."""

    days: int

    def __new__(cls, text: str, days: int) -> IsoDuration:
        made = super().__new__(cls, text)
        made.days = days
        return made


def parse_duration(text: str) -> IsoDuration:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError("a duration is ISO 8601 days or weeks, e.g. P90D or P12W (no "
                         "years, months, hours or sign)")
    days = int(match[1]) * (7 if match[2] == "W" else 1)
    if not 1 <= days <= MAX_DURATION_DAYS:
        raise ValueError(f"a duration is 1 to {MAX_DURATION_DAYS} days (this is {days})")
    return IsoDuration(text, days)


#: `gallery.retention.endOfLife`: how long after publication a version reaches end of life.
Duration = Annotated[str, AfterValidator(parse_duration), WithJsonSchema(
    {"type": "string", "pattern": r"^P[0-9]{1,5}[DW]$",
     "description": "ISO 8601 days or weeks, e.g. P90D or P12W"})]


# -- VM security types ---------------------------------------------------------------------

#: A VM's security type as the config names it: Standard (no securityProfile.securityType,
#: what ARM takes an absent one to mean), TrustedLaunch or ConfidentialVM (Azure's
#: `SecurityTypes`, spelt as Azure spells them).
SecurityType = Literal["Standard", "TrustedLaunch", "ConfidentialVM"]

#: A confidential VM's OS-disk encryption (Azure's `SecurityEncryptionTypes`, less
#: NonPersistedTPM, which keeps no guest state an image could carry).
SecurityEncryptionType = Literal["VMGuestStateOnly", "DiskWithVMGuestState"]
