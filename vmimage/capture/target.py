"""What a capture target is: the seam each one plugs into.

A target is one module under vmimage/capture/ saying what it registers for a build (its
image, captured from the generalized build VM), the id clones boot from, how to ask Azure
whether a build is already captured there, and the rules it checks. The pipeline's
`capture` lists the targets; vmimage/capture/__init__.py holds the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pulumi

    from vmimage.config.models import BuildSpec, PipelineSpec


def shown(capture: tuple[str, ...]) -> str:
    """`capture` as a message quotes it: 'gallery', or ['gallery', 'managedImage']."""
    return repr(capture[0]) if len(capture) == 1 else repr(list(capture))


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


@dataclass(frozen=True)
class CaptureTarget:
    key: str
    """Its name in `capture:` (and the key of its image id)."""
    output: str
    """The stack output that maps versions to these images' ids."""
    preference: int
    """Clones boot from the image of the lowest preference among those captured."""
    register: Callable[[CaptureContext], pulumi.Output[str]]
    """Registers the build's image; returns its ARM id."""
    lookup: Callable[[PipelineSpec, BuildSpec], Any]
    """Azure's answer for the build's image (an object with `id` and `tags`); raises what
    the invoke raised when it is not there."""
    problems: Callable[[PipelineSpec], list[str]]
    """`<key path>: <what is wrong>` for a pipeline that captures here."""
