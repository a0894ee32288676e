"""The program's limits (vmimage/config/limits.py), checked on a validated spec before
anything is registered: each problem names the key whose value is too much. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmimage.azure.limits import MAX_SCALE_SET_INSTANCES
from vmimage.config import limits
from vmimage.config.size import where_over
from vmimage.config.steps import kind_of
from vmimage.config.steps.kind import guest_script
from vmimage.config.steps.windows_update import WindowsUpdateStep

if TYPE_CHECKING:
    from vmimage.config.models import BuildSpec, PipelineSpec

#: Resources of a build besides its steps and data disks, rounded up: its component, VM,
#: NIC, format-disks, captures; and the Generalize step, a VM action (a dynamic resource,
#: larger in state).
BUILD_RESOURCES = 8
BUILD_ACTIONS = 1
#: With validate steps: the validation VM and its NIC, and the Publish action.
VALIDATION_RESOURCES = 3
VALIDATION_ACTIONS = 1
#: The network, gallery, image definition and the like: once per stack.
STACK_RESOURCES = 10


def config_size_problem(raw: Any) -> str | None:
    """`vmimage:pipeline` over MAX_CONFIG_BYTES as JSON, named where it crosses."""
    at = where_over(raw, limits.MAX_CONFIG_BYTES)
    if at is None:
        return None
    return (f"{at or 'vmimage:pipeline'}: the config grows past {limits.MAX_CONFIG_BYTES:,} "
            "bytes as JSON here (YAML aliases count each time they are used); at most "
            f"{limits.MAX_CONFIG_BYTES:,} (MAX_CONFIG_BYTES)")


def limit_problems(spec: PipelineSpec, *, scripts: bool = True) -> list[str]:
    """`scripts`: also render every step's script to bound it (and the state it makes)."""
    found: list[str] = []
    script_bytes = 0
    for i, build in enumerate(spec.builds):
        problems, size = _build_limits(spec, build, f"builds[{i}]", scripts)
        found += problems
        script_bytes += size
    found += _clone_limits(spec)
    if scripts and not found:  # the estimate only means something within the limits
        state = estimated_state_bytes(spec, script_bytes)
        if state > limits.MAX_STATE_BYTES:
            found.append(
                f"builds: the stack's state would be about {state:,} bytes (its resources, "
                f"and its scripts kept twice); at most {limits.MAX_STATE_BYTES:,} "
                "(MAX_STATE_BYTES): split the builds over several stacks")
    return found


def steps_of(build: BuildSpec) -> list[tuple[str, Any]]:
    """Every step of a build with its key path (below the build's)."""
    return ([(f"customize[{j}]", s) for j, s in enumerate(build.customize)]
            + [(f"validate[{j}]", s) for j, s in enumerate(build.validate_steps)])


def _build_limits(spec: PipelineSpec, build: BuildSpec, at: str,
                  scripts: bool) -> tuple[list[str], int]:
    """The build's problems, and the bytes of its run commands' scripts."""
    found: list[str] = []
    steps = steps_of(build)
    if len(steps) > limits.MAX_STEPS_PER_BUILD:
        found.append(f"{at}.customize: {len(steps):,} steps with validate's; at most "
                     f"{limits.MAX_STEPS_PER_BUILD:,} per build (MAX_STEPS_PER_BUILD)")
        return found, 0  # too many to render one by one
    rounds = sum(step.windows_update.rounds for _, step in steps
                 if isinstance(step, WindowsUpdateStep))
    if rounds > limits.MAX_UPDATE_ROUNDS_PER_BUILD:
        found.append(f"{at}.customize: {rounds:,} windowsUpdate rounds in all; at most "
                     f"{limits.MAX_UPDATE_ROUNDS_PER_BUILD:,} per build "
                     "(MAX_UPDATE_ROUNDS_PER_BUILD)")
    if not scripts:
        return found, 0
    total = 0
    for key, step in steps:
        kind = kind_of(step)
        text = kind.script_text(step, spec.os) if spec.os in ("linux", "windows") else None
        size = len(guest_script(step, spec.os, text).encode("utf-8")) if text is not None else 0
        if size > limits.MAX_SCRIPT_BYTES:
            found.append(f"{at}.{key}: its script is {size:,} bytes as the guest gets it; at "
                         f"most {limits.MAX_SCRIPT_BYTES:,} (MAX_SCRIPT_BYTES): put it in a "
                         "blob (a file step with a uri)")
        total += size * kind.run_commands(step)
    if total > limits.MAX_SCRIPT_BYTES_PER_BUILD:
        found.append(f"{at}.customize: its run commands' scripts are {total:,} bytes "
                     f"together; at most {limits.MAX_SCRIPT_BYTES_PER_BUILD:,} per build "
                     "(MAX_SCRIPT_BYTES_PER_BUILD)")
    return found, total


def _clone_limits(spec: PipelineSpec) -> list[str]:
    found: list[str] = []
    if len(spec.clones) > limits.MAX_CLONE_GROUPS:
        found.append(f"clones: {len(spec.clones):,} clone groups; at most "
                     f"{limits.MAX_CLONE_GROUPS:,} per stack (MAX_CLONE_GROUPS)")
    # Each group's own bound (MAX_VMS_PER_GROUP, MAX_SCALE_SET_INSTANCES) is checked with
    # the group; the total only counts what those allow, so one line says one thing.
    instances = sum(min(c.count, limits.MAX_VMS_PER_GROUP if c.kind == "vm"
                        else MAX_SCALE_SET_INSTANCES) for c in spec.clones)
    if instances > limits.MAX_INSTANCES_TOTAL:
        found.append(f"clones: {instances:,} clone instances in all; at most "
                     f"{limits.MAX_INSTANCES_TOTAL:,} per stack (MAX_INSTANCES_TOTAL)")
    return found


def estimated_resources(spec: PipelineSpec) -> tuple[int, int]:
    """(resources, of which VM actions) the stack registers, about."""
    resources, actions = STACK_RESOURCES, 0
    for build in spec.builds:
        steps = [step for _, step in steps_of(build)]
        restarts = sum(kind_of(s).restarts(s, spec.os) for s in steps)
        resources += (BUILD_RESOURCES + len(build.data_disks) + restarts
                      + sum(kind_of(s).run_commands(s) for s in steps))
        actions += BUILD_ACTIONS + restarts
        if build.validate_steps:
            resources += VALIDATION_RESOURCES
            actions += VALIDATION_ACTIONS
    for clone in spec.clones:
        if clone.kind == "scaleSet":
            resources += 1
            continue
        # NIC and VM; with a health probe, its extension and gate (an action).
        per_vm = 4 if clone.rollout.health else 2
        resources += per_vm * clone.count
        actions += clone.count if clone.rollout.health else 0
    return resources, actions


def estimated_state_bytes(spec: PipelineSpec, script_bytes: int) -> int:
    resources, actions = estimated_resources(spec)
    return ((resources - actions) * limits.STATE_BYTES_PER_RESOURCE
            + actions * limits.STATE_BYTES_PER_ACTION + 2 * script_bytes)
