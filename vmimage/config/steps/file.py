"""`{file: {source: files/motd, destination: /etc/motd}}` or
`{file: {uri: https://..., sha256: <64 hex>, destination: C:\\tools\\x.zip}}`: put one file
in the guest, checked against its SHA-256 before it is moved into place; a managed run
command (templates/linux/copy-file.sh.j2, templates/windows/copy-file.ps1.j2).

- `source`: a file of the project (relative to Pulumi.yaml's directory, as `script` paths
  are), embedded in the run command's script as base64 with its SHA-256. The script is
  bounded (MAX_SCRIPT_BYTES, vmimage/config/limits.py; docs/azure-behaviours.md: Azure
  documents no limit for an inline script, 256 KiB is ours), so the file is too: about
  193,000 bytes (188 KiB). A bigger file belongs in a blob.
- `uri`: an https URL the guest downloads. A `*.blob.core.windows.net` blob is read with a
  managed identity of the build VM: the script asks IMDS for a token for
  https://storage.azure.com/ and sends it with `x-ms-version: 2020-04-08`. Which identity
  (see `identity_for`): `identity:` if given (one of the build's `identities`), else the
  build's only one; a build with several must name one; a build without any reads the
  blob anonymously (a public container). IMDS takes a user-assigned identity by its ARM id
  as `msi_res_id` (learn.microsoft.com/entra/identity/managed-identities-azure-resources/
  how-to-use-vm-token); `client_id` would need the identity's client id, which config
  does not hold.

What the file is, not only where it comes from, makes up the image: the fingerprint holds
the source file's SHA-256 (or the uri and its SHA-256), so a changed file is a changed build.
"""

from __future__ import annotations

import base64
import hashlib
import re
import textwrap
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from pydantic import Field

from vmimage.config.base import SpecModel
from vmimage.config.limits import MAX_SCRIPT_BYTES
from vmimage.config.steps.kind import MAX_RUN_COMMAND_S, StepBuild, StepKind
from vmimage.config.values import BLOB_HOST_SUFFIXES, DownloadUri, HttpsUri, IdentityId
from vmimage.scripts.render import PROJECT_DIR, TemplateProblem, render

TEMPLATES = {"linux": "linux/copy-file.sh.j2", "windows": "windows/copy-file.ps1.j2"}
#: IMDS's token endpoint for Azure Storage (how-to-use-vm-token, "Get a token using HTTP").
IMDS_STORAGE_TOKEN = ("http://169.254.169.254/metadata/identity/oauth2/token"
                      "?api-version=2018-02-01&resource=https://storage.azure.com/")
#: The Blob service version sent with a bearer token (OAuth needs 2017-11-09 or later).
BLOB_API_VERSION = "2020-04-08"
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
#: Longest destination: Linux PATH_MAX; Windows MAX_PATH (longer paths need an opt-in
#: the image may not have).
MAX_DESTINATION = {"linux": 4096, "windows": 260}
#: Never in a destination or uri: quotes (also PowerShell's typographic ones), line
#: breaks and other control characters.
_QUOTES_AND_CONTROLS = re.compile("['\"`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\x00-\x1f\x7f]")
_WINDOWS_DESTINATION = re.compile(r"[A-Za-z]:\\[^<>:\"/|?*]+")
DEFAULT_MODE = "0644"


class FileOptions(SpecModel):
    source: str | None = Field(
        None, min_length=1, description="a file of the project, relative to Pulumi.yaml's "
        "directory, carried in the run command's script (about 188 KiB at most)")
    uri: DownloadUri | None = Field(
        None, description="an https URL the guest downloads, without credentials; a blob "
        "(*.blob.core.windows.net, or a sovereign cloud's) with the build VM's managed "
        "identity")
    sha256: str | None = Field(
        None, description="the file's SHA-256, 64 hex digits: required with uri; with "
        "source, checked against the file")
    destination: str = Field(
        min_length=1, description="where the file goes in the guest: an absolute path "
        "(/... on Linux, C:\\... on Windows); its directory is created")
    identity: IdentityId | None = Field(
        None, description="the user-assigned identity (ARM id, one of the build's "
        "identities) that reads a blob uri; needed when the build has several")
    mode: str | None = Field(
        None, description="Linux: the file's octal mode (default 0644); owner root")
    timeout_seconds: int = Field(1800, ge=60, le=MAX_RUN_COMMAND_S,
                                 description="run command timeout in seconds")


