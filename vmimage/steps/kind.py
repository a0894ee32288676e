"""What a kind of customize step is: the seam each kind plugs into.

A kind is one module under vmimage/steps/ that defines its config model (a mapping whose
one distinguishing key names the kind: `template`, `script`, ...), the rules it checks
with the key path named, what of it a captured build's fingerprint covers, and what it
registers on the build VM. vmimage/steps/__init__.py lists the kinds; nothing else in
the program knows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from vmimage.config.base import SpecModel

if TYPE_CHECKING:
    import pulumi

    from vmimage.config.models import BuildSpec, PipelineSpec

#: Azure runs a managed run command for at most 90 minutes (run-command-managed docs).
MAX_RUN_COMMAND_S = 5400


class RunCommandStep(SpecModel):
    """A step that runs a script in the guest through a managed run command."""

    timeout_seconds: int = Field(1800, ge=60, le=MAX_RUN_COMMAND_S,
                                 description="run command timeout in seconds")


@dataclass(frozen=True)
class StepContext:
    """Where a step registers its resource: under the GuestScripts component, after the
    step before it, on the build VM."""

    parent: pulumi.Resource
    name: str
    """The logical name prefix of the build's steps."""
    spec: PipelineSpec
    build: BuildSpec
    resource_group_name: pulumi.Input[str]
    vm_name: pulumi.Input[str]
    vm_id: pulumi.Input[str] | None
    vm_unique_id: pulumi.Input[str] | None
    vm: pulumi.Resource | None
    """The build VM: the step's resources go with it when it is deleted."""
    frozen: bool
    """The build is captured: nothing of it may change (vmimage/components/frozen.py)."""
    previous: pulumi.CustomResource | None
    """The step before this one, which must have finished first."""
    role: str = "build"
    """Whose steps these are: the build VM's (customize), or the validation VM's."""

    @property
    def build_vm_name(self) -> str:
        """The VM's Azure name, as the naming rules give it (known before the VM exists,
        so scripts can be rendered with it)."""
        from vmimage.azure import naming

        return naming.build_vm_name(self.spec.image_name, self.build.version,
                                    "val" if self.role == "validate" else "build")

    @property
    def step_tag(self) -> str:
        """What a step's run command is tagged as (reports and faults read it)."""
        from vmimage.vocabulary import STEP_CUSTOMIZE, STEP_VALIDATE

        return STEP_VALIDATE if self.role == "validate" else STEP_CUSTOMIZE


def no_problems(_step: Any, _os: str, _at: str) -> list[str]:
    return []


def no_warnings(_step: Any, _at: str) -> list[str]:
    return []


def no_script(_step: Any, _os: str) -> str | None:
    return None


def no_build_problems(_step: Any, _build: Any, _at: str) -> list[str]:
    return []


def one(_step: Any) -> int:
    return 1


def none(_step: Any) -> int:
    return 0


def as_configured(step: Any) -> dict[str, Any]:
    return step.model_dump(mode="json", by_alias=True)


@dataclass(frozen=True)
class StepKind:
    key: str
    """The YAML key that names the kind (and tags it in the spec's union)."""
    model: type[SpecModel]
    register: Callable[[StepContext, Any, int], pulumi.CustomResource]
    """Registers the step's resource (step, its index); returns it."""
    problems: Callable[[Any, str, str], list[str]] = no_problems
    """(step, os, key path) -> `<key path>: <what is wrong>` lines."""
    warnings: Callable[[Any, str], list[str]] = no_warnings
    fingerprint: Callable[[Any], dict[str, Any]] = as_configured
    """What of the step makes up the image: a change of it is a changed build."""
    build_problems: Callable[[Any, BuildSpec, str], list[str]] = no_build_problems
    """(step, build, at) -> what is wrong with the step in its build (e.g. an identity the
    build VM does not have)."""
    script_text: Callable[[Any, str], str | None] = no_script
    """(step, os) -> the script the guest would run, for rules that read it (None: the
    step runs no script, or it cannot be read: reported as a problem)."""
    run_commands: Callable[[Any], int] = one
    """How many run commands the step registers (each runs its script, `script_text`'s
    size or about it): the program's limits count them."""
    restarts: Callable[[Any], int] = none
    """How many restarts (VM actions) it registers."""
    description: str = ""
