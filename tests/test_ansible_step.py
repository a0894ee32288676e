"""The `ansible` customize step (vmimage/config/steps/ansible.py, vmimage/steps/ansible.py,
templates/linux/ansible.sh.j2): its problems at their key paths (Linux builds only), what
it registers under plain mocks, and its rendered script run for real: ansible-core
pip-installed into a throwaway virtual environment, a tiny playbook run with
`-c local` against this machine, everything removed afterwards."""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from conftest import LOCATION, load_stack_dict, problems_of
from program_mocks import run_program

import vmimage.config.steps.ansible as ansible_kind
from vmimage.config.steps import KINDS
from vmimage.config.validate import load_spec
from vmimage.vocabulary import RUN_COMMAND, STEP_INDEX_TAG, STEP_KIND_TAG

PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: write what the config said
      ansible.builtin.copy:
        dest: "{{ out }}/motd"
        content: "{{ banner }}"
        mode: "0640"
    - name: a file of the shipped folder arrives too
      ansible.builtin.copy:
        src: files/extra.txt
        dest: "{{ out }}/extra.txt"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "ansible" / "files").mkdir(parents=True)
    (root / "ansible" / "site.yml").write_text(PLAYBOOK)
    (root / "ansible" / "files" / "extra.txt").write_text("shipped\n")
    (root / "ansible" / "requirements.yml").write_text("collections: []\n")
    monkeypatch.setattr(ansible_kind, "PROJECT_DIR", root)
    return root


def with_steps(steps: list[dict[str, Any]], stack: str = "dev") -> dict[str, Any]:
    config = load_stack_dict(stack)
    config["vmimage:pipeline"]["builds"][0]["customize"] = copy.deepcopy(steps)
    return config


def pipeline(steps: list[dict[str, Any]], stack: str = "dev") -> dict[str, Any]:
    return with_steps(steps, stack)["vmimage:pipeline"]


def test_the_kind_is_in_the_table() -> None:
    assert KINDS["ansible"].model.__module__ == "vmimage.config.steps.ansible"


def test_a_windows_build_is_refused_naming_the_key(project: Path) -> None:
    assert problems_of(pipeline([{"ansible": {"playbook": "ansible/site.yml"}}], "win")) == [
        "builds[0].customize[0].ansible: Ansible steps run on linux builds only (this is a "
        "windows build; use template, script or inline steps with PowerShell)"]


@pytest.mark.parametrize(("options", "problem"), [
    ({"playbook": "../site.yml"}, ".playbook: '../site.yml' must be a path inside the "
     "project, relative to Pulumi.yaml's directory, without '..'"),
    ({"playbook": "ansible/site.cfg"}, ".playbook: 'ansible/site.cfg' is not a playbook "
     "(.yml or .yaml)"),
    ({"playbook": "site.yml"}, ".playbook: put the playbook in a folder of its own (e.g. "
     "ansible/site.yml): that folder is shipped to the guest"),
    ({"playbook": "ansible/gone.yml"}, ".playbook: 'ansible/gone.yml' is not a file of the "
     "project"),
    ({"playbook": "ansible/site.yml", "requirements": "other/requirements.yml"},
     ".requirements: 'other/requirements.yml' must be inside the playbook's folder "
     "'ansible' (it is shipped with it)"),
    ({"playbook": "ansible/site.yml", "extraVars": {"not-a-name": 1}},
     ".extraVars.not-a-name: not an Ansible variable name (letters, digits and _, not "
     "first a digit)"),
])
def test_problems_name_their_key_path(project: Path, options: dict[str, Any],
                                      problem: str) -> None:
    assert problems_of(pipeline([{"ansible": options}])) == [
        f"builds[0].customize[0].ansible{problem}"]


def test_a_folder_too_big_for_its_script_is_refused(project: Path) -> None:
    (project / "ansible" / "files" / "big.bin").write_bytes(os.urandom(300 * 1024))
    (problem,) = problems_of(pipeline([{"ansible": {"playbook": "ansible/site.yml"}}]))
    assert problem.startswith("builds[0].customize[0].ansible.playbook: the playbook's folder "
                              "'ansible' is too big to carry in a run command: ")
    assert "a script holds at most 262,144" in problem


def test_the_archive_is_the_same_bytes_for_the_same_files(project: Path) -> None:
    first = ansible_kind.archive(ansible_kind.folder_of("ansible/site.yml"))
    os.utime(project / "ansible" / "site.yml", (1, 1))
    assert ansible_kind.archive(ansible_kind.folder_of("ansible/site.yml")) == first
    (project / "ansible" / "site.yml").write_text(PLAYBOOK + "# changed\n")
    assert ansible_kind.archive(ansible_kind.folder_of("ansible/site.yml")) != first


