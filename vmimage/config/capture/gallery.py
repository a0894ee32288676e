"""`capture: gallery` as the config knows it: what a pipeline that captures to a gallery
image version must give."""

from __future__ import annotations

from vmimage.config.capture.target import CaptureRules, shown
from vmimage.config.models import PipelineSpec


def _problems(spec: PipelineSpec) -> list[str]:
    if spec.gallery is None:
        return [f"gallery: required when capture is {shown(spec.capture)}"]
    return []


RULES = CaptureRules(key="gallery", output="imageVersionIds", preference=0,
                     problems=_problems)