class FileStep(SpecModel):
    file: FileOptions = Field(description="put one file in the guest, checked against its "
                              "SHA-256: from the project (source) or downloaded (uri)")


def is_blob(uri: str | None) -> bool:
    """A blob endpoint, as the one parser read the host (values.HttpsUri)."""
    return isinstance(uri, HttpsUri) and uri.is_blob


# -- the source file -----------------------------------------------------------------------


def read_source(relative: str) -> bytes:
    """The source file's bytes; OSError or ValueError say why it cannot be used (before
    reading a file too big to carry at all). PROJECT_DIR is looked up in this module when
    called, so tests can point it elsewhere."""
    path = PROJECT_DIR / relative
    if not path.is_file():
        raise OSError(f"{relative!r} is not a file of the project")
    root = PROJECT_DIR.resolve()
    if not path.resolve().is_relative_to(root):
        raise OSError(f"{relative!r} leads outside the project (a link)")
    size = path.stat().st_size
    if size > MAX_SCRIPT_BYTES:
        raise ValueError(_too_big(relative, size, None))
    return path.read_bytes()


def _too_big(relative: str, size: int, script_bytes: int | None) -> str:
    carried = (f"as base64 in its run command script it takes {script_bytes:,} bytes"
               if script_bytes is not None else "more still as base64 in its run command "
               "script")
    return (f"{relative!r} is {size:,} bytes; {carried}, and a script holds at most "
            f"{MAX_SCRIPT_BYTES:,} (MAX_SCRIPT_BYTES, docs/azure-behaviours.md): put it in "
            "a blob and give its uri")


def _payload(data: bytes) -> str:
    """Base64 in lines of 76 characters, as `base64` writes it (both decoders skip the
    line breaks)."""
    return "\n".join(textwrap.wrap(base64.b64encode(data).decode("ascii"), 76))


# -- identities ----------------------------------------------------------------------------


def identity_for(options: FileOptions, identities: tuple[str, ...]) -> str | None:
    """The identity that reads a blob uri (None: no blob, or the build has no identity, so
    the blob is read anonymously). ValueError says why none can be chosen."""
    if not is_blob(options.uri):
        return None
    if options.identity is not None:
        match = next((i for i in identities if i == options.identity), None)  # ArmId: any case
        if match is None:
            raise ValueError(f"{options.identity!r} is not one of the build's identities")
        return match
    if len(identities) > 1:
        raise ValueError(f"the build has {len(identities)} identities: name the one that "
                         "reads the blob with identity")
    return identities[0] if identities else None


def token_url(identity: str) -> str:
    """IMDS's token URL for Azure Storage, for one user-assigned identity (by ARM id)."""
    return f"{IMDS_STORAGE_TOKEN}&msi_res_id={quote(identity, safe='')}"


# -- the script ----------------------------------------------------------------------------


def variables(options: FileOptions, *, os: str, identity: str | None,
              data: bytes | None = None) -> dict[str, Any]:
    """The copy-file template's vars (`data`: the source file's bytes, read if not given)."""
    found: dict[str, Any] = {"destination": options.destination,
                             "embedded": options.source is not None, "payload": "",
                             "uri": "", "token_url": "", "blob_api_version": BLOB_API_VERSION,
                             "blob_host_suffixes": list(BLOB_HOST_SUFFIXES)}
    if os == "linux":
        found["mode"] = options.mode or DEFAULT_MODE
    if options.source is not None:
        data = read_source(options.source) if data is None else data
        found["payload"] = _payload(data)
        found["sha256"] = hashlib.sha256(data).hexdigest()
    else:
        found["uri"] = options.uri or ""
        found["sha256"] = (options.sha256 or "").lower()
        if identity is not None and is_blob(options.uri):
            found["token_url"] = token_url(identity)
    return found


def render_script(options: FileOptions, *, os: str, vm_name: str, identity: str | None,
                  data: bytes | None = None) -> str:
    return render(TEMPLATES[os], variables(options, os=os, identity=identity, data=data),
                  os=os, vm_name=vm_name)


# -- the kind ------------------------------------------------------------------------------


