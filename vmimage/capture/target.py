"""What a capture target registers: the seam each one plugs into.

A target is one module under vmimage/capture/ saying what it registers for a build (its
image, captured from the generalized build VM) and how to ask Azure whether a build is
already captured there; its name, output and rules are the config's
(vmimage/config/capture/<target>.py). vmimage/capture/__init__.py holds the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from vmimage.azure.reads import CloudReads
from vmimage.config.capture.target import CaptureRules
from vmimage.config.models import BuildSpec, PipelineSpec


@dataclass(frozen=True)
class CaptureContext:
    """Where a target registers its image: under the build's ImageCapture component."""

    parent: pulumi.Resource
    name: str
    """The logical name prefix of the build's capture."""
    spec: PipelineSpec
    build: BuildSpec
    resource_group_name: pulumi.Input[str]
    source_vm_id: pulumi.Input[str] | None
    """The generalized build VM: an output of the Generalize step (None: the build is
    imported from a VHD, `build.from_.vhd`)."""
    gallery: Any
    """The pipeline's ImageGallery component, when a target needs it."""
    tags: dict[str, str]
    protect: bool
    kept_replicas: Mapping[str, int] = field(default_factory=dict)
    """A captured version's replicas by region: what `replicas: auto` keeps."""
    vm_unique_id: pulumi.Input[str] | None = None
    """The build VM's unique id (a VM recreated under its name is another)."""
    environment: str | None = None
    """azure-native:environment, for a target that acts through the Azure SDK."""
    after: tuple[pulumi.Output[Any], ...] = ()
    """What the targets registered before this one returned (the export waits for them)."""
    exclude_from_latest: bool = False
    """A gallery version's excludeFromLatest as registered (vmimage/config/publication.py):
    what Azure holds once a validated version was published."""


@dataclass(frozen=True)
class CaptureTarget:
    rules: CaptureRules
    """Its name, stack output, preference and rules (the config's)."""
    register: Callable[[CaptureContext], pulumi.Output[Any] | None]
    """Registers the build's image; returns its ARM id (an export: its blobs' URLs; None:
    nothing to register for this build)."""
    lookup: Callable[[PipelineSpec, BuildSpec, CloudReads | None], Any]
    """Azure's answer for the build's image (an object with `id` and `tags`; None when
    the SDK read says it is not there); raises what the invoke raised when it is not
    there. The reads (None: nobody to ask but the provider's invokes) reach where the
    stack's provider cannot before anything is registered: another subscription."""

    @property
    def key(self) -> str:
        return self.rules.key

    @property
    def output(self) -> str:
        return self.rules.output

    @property
    def preference(self) -> int:
        return self.rules.preference


def protected(ctx: CaptureContext) -> pulumi.ResourceOptions:
    """A captured image is final: its source VM may be retired (deleted) later, or reported
    by ARM with other casing, without that ever meaning a recapture. (Nothing of the
    publishing profile is ignored: the engine would send the old value with every update,
    and azure-native's update is a PUT of the inputs.)"""
    return pulumi.ResourceOptions(parent=ctx.parent, protect=ctx.protect,
                                  ignore_changes=["storageProfile.source",
                                                  "sourceVirtualMachine"])
