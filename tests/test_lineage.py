"""Image lineage and updates across successive runs of one state file.

build 1.0.0 with 3 clones -> add 1.1.0 built on 1.0.0 -> pin clones to 1.1.0 (in
batches) -> retire both builds -> try to drop 1.1.0 while pinned. Each step is one
`up` against the same state file, as `pulumi up` runs against one stack.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, load_stack_dict

from offline.changes import counts
from offline.runner import StackConfig
from offline.state import load_state
from offline.up import UpResult, up

CLONE_VM = "azure-native:compute:VirtualMachine"
VERSION = "azure-native:compute:GalleryImageVersion"


def base_pipeline() -> dict[str, Any]:
    pipeline = load_stack_dict("dev")["vmimage:pipeline"]
    pipeline["builds"][0]["regions"] = [{"name": "westeurope", "replicas": 1}]
    pipeline["clones"][0]["rollout"] = {"batchSize": 2}
    return pipeline


CHILD_BUILD = {
    "version": "1.1.0",
    "from": {"version": "1.0.0"},
    "size": "Standard_D2s_v5",
    "customize": [{"template": "linux/run-script.sh.j2", "vars": {"script": "echo patched"}}],
}


def step(pipeline: dict[str, Any], state: Path) -> UpResult:
    config = load_stack_dict("dev")
    config["vmimage:pipeline"] = copy.deepcopy(pipeline)
    return up(StackConfig("dev", config), state_path=state)


def actions(result: UpResult) -> dict[str, str]:
    assert result.changes is not None
    return {c.urn.rsplit("::", 1)[-1]: c.action for c in result.changes}


def assert_ok(result: UpResult) -> None:
    assert result.ok, (result.run.failures, result.run.error, result.blocked,
                       result.config_problems)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the whole scenario once; tests read its steps."""
    state = tmp_path_factory.mktemp("lineage") / "state.json"
    pipeline = base_pipeline()
    steps: dict[str, Any] = {"state": state, "pipelines": {}}

    def run_step(label: str) -> None:
        steps["pipelines"][label] = copy.deepcopy(pipeline)
        steps[label] = step(pipeline, state)

    run_step("first")
    pipeline["builds"].append(copy.deepcopy(CHILD_BUILD))
    run_step("child")
    pipeline["clones"][0]["version"] = "1.1.0"
    run_step("pinned")
    steps["pinned_state"] = json.loads(state.read_text())
    for build in pipeline["builds"]:
        build["retired"] = True
    run_step("retired")
    steps["retired_state"] = state.read_bytes()
    steps["key"] = (state.parent / "state.json.key").read_bytes()
    steps["pipeline"] = copy.deepcopy(pipeline)
    return steps


def test_first_run_creates_everything(scenario: dict[str, Any]) -> None:
    first = scenario["first"]
    assert_ok(first)
    tally = counts(first.changes)
    assert tally["create"] == len([r for r in first.run.registrations if r.custom])
    assert tally["same"] == tally["update"] == tally["delete"] == 0


def test_child_version_builds_on_parent_and_leaves_the_rest_alone(scenario) -> None:
    child = scenario["child"]
    assert_ok(child)
    acts = actions(child)
    created = {name for name, action in acts.items() if action == "create"}
    assert created == {
        "vmimage-v1-1-0-build-nic", "vmimage-v1-1-0-build-vm",
        "vmimage-v1-1-0-scripts-customize-0",
        "vmimage-v1-1-0-generalize", "vmimage-v1-1-0-capture-version",
    }
    assert all(action == "same" for name, action in acts.items() if name not in created)
    regs = {r.name: r for r in child.run.registrations}
    child_vm = regs["vmimage-v1-1-0-build-vm"]
    parent_version = regs["vmimage-v1-0-0-capture-version"]
    # The child boots from its parent's version and inherits its data disks.
    assert child_vm.inputs["storageProfile"]["imageReference"]["id"] == parent_version.id
    disks = child_vm.inputs["storageProfile"]["dataDisks"]
    assert [(d["lun"], d["createOption"]) for d in disks] == [(0, "FromImage"), (1, "FromImage")]