def _source_problems(options: FileOptions, os: str, here: str) -> list[str]:
    relative = options.source or ""
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or "\\" in relative:
        return [f"{here}.source: {relative!r} must be a path inside the project, relative "
                "to Pulumi.yaml's directory, without '..'"]
    try:
        data = read_source(relative)
    except (OSError, ValueError) as exc:
        return [f"{here}.source: {exc}"]
    found = []
    actual = hashlib.sha256(data).hexdigest()
    if options.sha256 is not None and SHA256.fullmatch(options.sha256) and \
            options.sha256.lower() != actual:
        found.append(f"{here}.sha256: {relative!r} has SHA-256 {actual}, not "
                     f"{options.sha256.lower()}")
    script = render_script(options, os=os, vm_name="validation", identity=None, data=data)
    size = len(script.encode("utf-8"))
    if size > MAX_SCRIPT_BYTES:
        found.append(f"{here}.source: {_too_big(relative, len(data), size)}")
    return found


def destination_problem(destination: str, os: str) -> str | None:
    """Why `destination` is no place for the file in an `os` guest, or None."""
    shown = repr(destination)
    if len(destination) > MAX_DESTINATION[os]:
        return f"{len(destination):,} characters; at most {MAX_DESTINATION[os]:,}"
    bad = _QUOTES_AND_CONTROLS.search(destination)
    if bad:
        return f"{shown} holds {bad.group(0)!r}: no quotes or line breaks"
    if os == "linux":
        parts = destination.split("/")
        if not destination.startswith("/"):
            return f"{shown} must be an absolute path (/...)"
        if destination.endswith("/") or "." in parts or ".." in parts:
            return f"{shown} must name a file, without '.' or '..'"
        return None
    if not _WINDOWS_DESTINATION.fullmatch(destination):
        return (f"{shown} must be an absolute path (C:\\...) without / or any of "
                "<>:\"|?*")
    parts = destination[3:].split("\\")
    if destination.endswith("\\") or "" in parts or "." in parts or ".." in parts:
        return f"{shown} must name a file, without '.', '..' or empty parts"
    return None


def _problems(step: FileStep, os: str, at: str) -> list[str]:
    here = f"{at}.file"
    options = step.file
    if (options.source is None) == (options.uri is None):
        return [f"{here}: give exactly one of source (a file of the project) or uri"]
    found = []
    if options.sha256 is not None and not SHA256.fullmatch(options.sha256):
        found.append(f"{here}.sha256: {options.sha256!r} is not a SHA-256 (64 hex digits)")
    problem = destination_problem(options.destination, os)
    if problem:
        found.append(f"{here}.destination: {problem}")
    if options.mode is not None:
        if os != "linux":
            found.append(f"{here}.mode: a Linux file mode; a {os} file takes none")
        elif not re.fullmatch(r"0?[0-7]{3}", options.mode):
            found.append(f"{here}.mode: {options.mode!r} is not an octal mode such as 0644 "
                         "(quote it in YAML)")
    if options.uri is not None:
        if options.sha256 is None:
            found.append(f"{here}.sha256: required with uri: the download is checked "
                         "against it")
        if options.identity is not None and not is_blob(options.uri):
            blobs = ", ".join(f"*{suffix}" for suffix in BLOB_HOST_SUFFIXES)
            found.append(f"{here}.identity: only a blob ({blobs}) is read with an identity")
    if options.source is not None:
        found += _source_problems(options, os, here)
    return found


def _fingerprint(step: FileStep) -> dict[str, Any]:
    dumped = step.model_dump(mode="json", by_alias=True, exclude_none=True)
    if step.file.source is not None:
        try:
            dumped["file"]["sha256"] = hashlib.sha256(read_source(step.file.source)).hexdigest()
        except (OSError, ValueError):
            dumped["file"]["sha256"] = None  # refused as a problem
    elif step.file.sha256 is not None:
        dumped["file"]["sha256"] = step.file.sha256.lower()
    return dumped


def _script_text(step: FileStep, os: str) -> str | None:
    try:
        text = render_script(step.file, os=os, vm_name="validation",
                             identity=step.file.identity)
    except (OSError, ValueError, TemplateProblem):
        return None
    # Too big to carry: reported by _problems, with the file's own advice.
    return text if len(text.encode("utf-8")) <= MAX_SCRIPT_BYTES else None


def _build_problems(step: FileStep, build: StepBuild, at: str) -> list[str]:
    """The identity a blob is read with must be the build VM's (checked with the spec,
    before anything is registered)."""
    try:
        identity_for(step.file, tuple(build.identities))
    except ValueError as exc:
        return [f"{at}.file.identity: {exc} ({', '.join(build.identities) or 'none'})"]
    return []




KIND = StepKind(key="file", model=FileStep, problems=_problems,
                build_problems=_build_problems, fingerprint=_fingerprint,
                script_text=_script_text,
                description="one file in the guest, from the project or a URL, checked by "
                "its SHA-256")
