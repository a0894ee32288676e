"""After capture the build VM is frozen, under `pulumi up` as much as offline: the program
asks Azure which builds are captured before it registers anything, refuses to change or
retire what it must not, and registers a captured build's resources so that nothing
reaches the generalized VM (docs/azure-behaviours.md, "frozen build VM")."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pulumi
import pytest
from conftest import load_stack_dict
from program_mocks import run_program

from offline.pulumi_host import InvokeFailure
from offline.runner import StackConfig
from offline.up import up
from vmimage.config.fingerprint import build_fingerprint
from vmimage.config.validate import load_spec
from vmimage.stack.captures import look_up_captures
from vmimage.stack.config import ConfigProblems
from vmimage.vocabulary import FINGERPRINT_TAG

VM = "azure-native:compute:VirtualMachine"
NIC = "azure-native:network:NetworkInterface"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
GENERALIZE = "pulumi-python:dynamic/vmimage:Generalize"
VERSION = "azure-native:compute:GalleryImageVersion"


def dev_config(**changes: Any) -> dict[str, Any]:
    config = load_stack_dict("dev")
    pipeline = config["vmimage:pipeline"]
    for key, value in changes.items():
        pipeline[key] = value
    return config


def fingerprint_of(config: dict[str, Any], version: str = "1.0.0") -> str:
    spec = load_spec(config["vmimage:pipeline"], location="westeurope").spec
    return build_fingerprint(spec, spec.build(version))


# -- the fingerprint ----------------------------------------------------------------------------

def test_fingerprint_covers_the_image_and_not_its_publishing():
    base = dev_config()
    same = copy.deepcopy(base)
    build = same["vmimage:pipeline"]["builds"][0]
    build["regions"] = [{"name": "westeurope", "replicas": 3}]
    build["endOfLife"] = "2030-01-01"
    build["excludeFromLatest"] = True
    assert fingerprint_of(same) == fingerprint_of(base)
    for change in ({"size": "Standard_D4s_v5"},
                   {"dataDisks": [{"lun": 0, "sizeGb": 32}]},
                   {"customize": []}):
        other = copy.deepcopy(base)
        other["vmimage:pipeline"]["builds"][0].update(change)
        assert fingerprint_of(other) != fingerprint_of(base), change
    assert fingerprint_of(base).startswith("v1:") and len(fingerprint_of(base)) == 19


# -- under plain mocks: what the program registers -----------------------------------------------

def test_the_captured_image_records_its_fingerprint():
    config = dev_config()
    recorded = run_program(config, stack="dev")
    (version,) = recorded.of_type(VERSION)
    assert version.inputs["tags"][FINGERPRINT_TAG] == fingerprint_of(config)
    assert version.inputs["tags"]["vmimage-role"] == "image"


def test_a_build_not_captured_yet_registers_as_usual():
    recorded = run_program(dev_config(), stack="dev")
    for reg in recorded.resources:
        if reg.type in (VM, NIC, RUN_COMMAND, GENERALIZE):
            assert reg.request.ignoreChanges == [], reg.name
    # run commands are the VM's children in Azure: deleted with it, never on their own
    vm = next(r for r in recorded.resources if r.name.endswith("-build-vm"))
    for command in recorded.of_type(RUN_COMMAND):
        assert command.deleted_with == vm.urn


def test_a_captured_build_is_registered_frozen():
    config = dev_config()
    recorded = run_program(config, stack="dev", captured={"1.0.0": fingerprint_of(config)})
    frozen = [r for r in recorded.resources
              if r.type in (VM, NIC, RUN_COMMAND, GENERALIZE) and "-v1-0-0-" in r.name]
    assert {r.type for r in frozen} == {VM, NIC, RUN_COMMAND, GENERALIZE}
    for reg in frozen:
        # every input it is given is ignored from now on: the engine keeps the recorded
        # values and sends Azure nothing
        inputs = {k for k in reg.inputs if k != "__provider"}
        assert inputs <= set(reg.request.ignoreChanges), (reg.name, inputs)
    clones = [r for r in recorded.of_type(VM) if "-clones-" in r.name]
    assert clones and all(list(c.request.ignoreChanges) == [] for c in clones)


def test_a_changed_captured_build_is_refused_before_anything_is_registered():
    config = dev_config()
    changed = copy.deepcopy(config)
    changed["vmimage:pipeline"]["builds"][0]["customize"][0]["vars"]["packages"] = ["curl"]
    recorded = None
    with pytest.raises(ConfigProblems) as info:
        from program_mocks import Recorded

        recorded = Recorded()
        run_program(changed, stack="dev", recorded=recorded,
                    captured={"1.0.0": fingerprint_of(config)})
    assert info.value.problems == [
        "builds[0]: version 1.0.0 was already captured from another build (its source, "
        "size, disks or customize steps changed). Gallery image versions are immutable and "
        "its build VM is generalized: give the changed build a new version number (and "
        "keep or retire this one)"]
    assert recorded is not None
    assert {r.type for r in recorded.registered} <= {"pulumi:pulumi:Stack"}


def test_retiring_needs_a_captured_build():
    config = dev_config()
    config["vmimage:pipeline"]["builds"][0]["retired"] = True
    with pytest.raises(ConfigProblems, match=r"builds\[0\]\.retired: version 1\.0\.0 was "
                                             "never captured"):
        run_program(config, stack="dev")
    recorded = run_program(config, stack="dev", captured={"1.0.0": None})
    assert not [r for r in recorded.resources if "-v1-0-0-build" in r.name]


def test_an_image_captured_before_fingerprints_is_frozen_with_a_warning(caplog):
    config = dev_config()
    changed = copy.deepcopy(config)
    changed["vmimage:pipeline"]["builds"][0]["size"] = "Standard_D8s_v5"
    recorded = run_program(changed, stack="dev", captured={"1.0.0": None})
    assert "was captured without a build fingerprint" in caplog.text
    vm = next(r for r in recorded.resources if r.name.endswith("-build-vm"))
    assert "hardwareProfile" in vm.request.ignoreChanges


# -- the lookup itself --------------------------------------------------------------------------

class Answers(pulumi.runtime.Mocks):
    def __init__(self, error: str | None) -> None:
        self.error = error

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        return "id", {}

    def call(self, args: Any) -> dict[str, Any]:
        if self.error:
            raise InvokeFailure(self.error)
        return {"id": "/v", "tags": {FINGERPRINT_TAG: "v1:x"}}


@pytest.mark.parametrize(("error", "captured"), [
    (None, True),
    ("RESPONSE 404: 404 Not Found\nERROR CODE: ResourceNotFound", False),
    ("RESPONSE 404: 404 Not Found\nERROR CODE: ParentResourceNotFound", False),
    ("ERROR CODE: ResourceGroupNotFound", False),
])
def test_lookup_reads_404_as_not_captured(error, captured):
    from offline.pulumi_host import EngineMonitor
    from offline.pulumi_host import run_program as run_body

    spec = load_spec(load_stack_dict("dev")["vmimage:pipeline"], location="westeurope").spec
    found: dict[str, Any] = {}
    run_body(lambda: found.update(look_up_captures(spec)), EngineMonitor(Answers(error)),
             project="vmimage", stack="dev")
    assert found["1.0.0"].captured is captured


def test_any_other_lookup_failure_stops_the_run():
    """A 403 is not "not captured": guessing could send a PUT to a generalized VM."""
    from offline.pulumi_host import EngineMonitor
    from offline.pulumi_host import run_program as run_body

    config = load_stack_dict("dev")
    with pytest.raises(pulumi.RunError, match="(?s)cannot tell whether version 1.0.0 is "
                                              "already captured.*AuthorizationFailed"):
        run_body(Path(__file__).resolve().parent.parent / "__main__.py",
                 EngineMonitor(Answers("RESPONSE 403: Forbidden\nERROR CODE: "
                                       "AuthorizationFailed")),
                 project="vmimage", stack="dev", config=config)


# -- offline, against one state: what Azure would refuse never happens ---------------------------

def step(config: dict[str, Any], state: Path) -> Any:
    return up(StackConfig("dev", copy.deepcopy(config)), state_path=state)


def test_a_shared_vm_setting_changes_clones_and_leaves_the_generalized_vm_alone(tmp_path):
    state = tmp_path / "state.json"
    config = dev_config()
    assert step(config, state).ok
    config["vmimage:pipeline"]["security"] = {"bootDiagnostics": False}
    result = step(config, state)
    assert result.ok, (result.run.failures, result.run.error)
    actions = {c.urn.rsplit("::", 1)[-1]: c.action for c in result.changes}
    assert actions["vmimage-v1-0-0-build-vm"] == "same"
    assert {a for n, a in actions.items() if "-clones-web-" in n and "nic" not in n} == {
        "update"}


def test_retiring_a_captured_build_deletes_its_vm_not_its_run_commands(tmp_path):
    state = tmp_path / "state.json"
    config = dev_config()
    assert step(config, state).ok
    config["vmimage:pipeline"]["builds"][0]["retired"] = True
    result = step(config, state)
    assert result.ok, (result.run.failures, result.run.error)
    deleted = {o.resource.rsplit("::", 1)[-1] for o in result.run.operations
               if o.op == "delete"}
    assert "vmimage-v1-0-0-build-vm" in deleted
    assert not {n for n in deleted if "-scripts-" in n}  # they went with the VM
    arm = result.run.arm
    assert not any(r.deleted_at is None and "/runcommands/" in key
                   for key, r in arm.resources.items())