def test_pinning_replaces_only_clones_in_batches_without_collisions(scenario) -> None:
    pinned = scenario["pinned"]
    assert_ok(pinned)
    acts = actions(pinned)
    replaced = {n for n, a in acts.items() if a == "replace"}
    assert replaced == {f"vmimage-clones-web-{i}{s}" for i in range(3) for s in ("", "-nic")}
    # 1.1.0's replicas are 'auto', sized when it was captured (1): moving the clones onto
    # it does not quietly change the captured version (the plan says what auto would be).
    assert acts["vmimage-v1-1-0-capture-version"] == "same"
    assert {a for n, a in acts.items() if n not in replaced} == {"same"}
    vm_changes = {c.urn.rsplit("::", 1)[-1]: c.properties for c in pinned.changes}
    assert "storageProfile.imageReference.id" in vm_changes["vmimage-clones-web-0"]

    ops = pinned.run.operations
    creates = {o.resource.rsplit("::", 1)[-1]: o for o in ops if o.op == "replace"}
    deletes = {o.resource.rsplit("::", 1)[-1]: o for o in ops if o.op == "delete"}
    # batchSize 2: clone 2 starts only when clones 0 and 1 are up.
    first_batch_end = max(creates[f"vmimage-clones-web-{i}"].end_s for i in (0, 1))
    assert creates["vmimage-clones-web-2"].start_s >= first_batch_end
    # Old VMs go only after every successor exists.
    last_create = max(o.end_s for o in creates.values())
    assert deletes and all(d.start_s >= last_create for d in deletes.values())
    # New and old never share an Azure name.
    new_names = {r.azure_name for r in pinned.run.registrations if r.type == CLONE_VM
                 and r.name.startswith("vmimage-clones-")}
    old_names = {r.azure_name for r in scenario["child"].run.registrations
                 if r.type == CLONE_VM and r.name.startswith("vmimage-clones-")}
    assert new_names == {"web-1-1-0-000", "web-1-1-0-001", "web-1-1-0-002"}
    assert not new_names & old_names
    # Old clones, their NICs and their disks are gone from the simulated Azure.
    arm = pinned.run.arm
    for name in old_names:
        vm = next(r for r in arm.resources.values() if r.name == name)
        assert vm.deleted_at is not None
    assert not any(holder.endswith(tuple(n.lower() for n in old_names))
                   for holder in arm.leases.values())


def test_retiring_builds_deletes_only_build_resources(scenario) -> None:
    retired = scenario["retired"]
    assert_ok(retired)
    acts = actions(retired)
    deleted = {n for n, a in acts.items() if a == "delete"}
    assert deleted == {
        f"vmimage-v{v}-{role}" for v in ("1-0-0", "1-1-0")
        for role in ("build-vm", "build-nic", "scripts-customize-0", "generalize")
    }
    # Image versions: no replacement, no recapture, no diff.
    assert acts["vmimage-v1-0-0-capture-version"] == "same"
    assert acts["vmimage-v1-1-0-capture-version"] == "same"
    assert {a for n, a in acts.items() if n not in deleted} == {"same"}
    ops = {o.resource.rsplit("::", 1)[-1] for o in retired.run.operations if o.op != "delete"}
    assert not ops, f"retiring must not create or update anything: {ops}"


def test_each_build_vm_was_generalized_exactly_once(scenario) -> None:
    posts = scenario["pinned_state"]["arm"]["generalizePosts"]
    assert sorted(posts.values()) == [1, 1]


def restore(scenario: dict[str, Any], folder: Path) -> Path:
    """A copy of the retired step's state (and its key) to run one more step against."""
    state = folder / "state.json"
    state.write_bytes(scenario["retired_state"])
    key = folder / "state.json.key"
    key.write_bytes(scenario["key"])
    key.chmod(0o600)  # a key others can read is refused
    return state


def test_dropping_a_pinned_version_is_a_config_error(scenario, tmp_path: Path) -> None:
    state = restore(scenario, tmp_path)
    pipeline = copy.deepcopy(scenario["pipeline"])
    pipeline["builds"] = [b for b in pipeline["builds"] if b["version"] != "1.1.0"]
    from offline.cli import main

    config = load_stack_dict("dev")
    config["vmimage:pipeline"] = pipeline
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(json.dumps({"config": config}))
    code = main(["up", "--stack-file", str(stack_file), "--state", str(state), "--quiet"])
    assert code == 2
    assert state.read_bytes() == scenario["retired_state"]


def test_removing_a_protected_version_fails_before_touching_anything(scenario, tmp_path) -> None:
    state = restore(scenario, tmp_path)
    pipeline = copy.deepcopy(scenario["pipeline"])
    pipeline["builds"] = [b for b in pipeline["builds"] if b["version"] != "1.1.0"]
    pipeline["clones"][0]["version"] = "1.0.0"
    result = step(pipeline, state)
    assert [c.urn.rsplit("::", 1)[-1] for c in result.blocked] == ["vmimage-v1-1-0-capture-version"]
    assert not result.saved
    assert state.read_bytes() == scenario["retired_state"]


