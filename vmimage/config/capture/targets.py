"""The table of capture targets' rules, by name (a test holds it to `NAMES` and to the
registrations in vmimage/capture/)."""

from __future__ import annotations

from vmimage.config.capture import gallery, managed_image, vhd
from vmimage.config.capture.target import CaptureRules
from vmimage.config.models import PipelineSpec

RULES: dict[str, CaptureRules] = {r.key: r for r in (gallery.RULES, managed_image.RULES,
                                                           vhd.RULES)}


def rules_of(spec: PipelineSpec) -> list[CaptureRules]:
    """The pipeline's targets, the one clones boot from first."""
    return sorted((RULES[key] for key in spec.capture_targets), key=lambda t: t.preference)
