"""What a kind of customize step registers: the context it registers in and the shape of
its `register`. The kind's config model and rules are in vmimage/config/steps/<kind>.py;
its registration in vmimage/steps/<kind>.py; vmimage/steps/__init__.py ties the two."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from vmimage.azure import naming
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.vocabulary import STEP_CUSTOMIZE, STEP_VALIDATE


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
    """The build is captured: nothing of it may change (vmimage/parts/frozen.py)."""
    previous: pulumi.CustomResource | None
    """The step before this one, which must have finished first."""
    role: str = "build"
    """Whose steps these are: the build VM's (customize), or the validation VM's."""
    kind: str = ""
    """The kind of the step being registered (its config key), tagged on its run commands."""
    index: int | None = None
    """Its index in its list (customize or validate), tagged with the kind."""
    on_error: Any = None
    """The build's failure policy as an error hook (vmimage/steps/on_failure.py), bound to
    each resource of its steps (`hooks`); None for the validation VM's steps."""
    scripts: list[tuple[int, pulumi.Output[str]]] | None = None
    """Where each run command adds (its step's index, the script it holds), for the
    provenance output's step digests (vmimage/config/provenance.py)."""

    @property
    def hooks(self) -> pulumi.ResourceHookBinding | None:
        """The failure policy bound to a step's resource, a run command or a VM action
        alike: whichever of them fails, the policy acts on the build VM."""
        return pulumi.ResourceHookBinding(on_error=[self.on_error]) if self.on_error else None

    @property
    def build_vm_name(self) -> str:
        """The VM's Azure name, as the naming rules give it (known before the VM exists,
        so scripts can be rendered with it)."""
        return naming.build_vm_name(self.spec.image_name, self.build.version,
                                    "val" if self.role == "validate" else "build")

    @property
    def step_tag(self) -> str:
        """What a step's run command is tagged as (reports and faults read it)."""
        return STEP_VALIDATE if self.role == "validate" else STEP_CUSTOMIZE


#: (context, step, its index) -> the last resource the step registers.
Register = Callable[[StepContext, Any, int], pulumi.CustomResource]
