"""`{ansible: {playbook: ansible/site.yml, requirements: ansible/requirements.yml,
extraVars: {...}}}`: run an Ansible playbook in the build VM's guest against the guest
itself (`ansible-playbook -c local -i localhost,`), as a managed run command
(templates/linux/ansible.sh.j2); Linux builds only.

- The playbook's folder (the directory that holds `playbook`, relative to Pulumi.yaml's
  directory) is shipped in the run command's script as a gzipped tar, base64, so it is
  bounded as a `file` step's source is (MAX_SCRIPT_BYTES): a bigger folder belongs in a
  blob, fetched by a `file` step.
- ansible-core is installed in a throwaway virtual environment in the guest; the
  environment, the playbook and everything Ansible wrote for itself are removed when the
  script ends, before the seal, so the image keeps only what the playbook did.
- `requirements`: an ansible-galaxy requirements file inside the playbook's folder,
  installed into the throwaway place before the playbook runs (the guest needs egress).
- `extraVars`: typed values given to the playbook as a JSON file (`-e @file`), never
  written into the shell script as shell words.

What the folder holds, not only its name, makes up the image: the fingerprint holds the
SHA-256 of the shipped archive.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
import textwrap
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import Field, JsonValue

from vmimage.config.base import SpecModel
from vmimage.config.limits import MAX_SCRIPT_BYTES
from vmimage.config.steps.kind import MAX_RUN_COMMAND_S, StepKind
from vmimage.scripts.render import PROJECT_DIR, TemplateProblem, render

TEMPLATE = "linux/ansible.sh.j2"
#: What the guest installs in its throwaway environment (pip requirement).
ANSIBLE_CORE = "ansible-core>=2.16,<2.19"
#: Where the guest keeps the run's throwaway folder (removed at the end).
WORK_ROOT = "/var/tmp"
#: An Ansible variable name (ansible/ansible lib/ansible/utils/vars.py `isidentifier`).
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PLAYBOOK_SUFFIXES = (".yml", ".yaml")


class AnsibleOptions(SpecModel):
    playbook: str = Field(
        min_length=1, description="the playbook, relative to Pulumi.yaml's directory "
        "(.yml or .yaml); its folder is shipped to the guest (about 188 KiB at most)")
    requirements: str | None = Field(
        None, min_length=1, description="an ansible-galaxy requirements file inside the "
        "playbook's folder, installed before the playbook runs")
    extra_vars: dict[str, JsonValue] = Field(
        default_factory=dict, description="variables given to the playbook as JSON "
        "(`-e @file`): names are Ansible variable names")
    timeout_seconds: int = Field(3600, ge=60, le=MAX_RUN_COMMAND_S,
                                 description="run command timeout in seconds")


class AnsibleStep(SpecModel):
    ansible: AnsibleOptions = Field(
        description="run an Ansible playbook against the guest itself, with ansible-core "
        "in a throwaway virtual environment (linux builds)")


# -- the shipped folder ------------------------------------------------------------------------


def folder_of(playbook: str) -> PurePosixPath:
    return PurePosixPath(playbook).parent


def archive(folder: PurePosixPath, root: Path | None = None) -> bytes:
    """The folder as a gzipped tar, the same bytes for the same files (sorted, no times,
    owner root), so an unchanged folder is an unchanged script and fingerprint. OSError
    or ValueError say why it cannot be shipped."""
    base = (root or PROJECT_DIR).resolve()
    path = base / folder
    if not path.is_dir():
        raise OSError(f"{str(folder)!r} is not a folder of the project")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for file in sorted(p for p in path.rglob("*")):
            if file.is_symlink() or not (file.is_file() or file.is_dir()):
                raise ValueError(f"{str(file.relative_to(base))!r} is a link or a special "
                                 "file: ship plain files only")
            info = tar.gettarinfo(str(file), arcname=str(file.relative_to(path)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
            info.mode = 0o755 if file.is_dir() or info.mode & 0o111 else 0o644
            if file.is_file():
                with file.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
            if buffer.tell() > 8 * MAX_SCRIPT_BYTES:  # beyond what gzip could ever carry
                raise ValueError(_too_big(folder))
    # gzip's header holds a time too: none, so the bytes depend on the files only.
    return gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0)


def _too_big(folder: PurePosixPath, script_bytes: int | None = None) -> str:
    size = f"its script takes {script_bytes:,} bytes" if script_bytes is not None else \
        "its archive alone is bigger"
    return (f"the playbook's folder {str(folder)!r} is too big to carry in a run command: "
            f"{size}, and a script holds at most {MAX_SCRIPT_BYTES:,} (MAX_SCRIPT_BYTES, "
            "docs/azure-behaviours.md): keep large files in a blob and fetch them with a "
            "file step")


def _payload(data: bytes) -> str:
    return "\n".join(textwrap.wrap(base64.b64encode(data).decode("ascii"), 76))


# -- the script --------------------------------------------------------------------------------


def variables(options: AnsibleOptions, *, data: bytes | None = None,
              work_root: str = WORK_ROOT) -> dict[str, Any]:
    """The template's vars (`data`: the folder's archive, made if not given)."""
    folder = folder_of(options.playbook)
    data = archive(folder) if data is None else data
    extra = json.dumps(options.extra_vars, sort_keys=True, ensure_ascii=True)
    requirements = str(PurePosixPath(options.requirements).relative_to(folder)) \
        if options.requirements else ""
    return {"payload": _payload(data), "sha256": hashlib.sha256(data).hexdigest(),
            "playbook": PurePosixPath(options.playbook).name, "requirements": requirements,
            "extra_vars": base64.b64encode(extra.encode("ascii")).decode("ascii"),
            "ansible_core": ANSIBLE_CORE, "work_root": work_root}


def render_script(options: AnsibleOptions, *, vm_name: str, data: bytes | None = None,
                  work_root: str = WORK_ROOT) -> str:
    return render(TEMPLATE, variables(options, data=data, work_root=work_root),
                  os="linux", vm_name=vm_name)


# -- the kind ----------------------------------------------------------------------------------


def _path_problem(value: str) -> str | None:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value or value.startswith("-"):
        return (f"{value!r} must be a path inside the project, relative to Pulumi.yaml's "
                "directory, without '..'")
    return None


def _problems(step: AnsibleStep, os: str, at: str) -> list[str]:
    here = f"{at}.ansible"
    if os != "linux":
        return [f"{here}: Ansible steps run on linux builds only (this is a {os} build; "
                "use template, script or inline steps with PowerShell)"]
    options = step.ansible
    found = []
    problem = _path_problem(options.playbook)
    if problem:
        found.append(f"{here}.playbook: {problem}")
    elif not options.playbook.endswith(PLAYBOOK_SUFFIXES):
        found.append(f"{here}.playbook: {options.playbook!r} is not a playbook (.yml or .yaml)")
    elif folder_of(options.playbook) == PurePosixPath("."):
        found.append(f"{here}.playbook: put the playbook in a folder of its own (e.g. "
                     f"ansible/{options.playbook}): that folder is shipped to the guest")
    elif not (PROJECT_DIR / options.playbook).is_file():
        found.append(f"{here}.playbook: {options.playbook!r} is not a file of the project")
    if options.requirements is not None:
        problem = _path_problem(options.requirements)
        folder = folder_of(options.playbook)
        if problem:
            found.append(f"{here}.requirements: {problem}")
        elif not PurePosixPath(options.requirements).is_relative_to(folder):
            found.append(f"{here}.requirements: {options.requirements!r} must be inside the "
                         f"playbook's folder {str(folder)!r} (it is shipped with it)")
        elif not (PROJECT_DIR / options.requirements).is_file():
            found.append(f"{here}.requirements: {options.requirements!r} is not a file of "
                         "the project")
    found += [f"{here}.extraVars.{name}: not an Ansible variable name (letters, digits and "
              "_, not first a digit)" for name in options.extra_vars
              if not VAR_NAME.fullmatch(name)]
    if not found:
        found += _size_problems(options, here)
    return found


def _size_problems(options: AnsibleOptions, here: str) -> list[str]:
    folder = folder_of(options.playbook)
    try:
        data = archive(folder)
    except (OSError, ValueError) as exc:
        return [f"{here}.playbook: {exc}"]
    size = len(render_script(options, vm_name="validation", data=data).encode("utf-8"))
    if size > MAX_SCRIPT_BYTES:
        return [f"{here}.playbook: {_too_big(folder, size)}"]
    return []


def _fingerprint(step: AnsibleStep) -> dict[str, Any]:
    dumped = step.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        dumped["ansible"]["sha256"] = hashlib.sha256(
            archive(folder_of(step.ansible.playbook))).hexdigest()
    except (OSError, ValueError):
        dumped["ansible"]["sha256"] = None  # refused as a problem
    return dumped


def _script_text(step: AnsibleStep, os: str) -> str | None:
    if os != "linux":
        return None
    try:
        return render_script(step.ansible, vm_name="validation")
    except (OSError, ValueError, TemplateProblem):
        return None


KIND = StepKind(key="ansible", model=AnsibleStep, problems=_problems,
                fingerprint=_fingerprint, script_text=_script_text,
                description="an Ansible playbook run against the guest, ansible-core in a "
                "throwaway virtual environment (linux builds)")