def test_it_registers_one_tagged_run_command_with_the_folder_in_it(project: Path) -> None:
    steps = [{"inline": "echo first"},
             {"ansible": {"playbook": "ansible/site.yml", "extraVars": {"banner": "hi"}}}]
    recorded = run_program(with_steps(steps))
    commands = [r for r in recorded.resources if r.type == RUN_COMMAND
                and r.inputs["tags"].get(STEP_INDEX_TAG) is not None]
    assert [(c.inputs["tags"][STEP_KIND_TAG], c.inputs["tags"][STEP_INDEX_TAG])
            for c in commands] == [("inline", "0"), ("ansible", "1")]
    script = commands[1].inputs["source"]["script"]
    payload = script.split("<<'VMIMAGE_PAYLOAD'", 1)[1].split("\n", 1)[1]
    payload = payload.split("\nVMIMAGE_PAYLOAD\n")[0]
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(payload))) as tar:
        assert sorted(tar.getnames()) == ["files", "files/extra.txt", "requirements.yml",
                                          "site.yml"]
    assert commands[0].urn in commands[1].dependencies


def test_the_fingerprint_holds_the_folder(project: Path) -> None:
    raw = pipeline([{"ansible": {"playbook": "ansible/site.yml"}}])
    spec = load_spec(raw, location=LOCATION).spec
    before = KINDS["ansible"].fingerprint(spec.builds[0].customize[0])
    (project / "ansible" / "files" / "extra.txt").write_text("changed\n")
    after = KINDS["ansible"].fingerprint(spec.builds[0].customize[0])
    assert before["ansible"]["sha256"] != after["ansible"]["sha256"]


# -- the script, run for real --------------------------------------------------------------------

HOSTILE = "it's $(touch pwned) `touch pwned2`; \"quoted\"\nsecond line"


def run_script(project: Path, tmp_path: Path, options: dict[str, Any]
               ) -> subprocess.CompletedProcess[str]:
    """The rendered script under bash, its throwaway folder under `tmp_path/work`; pip
    installs ansible-core from PyPI (or pip's cache) as the guest would."""
    (tmp_path / "work").mkdir()
    script = tmp_path / "ansible.sh"
    script.write_text(ansible_kind.render_script(
        ansible_kind.AnsibleOptions(**options), vm_name="vm-build-1",
        work_root=str(tmp_path / "work")))
    # python3 of this test run (it makes virtual environments), first on PATH.
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
           "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    env.update({k: v for k, v in os.environ.items() if k.startswith(("PIP_", "XDG_CACHE"))})
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                          timeout=900, cwd=tmp_path)


def test_the_playbook_runs_locally_and_everything_it_needed_goes(project: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done = run_script(project, tmp_path, {
        "playbook": "ansible/site.yml",
        "extraVars": {"out": str(out), "banner": HOSTILE}})
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert (out / "motd").read_text() == HOSTILE  # the typed value, as it was
    assert oct((out / "motd").stat().st_mode & 0o777) == "0o640"
    assert (out / "extra.txt").read_text() == "shipped\n"
    assert list((tmp_path / "work").iterdir()) == []  # venv, playbook, Ansible's files
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    assert "ansible: site.yml done" in done.stdout


def test_a_failing_playbook_fails_the_step_and_still_cleans_up(project: Path,
                                                               tmp_path: Path) -> None:
    (project / "ansible" / "site.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.fail:\n        msg: \"{{ reason }}\"\n")
    done = run_script(project, tmp_path, {"playbook": "ansible/site.yml",
                                          "extraVars": {"reason": "told to"}})
    assert done.returncode != 0
    assert "told to" in done.stdout
    assert "ansible: the playbook site.yml failed" in done.stderr
    assert list((tmp_path / "work").iterdir()) == []


def test_the_extra_vars_reach_the_script_as_base64_json_only(project: Path) -> None:
    options = ansible_kind.AnsibleOptions(playbook="ansible/site.yml",
                                          extraVars={"banner": HOSTILE, "n": 3})
    script = ansible_kind.render_script(options, vm_name="vm-build-1")
    assert HOSTILE not in script and "touch pwned" not in script
    (line,) = [x for x in script.splitlines() if x.startswith("printf '%s' ")]
    encoded = line.split()[2]
    assert json.loads(base64.b64decode(encoded)) == {"banner": HOSTILE, "n": 3}
