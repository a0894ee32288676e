"""Rules on how clone groups roll onto a new version: the health probe the batches wait
for, the pause between them. Pure functions of a validated spec;
`spec.rules.semantic_problems` calls `rollout_problems`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmimage.config.models import PipelineSpec


def rollout_problems(spec: PipelineSpec) -> list[str]:
    found = validation_problems(spec)
    for i, clone in enumerate(spec.clones):
        at = f"clones[{i}].rollout"
        probe = clone.rollout.health
        if probe is not None and probe.protocol in ("http", "https") and probe.path is None:
            found.append(f"{at}.health.path: required for {probe.protocol} (e.g. /healthz)")
        if probe is not None and probe.protocol == "tcp" and probe.path is not None:
            found.append(f"{at}.health.path: only for http and https; a tcp probe connects")
        if clone.kind == "vm" and clone.rollout.pause_seconds and probe is None:
            # (a scale set pauses between its own batches: pauseTimeBetweenBatches)
            found.append(f"{at}.pauseSeconds: follows a healthy batch; set rollout.health")
    return found


def validation_problems(spec: PipelineSpec) -> list[str]:
    """A validated version is published (taken into latest) by the gallery, after its
    validation VM passed; that VM has the build's size."""
    found = []
    for i, build in enumerate(spec.builds):
        if not build.validate_steps:
            continue
        at = f"builds[{i}].validate"
        if not spec.uses_gallery:
            found.append(f"{at}: validation publishes a gallery version once it passes; "
                         "capture: gallery")
        if build.imported:
            found.append(f"{at}: an imported VHD has no build size for its validation VM; "
                         "validate its child build (from.version)")
    return found
