"""Whether a gallery version is registered excluded from `latest`.

A validated version is created excluded and taken into latest by its publication, a PATCH
after its validation passed (vmimage/providers/publish.py). azure-native updates a version
with a PUT of its registered inputs, so the input must say what Azure holds after the
publication: were it still the create's `true`, the next in-place update of the version
(a tag, an end-of-life date) would quietly take it out of latest again.
"""

from __future__ import annotations

from vmimage.config.fingerprint import Capture
from vmimage.config.models import BuildSpec


def exclude_from_latest(build: BuildSpec, capture: Capture | None) -> bool:
    """Excluded when config says so (excluded, revoked, retained: these always win). A
    validated version is excluded until Azure holds it in latest, i.e. until it was
    published: then it is registered as Azure holds it. Any other, as configured."""
    if build.excluded_from_latest:
        return True
    published = capture is not None and capture.captured and capture.in_latest
    return bool(build.validate_steps) and not published