def test_changing_a_captured_build_asks_for_a_new_version(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    pipeline = base_pipeline()
    assert_ok(step(pipeline, state))
    before = state.read_bytes()
    pipeline["builds"][0]["customize"][0]["vars"]["packages"] = ["nginx", "curl"]
    result = step(pipeline, state)
    assert len(result.config_problems) == 1
    problem = result.config_problems[0]
    assert problem.startswith("builds[0]: version 1.0.0 was already captured")
    assert "new version number" in problem
    assert result.run.registrations == []  # refused before anything was registered
    assert state.read_bytes() == before


def test_retiring_a_build_that_was_never_captured_is_an_error(tmp_path: Path) -> None:
    pipeline = base_pipeline()
    pipeline["builds"][0]["retired"] = True
    result = step(pipeline, tmp_path / "state.json")
    assert result.config_problems == [
        "builds[0].retired: version 1.0.0 was never captured (Azure has no image for it); "
        "run once without retired: true to build and capture it"
    ]
    assert result.run.registrations == []
    assert not (tmp_path / "state.json").exists()


def test_state_file_holds_no_plain_secret(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    config = load_stack_dict("win")
    result = up(StackConfig("win", config), state_path=state)
    assert_ok(result)
    arm = result.run.arm
    password = next(r.outputs["result"]["value"] for r in arm.resources.values()
                    if r.token == "random:index/randomPassword:RandomPassword")
    assert len(password) >= 12
    text = state.read_text()
    assert password not in text
    assert "sealed:hmac-sha256:" in text
    # And the sealed password still means "same" on the next run.
    key = load_state(state, "win").key
    assert key not in text, "the sealing key lives beside the state, not in it"
    assert (state.parent / "state.json.key").stat().st_mode & 0o077 == 0
    again = up(StackConfig("win", config), state_path=state)
    assert_ok(again)
    assert counts(again.changes)["same"] == len(again.changes)
    assert load_state(state, "win").key == key, "the key stays with the state"


#: The versions Azure holds an image of when each step starts.
CAPTURED_BEFORE = {"first": (), "child": ("1.0.0",), "pinned": ("1.0.0", "1.1.0"),
                   "retired": ("1.0.0", "1.1.0")}
#: The step before each (whose Azure holds what the next one finds).
PREVIOUS = {"child": "first", "pinned": "child", "retired": "pinned"}


@pytest.mark.parametrize(("before", "after"), [
    ("first", "child"), ("child", "pinned"), ("pinned", "retired"),
])
def test_same_resources_register_identical_inputs_under_plain_mocks(scenario, before, after):
    """What the summary calls `same` between two steps is registered with identical
    inputs by the program under Pulumi's own mocks, with no simulator involved."""
    old = plain_mock_inputs(scenario["pipelines"][before], CAPTURED_BEFORE[before],
                            held=scenario.get(PREVIOUS.get(before)))
    new = plain_mock_inputs(scenario["pipelines"][after], CAPTURED_BEFORE[after],
                            held=scenario[before])
    same = [n for n, a in actions(scenario[after]).items() if a == "same"]
    assert len(same) >= 12
    for name in same:
        assert old[name] == new[name], name


def test_the_program_reads_only_which_builds_are_captured(scenario):
    """Before registering anything the program asks Azure one thing per build: whether
    its image exists (and with which fingerprint). Nothing else is looked up: a retired
    build's VM id comes from the resource group's."""
    recorded = run_retired(scenario)
    builds = scenario["pipelines"]["retired"]["builds"]
    assert recorded.invokes == ["azure-native:compute:getGalleryImageVersion"] * len(builds)
    assert all(set(types) <= {"pulumi:pulumi:Stack"}
               for types in recorded.registered_before_invoke)
    assert recorded.of_type("azure-native:compute:GalleryImageVersion")


def run_retired(scenario: dict[str, Any]) -> Any:
    from program_mocks import run_program

    config = load_stack_dict("dev")
    config["vmimage:pipeline"] = scenario["pipelines"]["retired"]
    return run_program(config, stack="dev", captured=captured(
        config["vmimage:pipeline"], CAPTURED_BEFORE["retired"]))


def held_replicas(run: Any) -> dict[str, dict[str, int]]:
    """version -> region -> replicas, as a run's simulated Azure holds its versions."""
    from offline.secrets import unwrap

    return {r.name: {t["name"]: int(t["regionalReplicaCount"])
                     for t in unwrap(r.props)["publishingProfile"]["targetRegions"]}
            for r in run.run.arm.resources.values()
            if r.token == "azure-native:compute:GalleryImageVersion" and r.deleted_at is None}


def captured(pipeline: dict[str, Any], versions: tuple[str, ...]) -> dict[str, Any]:
    """version -> the tags of its image, as Azure would hold them after a run under plain
    mocks: the fingerprint of its build in `pipeline` and its provenance (no Azure to
    resolve `latest`; this checkout's commit)."""
    from vmimage.config.fingerprint import build_fingerprint
    from vmimage.config.provenance import provenance_tags, source_of
    from vmimage.config.validate import load_spec
    from vmimage.release import run_identity
    from vmimage.vocabulary import FINGERPRINT_TAG

    spec = load_spec(pipeline, location="westeurope").spec
    run = run_identity(ROOT)
    return {v: {FINGERPRINT_TAG: build_fingerprint(spec, spec.build(v)),
                **provenance_tags(source_of(spec.build(v)), run)} for v in versions}


def plain_mock_inputs(pipeline: dict[str, Any], versions: tuple[str, ...],
                      held: Any = None) -> dict[str, Any]:
    """Each resource's inputs (the serialized provider left out) under plain mocks;
    `held`: the run whose simulated Azure says what replicas each captured version has."""
    from program_mocks import run_program

    config = load_stack_dict("dev")
    config["vmimage:pipeline"] = pipeline
    recorded = run_program(config, stack="dev", captured=captured(pipeline, versions),
                           replicas=held_replicas(held) if held is not None else None)
    return {r.name: {k: v for k, v in r.inputs.items() if k != "__provider"}
            for r in recorded.resources}
