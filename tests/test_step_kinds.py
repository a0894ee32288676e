"""Customize steps of every kind (vmimage/config/steps/, vmimage/steps/): template,
script, inline and restart, in one sequence, offline and under plain mocks; their
validation, each problem at its key path; and what a captured build's fingerprint covers."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, load_stack_dict
from program_mocks import run_program

import vmimage.config.steps.script as script_kind
from offline.latency import LatencyModel
from offline.runner import StackConfig
from offline.up import up
from vmimage.config.errors import SpecError
from vmimage.config.fingerprint import build_fingerprint
from vmimage.config.steps import KINDS
from vmimage.config.validate import load_spec
from vmimage.scripts.exit_codes import unwrapped
from vmimage.vocabulary import FINGERPRINT_TAG, GALLERY_IMAGE_VERSION, RESTART, RUN_COMMAND

STEPS = {
    "dev": [{"template": "linux/install-packages.sh.j2", "vars": {"packages": ["nginx"]}},
            {"restart": {"timeoutSeconds": 600}},
            {"script": "scripts/linux/harden-ssh.sh"},
            {"inline": "systemctl is-enabled nginx"}],
    "win": [{"template": "windows/install-features.ps1.j2", "vars": {"features": ["Web-Server"]}},
            {"restart": {}},
            {"script": "scripts/windows/disable-smb1.ps1", "timeoutSeconds": 900},
            {"inline": "Get-WindowsFeature Web-Server"}],
}


def own_script(runs: str) -> str:
    """The step's script inside its exit-code wrapper (Windows), or the script itself."""
    inner = unwrapped(runs)
    return inner[0] if inner else runs


