"""Capture targets: where a build's generalized VM is captured to, one module each, and
the table that lists them. To add one, write its rules (vmimage/config/capture/) and its
registration here (vmimage/capture/target.py says what it defines), and add it to both
tables (docs/architecture.md)."""

from __future__ import annotations

from vmimage.capture import gallery, managed_image, vhd
from vmimage.capture.target import CaptureTarget
from vmimage.config.models import PipelineSpec

#: Every capture target, by its name in `capture:`.
TARGETS: dict[str, CaptureTarget] = {t.key: t for t in (gallery.TARGET, managed_image.TARGET,
                                                         vhd.TARGET)}


def targets_of(spec: PipelineSpec) -> list[CaptureTarget]:
    """The pipeline's targets, the one clones boot from first."""
    return sorted((TARGETS[key] for key in spec.capture_targets), key=lambda t: t.preference)
