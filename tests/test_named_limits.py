"""The program's named limits (vmimage/config/limits.py, and Azure's in vmimage/azure/
limits.py): each accepted at its bound and refused one past it, with the key it names,
before anything registers. And the long step chain that used to end in RecursionError:
it registers, in order, offline and under plain mocks."""

from __future__ import annotations

import copy
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pulumi
import pytest
from conftest import load_pipeline, run_offline, stack_config
from program_mocks import Recorded, run_program

from offline.yaml_load import StackYamlError, load_yaml
from vmimage.azure.limits import MAX_SCALE_SET_INSTANCES, MAX_TAGS_PER_RESOURCE
from vmimage.config import limit_rules, limits
from vmimage.config.errors import SpecError
from vmimage.config.size import where_over
from vmimage.config.steps import file as file_kind
from vmimage.config.validate import load_spec
from vmimage.scripts.render import render
from vmimage.vocabulary import RUN_COMMAND

# -- helpers ------------------------------------------------------------------------------


def problems(pipeline: dict[str, Any]) -> list[str]:
    try:
        load_spec(pipeline, location="westeurope")
    except SpecError as exc:
        return exc.problems
    return []


def with_steps(stack: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    pipeline = load_pipeline(stack)
    pipeline["builds"][0]["customize"] = steps
    return pipeline


def inline_steps(count: int) -> list[dict[str, Any]]:
    return [{"inline": f"echo {i}"} for i in range(count)]


def with_clones(clones: list[dict[str, Any]]) -> dict[str, Any]:
    pipeline = load_pipeline("dev")
    pipeline["network"] = {"addressSpace": "10.42.0.0/16", "subnetPrefix": "10.42.0.0/17"}
    pipeline["clones"] = clones
    return pipeline


def compact_json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


# -- the chain of steps -------------------------------------------------------------------


def step_chain(registrations: list[Any]) -> list[Any]:
    """The build's customize run commands, in step order (format-disks first)."""
    steps = [r for r in registrations if r.type == RUN_COMMAND and "customize-" in r.name
             and "-scripts-" in r.name and "validation" not in r.name]
    return sorted(steps, key=lambda r: int(r.name.rsplit("customize-", 1)[1]))


def test_a_thousand_inline_steps_register_offline_one_after_another() -> None:
    count = limits.MAX_STEPS_PER_BUILD
    result = run_offline(stack_config("dev", with_steps("dev", inline_steps(count))))
    assert result.error is None and not result.failures, result.error
    chain = step_chain(result.registrations)
    assert len(chain) == count
    for before, after in zip(chain, chain[1:], strict=False):
        assert before.urn in after.dependencies  # the engine sees the real edge
        assert after.start_s >= before.end_s  # and runs them one at a time


def test_a_thousand_inline_steps_register_under_plain_mocks() -> None:
    config = stack_config("dev", with_steps("dev", inline_steps(limits.MAX_STEPS_PER_BUILD)))
    recorded = run_program(config.config)
    chain = step_chain(recorded.of_type(RUN_COMMAND))
    assert len(chain) == limits.MAX_STEPS_PER_BUILD
    steps = {r.urn for r in chain}
    for before, after in zip(chain, chain[1:], strict=False):
        assert steps.intersection(after.dependencies) == {before.urn}


def test_windows_update_rounds_at_the_limit_register_in_order() -> None:
    steps = [{"windowsUpdate": {"rounds": 10}}] * (limits.MAX_UPDATE_ROUNDS_PER_BUILD // 10)
    result = run_offline(stack_config("win", with_steps("win", steps)))
    assert result.error is None and not result.failures, result.error
    restarts = [r for r in result.registrations if r.name.endswith("-restart")]
    assert len(restarts) == limits.MAX_UPDATE_ROUNDS_PER_BUILD


# -- each limit at its bound and one past -------------------------------------------------


def test_steps_per_build() -> None:
    assert problems(with_steps("dev", inline_steps(limits.MAX_STEPS_PER_BUILD))) == []
    pipeline = with_steps("dev", inline_steps(limits.MAX_STEPS_PER_BUILD))
    pipeline["builds"][0]["validate"] = [{"inline": "true"}]
    assert problems(pipeline) == [
        "builds[0].customize: 1,001 steps with validate's; at most 1,000 per build "
        "(MAX_STEPS_PER_BUILD)"]


def test_windows_update_rounds_per_build() -> None:
    at_limit = [{"windowsUpdate": {"rounds": 10}}] * 10
    assert problems(with_steps("win", at_limit)) == []
    assert problems(with_steps("win", [*at_limit, {"windowsUpdate": {"rounds": 1}}])) == [
        "builds[0].customize: 101 windowsUpdate rounds in all; at most 100 per build "
        "(MAX_UPDATE_ROUNDS_PER_BUILD)"]


def test_clone_groups() -> None:
    groups = [{"name": f"g{i}", "count": 1, "version": "1.0.0", "size": "Standard_B2s"}
              for i in range(limits.MAX_CLONE_GROUPS + 1)]
    assert problems(with_clones(groups[:-1])) == []
    assert problems(with_clones(groups)) == [
        "clones: 51 clone groups; at most 50 per stack (MAX_CLONE_GROUPS)"]


def test_instances_per_group_and_in_all() -> None:
    def fleet(count: int) -> dict[str, Any]:
        return {"name": f"s{count}", "count": count, "version": "1.0.0",
                "size": "Standard_B2s", "kind": "scaleSet"}

    sets = [fleet(MAX_SCALE_SET_INSTANCES) | {"name": f"s{i}"}
            for i in range(limits.MAX_INSTANCES_TOTAL // MAX_SCALE_SET_INSTANCES)]
    assert problems(with_clones(sets)) == []
    one_more = {"name": "web", "count": 1, "version": "1.0.0", "size": "Standard_B2s"}
    assert problems(with_clones([*sets, one_more])) == [
        "clones: 5,001 clone instances in all; at most 5,000 per stack (MAX_INSTANCES_TOTAL)"]
    vms = one_more | {"count": limits.MAX_VMS_PER_GROUP}
    assert problems(with_clones([vms])) == []
    assert problems(with_clones([vms | {"count": limits.MAX_VMS_PER_GROUP + 1}])) == [
        "clones[0].count: 101 individual VMs is too many for one group (at most 100); "
        "use kind: scaleSet"]


def test_user_tags_leave_room_for_the_programs_own() -> None:
    allowed = MAX_TAGS_PER_RESOURCE - limits.PROGRAM_TAGS
    pipeline = load_pipeline("dev")
    pipeline["tags"] = {f"team{i}": "x" for i in range(allowed)}
    assert problems(pipeline) == []
    pipeline["tags"]["one-more"] = "x"
    assert problems(pipeline) == [
        f"tags: at most {allowed} (Azure takes 50 per resource, and vmimage puts up to "
        f"{limits.PROGRAM_TAGS} of its own)"]


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_no_resource_gets_more_tags_than_azure_takes(stack: str) -> None:
    """PROGRAM_TAGS is what the program really adds: with the most user tags allowed,
    every resource that takes tags has at most Azure's 50."""
    pipeline = load_pipeline(stack)
    pipeline["tags"] = {f"team{i}": "x" for i in range(MAX_TAGS_PER_RESOURCE
                                                          - limits.PROGRAM_TAGS)}
    result = run_offline(stack_config(stack, pipeline))
    assert result.error is None and not result.failures, result.error
    counts = [len(r.inputs.get("tags") or {}) for r in result.registrations
              if isinstance(r.inputs.get("tags"), dict)]
    assert len(counts) > 10 and max(counts) <= MAX_TAGS_PER_RESOURCE


def test_one_steps_script() -> None:
    exact = "#" * limits.MAX_SCRIPT_BYTES
    assert problems(with_steps("dev", [{"inline": exact}])) == []
    assert problems(with_steps("dev", [{"inline": exact + "#"}])) == [
        "builds[0].customize[0]: its script is 262,145 bytes as the guest gets it; at most "
        "262,144 (MAX_SCRIPT_BYTES): put it in a blob (a file step with a uri)"]


def test_a_templates_rendered_script_is_bounded_too() -> None:
    """Within the template's own bound on its list (500), long names still add up."""
    packages = [f"p{i:03d}" + "x" * 600 for i in range(500)]
    size = len(render("linux/install-packages.sh.j2", {"packages": packages}, os="linux",
                      vm_name="validation").encode())
    assert size > limits.MAX_SCRIPT_BYTES
    assert problems(with_steps("dev", [{"template": "linux/install-packages.sh.j2",
                                        "vars": {"packages": packages}}])) == [
        f"builds[0].customize[0]: its script is {size:,} bytes as the guest gets it; at most "
        "262,144 (MAX_SCRIPT_BYTES): put it in a blob (a file step with a uri)"]


def test_one_builds_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """File steps carry project files in their scripts: a small config, big scripts."""
    (tmp_path / "files").mkdir()
    monkeypatch.setattr(file_kind, "PROJECT_DIR", tmp_path)
    (tmp_path / "files" / "blob.bin").write_bytes(b"\x01" * 180_000)
    step = {"file": {"source": "files/blob.bin", "destination": "/opt/blob.bin"}}
    script = file_kind.render_script(file_kind.FileOptions(**step["file"]), os="linux",
                                     vm_name="validation", identity=None)
    size = len(script.encode())
    fits = limits.MAX_SCRIPT_BYTES_PER_BUILD // size
    assert problems(with_steps("dev", [step] * fits)) == []
    assert problems(with_steps("dev", [step] * (fits + 1))) == [
        f"builds[0].customize: its run commands' scripts are {size * (fits + 1):,} bytes "
        "together; at most 4,194,304 per build (MAX_SCRIPT_BYTES_PER_BUILD)"]


def test_the_state_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = load_pipeline("dev")
    spec = load_spec(pipeline, location="westeurope").spec
    estimate = limit_rules.estimated_state_bytes(spec, 0) + 2 * sum(
        len(t.encode()) for t in [limit_rules.kind_of(s).script_text(s, "linux") or ""
                                  for s in spec.builds[0].customize])
    monkeypatch.setattr(limits, "MAX_STATE_BYTES", estimate)
    assert problems(pipeline) == []
    monkeypatch.setattr(limits, "MAX_STATE_BYTES", estimate - 1)
    assert problems(pipeline) == [
        f"builds: the stack's state would be about {estimate:,} bytes (its resources, and "
        f"its scripts kept twice); at most {estimate - 1:,} (MAX_STATE_BYTES): split the "
        "builds over several stacks"]


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_the_state_estimate_is_of_the_right_size(stack: str, tmp_path: Path) -> None:
    """Within a factor of two of the resources the offline run keeps in its state."""
    from offline.cli import main  # lazy: the CLI is what writes a state file

    state = tmp_path / "state.json"
    assert main(["up", "--stack", stack, "--state", str(state), "--quiet"]) == 0
    kept = len(json.dumps(json.loads(state.read_text())["resources"]).encode())
    spec = load_spec(load_pipeline(stack), location="westeurope").spec
    scripts = sum(len((limit_rules.kind_of(s).script_text(s, spec.os) or "").encode())
                  for b in spec.builds for _, s in limit_rules.steps_of(b))
    estimate = limit_rules.estimated_state_bytes(spec, scripts)
    assert estimate / 2 <= kept <= estimate * 2, (kept, estimate)


# -- the config's size, after aliases ----------------------------------------------------


def test_the_size_walk_is_compact_json_and_names_where_it_crosses() -> None:
    value = {"a": ["xy", 1, None, True], "b": {"c": "é"}}
    size = compact_json_size(value)
    assert where_over(value, size) is None
    assert where_over(value, size - 1) == "b.c"
    assert where_over({"a": ["xy" * 10]}, 10) == "a[0]"
    assert where_over(value, 10) == ""  # the root's own keys are past it


def test_config_bytes_after_aliases() -> None:
    pipeline = load_pipeline("dev")
    pipeline["builds"][0]["customize"] = [{"inline": ""}] * 16
    room = limits.MAX_CONFIG_BYTES - compact_json_size(pipeline)
    pipeline["builds"][0]["customize"] = [{"inline": "#" * (room // 16)}] * 15 + [
        {"inline": "#" * (room - 15 * (room // 16))}]
    assert compact_json_size(pipeline) == limits.MAX_CONFIG_BYTES
    assert problems(pipeline) == []
    # (named where the running count crosses: over by more than what follows the step)
    pipeline["builds"][0]["customize"][15] = {"inline": "#" * (room - 15 * (room // 16)
                                                               + 10_000)}
    assert problems(pipeline) == [
        "builds[0].customize[15].inline: the config grows past 4,194,304 bytes as JSON here "
        "(YAML aliases count each time they are used); at most 4,194,304 (MAX_CONFIG_BYTES)"]


def bomb(strings: int, size: int) -> str:
    """A stack file: one big script, used `strings` times through an alias."""
    steps = "\n".join(["          - inline: &big " + "x" * size]
                      + ["          - inline: *big"] * (strings - 1))
    return f"config:\n  vmimage:pipeline:\n    builds:\n      - customize:\n{steps}\n"


def test_an_alias_bomb_by_bytes_is_refused_before_it_is_expanded() -> None:
    """291 KB of file, 151 MB of config once expanded: refused while counting, with no
    allocation anywhere near the expanded size."""
    text = bomb(600, 252_000)
    assert 250_000 < len(text) < 300_000
    tracemalloc.start()
    try:
        with pytest.raises(StackYamlError) as refused:
            load_yaml(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(text)  # the file and its parse, not 600 copies of the script
    assert str(refused.value) == (
        "config.vmimage:pipeline.builds[0].customize[16].inline: expands past 4,194,304 "
        "bytes of JSON here once its aliases are followed (MAX_CONFIG_BYTES)")


def test_the_reader_takes_what_expands_to_the_bound() -> None:
    assert load_yaml(bomb(16, 200_000))["config"]["vmimage:pipeline"]


def test_pulumi_up_refuses_a_config_too_big_to_read_before_reading_it() -> None:
    """Under `pulumi up` the CLI has expanded the aliases: the program measures the JSON
    it is given, and one far over is refused without being parsed."""
    config = stack_config("dev").config
    config["vmimage:pipeline"] = copy.deepcopy(config["vmimage:pipeline"])
    config["vmimage:pipeline"]["builds"][0]["customize"] = [{"inline": "x" * 200_000}] * 50
    text = json.dumps(config["vmimage:pipeline"])
    recorded = Recorded()
    with pytest.raises(pulumi.RunError) as raised:
        run_program(config, recorded=recorded)
    assert recorded.resources == []
    assert str(raised.value).splitlines()[1:] == [
        f"vmimage:pipeline: {len(text.encode()):,} bytes of JSON once YAML aliases are "
        "expanded; at most 4,194,304 (MAX_CONFIG_BYTES)"]
    config["vmimage:pipeline"]["builds"][0]["customize"] = [{"inline": "x" * 200_000}] * 25
    with pytest.raises(pulumi.RunError) as raised:
        run_program(config, recorded=recorded)
    assert recorded.resources == []
    assert str(raised.value).splitlines()[1:] == [
        "builds[0].customize[20].inline: the config grows past 4,194,304 bytes as JSON here "
        "(YAML aliases count each time they are used); at most 4,194,304 (MAX_CONFIG_BYTES)"]
