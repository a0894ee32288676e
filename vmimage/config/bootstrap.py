"""A clone's bootstrap data, `clones[].userData` and `clones[].customData`: cloud-init or
Windows custom data from a project file or inline, rendered with its vars like a template
(StrictUndefined; a file that declares its vars has them checked by type), size-checked
against Azure's limits, and base64-encoded for the VM and the scale set's VM profile.

Pure: the rules, the resource-argument parts and the plan all read these functions, so
what is checked is what is registered. The content goes to Azure only as a Pulumi secret
(vmimage/parts/vm_profile.py); the plan shows `digest`, never the text.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from vmimage.azure.limits import MAX_CUSTOM_DATA_BYTES, MAX_USER_DATA_BASE64_CHARS
from vmimage.config.base import SpecModel
from vmimage.config.steps.script import read_script
from vmimage.config.values import ProjectPath
from vmimage.scripts.declarations import DeclarationError, parse_declaration
from vmimage.scripts.render import TemplateProblem, render_text

BootstrapKey = Literal["userData", "customData"]
DIGEST_CHARS = 12


class BootstrapData(SpecModel):
    file: ProjectPath | None = Field(
        None, description="a file of the project, relative to Pulumi.yaml's directory, "
        "rendered with vars (Jinja2, StrictUndefined)")
    # Not stripped: leading spaces and the last newline are part of cloud-init YAML.
    inline: Annotated[str, StringConstraints(strip_whitespace=False)] | None = Field(
        None, description="the text itself, rendered with vars (Jinja2, StrictUndefined)")
    vars: dict[str, Any] = Field(
        default_factory=dict, description="variables the text takes (checked by type when "
        "the file declares them, {#- vars: ... -#})")


def _source(data: BootstrapData) -> tuple[str, str]:
    """(name for messages, text); OSError or ValueError say why a file cannot be read."""
    if data.file is not None:
        return data.file, read_script(data.file)
    return "inline", data.inline or ""


def rendered(data: BootstrapData, os: str) -> str:
    """The text the VM receives; TemplateProblem, OSError or ValueError if it cannot be made."""
    name, source = _source(data)
    return render_text(source, data.vars, name=name, os=os)


def encoded(data: BootstrapData, os: str) -> str:
    """The base64 that osProfile.customData / userData carry."""
    return base64.b64encode(rendered(data, os).encode("utf-8")).decode("ascii")


def digest(data: BootstrapData, os: str) -> str:
    """What the plan shows instead of the content: the rendered text's sha256, shortened."""
    return hashlib.sha256(rendered(data, os).encode("utf-8")).hexdigest()[:DIGEST_CHARS]


def size_problem(key: BootstrapKey, text: str) -> str | None:
    """Azure's limit for the key (docs/azure-behaviours.md), against the rendered text."""
    raw = len(text.encode("utf-8"))
    if key == "customData" and raw > MAX_CUSTOM_DATA_BYTES:
        return (f"renders to {raw:,} bytes; Azure takes at most {MAX_CUSTOM_DATA_BYTES:,} "
                "(decoded customData)")
    b64 = 4 * ((raw + 2) // 3)
    if key == "userData" and b64 > MAX_USER_DATA_BASE64_CHARS:
        return (f"renders to {raw:,} bytes, {b64:,} as base64; Azure takes at most "
                f"{MAX_USER_DATA_BASE64_CHARS:,} (64 KB)")
    return None


def problems(data: BootstrapData, key: BootstrapKey, os: str, at: str) -> list[str]:
    """Every problem of one clone group's bootstrap data, at its key path `at`."""
    if (data.file is None) == (data.inline is None):
        return [f"{at}: give exactly one of file or inline"]
    try:
        name, source = _source(data)
    except (OSError, ValueError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        return [f"{at}.file: {reason}"]
    try:
        declared = parse_declaration(name, source)
    except DeclarationError as exc:
        return [f"{at}.file: {exc}"]
    if declared is not None:
        found = declared.problems(data.vars, f"{at}.vars")
        if found:
            return found
    try:
        text = rendered(data, os)
    except TemplateProblem as exc:
        return [f"{at}: {exc}"]
    size = size_problem(key, text)
    return [f"{at}: {size}"] if size else []