def with_steps(stack: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    config = load_stack_dict(stack)
    config["vmimage:pipeline"]["builds"][0]["customize"] = copy.deepcopy(steps)
    return config


def test_every_kind_is_its_own_module_in_the_table() -> None:
    assert list(KINDS) == ["template", "script", "inline", "restart", "windowsUpdate", "file",
                          "ansible"]
    for key, kind in KINDS.items():
        # the module and the field are the key in Python's spelling (windowsUpdate:
        # windows_update)
        python_name = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        assert kind.model.__module__ == f"vmimage.config.steps.{python_name}"
        assert python_name in kind.model.model_fields


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_all_kinds_run_in_order_offline(stack: str) -> None:
    config = with_steps(stack, STEPS[stack])
    outcome = up(StackConfig(stack, config), latency=LatencyModel())
    run = outcome.run
    assert not (run.failures or run.error or run.config_problems), run.error or run.failures
    steps = sorted((r for r in run.registrations if r.type in (RUN_COMMAND, RESTART)),
                   key=lambda r: r.start_s)
    # on Windows each user script is followed by its own restart (exit code 3010 is valid
    # there, and install-features may print the marker), which runs only if it asks
    asked = [RESTART] if stack == "win" else []
    assert [r.type for r in steps] == [RUN_COMMAND, *asked, RESTART, RUN_COMMAND, *asked,
                                       RUN_COMMAND, *asked]
    for conditional in (r for r in steps if r.inputs.get("whenAskedBy")):
        assert conditional.outputs["agentStatus"] == "not restarted"  # the guest did not ask
    # each waits for the one before: no overlap on the VM
    for before, after in zip(steps, steps[1:], strict=False):
        assert after.start_s >= before.end_s and before.urn in after.dependencies
    # the script step ran the file as it is; the inline step its text
    script = (ROOT / STEPS[stack][2]["script"]).read_text()
    sources = [own_script(r.inputs["source"]["script"]) for r in steps if r.type == RUN_COMMAND]
    assert sources[1] == script and sources[2] == STEPS[stack][3]["inline"]
    # the restart really rebooted the VM, and waited for its agent
    (restart,) = [r for r in steps if r.type == RESTART and not r.inputs.get("whenAskedBy")]
    assert restart.outputs["agentStatus"] == "Ready"
    ops = [o.op for o in run.operations if o.resource == restart.urn]
    assert "restart" in ops
    assert restart.end_s - restart.start_s >= run.arm.latency("vm.restart") + \
        run.arm.latency("guest.boot")


def test_all_kinds_register_under_plain_mocks() -> None:
    recorded = run_program(with_steps("dev", STEPS["dev"]), preview=True)
    commands = recorded.of_type(RUN_COMMAND)
    assert [c.inputs["runCommandName"] for c in commands] == [
        "customize-00-install-packages", "customize-02-harden-ssh", "customize-03-inline"]
    (restart,) = recorded.of_type(RESTART)
    assert restart.inputs["timeoutSeconds"] == 600
    assert commands[0].urn in restart.dependencies
    assert restart.urn in commands[1].dependencies  # the script waits for the reboot


@pytest.mark.parametrize(("steps", "problem"), [
    ([{"script": "scripts/linux/missing.sh"}],
     "builds[0].customize[0].script: 'scripts/linux/missing.sh' is not a file of the project"),
    ([{"script": "scripts/windows/disable-smb1.ps1"}],
     "builds[0].customize[0].script: linux builds run .sh scripts (got "
     "'scripts/windows/disable-smb1.ps1')"),
    ([{"script": "/etc/passwd.sh"}],
     "builds[0].customize[0].script: '/etc/passwd.sh' must be a path inside the project, "
     "relative to Pulumi.yaml's directory, without '..'"),
    ([{"inline": "echo \x00"}], "builds[0].customize[0].inline: holds a NUL character: not a "
     "script"),
    ([{"inline": "x" * (256 * 1024 + 1)}],
     "builds[0].customize[0]: its script is 262,145 bytes as the guest gets it; at most "
     "262,144 (MAX_SCRIPT_BYTES): put it in a blob (a file step with a uri)"),
    ([{"restart": {"timeoutSeconds": 5}}],
     "builds[0].customize[0].restart.timeoutSeconds: must be at least 60 (got 5)"),
    ([{"restart": {"timeoutSecond": 600}}],
     "builds[0].customize[0].restart.timeoutSecond: unknown key; did you mean "
     "'timeoutSeconds'?"),
    ([{"inline": "echo", "restart": {}}],
     "builds[0].customize[0]: give exactly one of template, script, inline, restart, "
     "windowsUpdate, file or ansible"),
    ([{"script": "scripts/linux/harden-ssh.sh", "vars": {}}],
     "builds[0].customize[0].vars: unknown key; expected one of ['script', "
     "'timeoutSeconds', 'validExitCodes']"),
])
def test_each_kind_names_its_problems(steps: list[dict[str, Any]], problem: str) -> None:
    raw = with_steps("dev", steps)["vmimage:pipeline"]
    with pytest.raises(SpecError) as raised:
        load_spec(raw, location="westeurope")
    assert raised.value.problems == [problem]


def test_a_restart_with_nothing_after_it_takes_the_defaults() -> None:
    raw = with_steps("dev", [{"restart": None}])["vmimage:pipeline"]
    (step,) = load_spec(raw, location="westeurope").spec.builds[0].customize
    assert step.restart.timeout_seconds == 900


def test_a_script_file_s_content_is_part_of_the_build(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "x.sh"
    script.write_text("echo one\n")
    monkeypatch.setattr(script_kind, "PROJECT_DIR", tmp_path)
    raw = with_steps("dev", [{"script": "scripts/x.sh"}])["vmimage:pipeline"]
    loaded = load_spec(raw, location="westeurope").spec
    first = build_fingerprint(loaded, loaded.builds[0])
    script.write_text("echo two\n")
    assert build_fingerprint(loaded, loaded.builds[0]) != first


def test_template_fingerprints_did_not_move() -> None:
    """Builds captured before step kinds existed keep their fingerprint (or every one of
    them would be refused as changed): the fingerprint the previous program tagged the
    dev stack's 1.0.0 image with (tests/fixtures/before-image-build) is still its own."""
    state = json.loads((ROOT / "tests/fixtures/before-image-build/dev.json").read_text())
    (tag,) = {r["inputs"]["tags"][FINGERPRINT_TAG] for r in state["resources"]
              if r["type"] == GALLERY_IMAGE_VERSION
              and r["inputs"]["galleryImageVersionName"] == "1.0.0"}
    loaded = load_spec(load_stack_dict("dev")["vmimage:pipeline"], location="westeurope").spec
    assert build_fingerprint(loaded, loaded.builds[0]) == tag
