"""Which builds are already captured, read from Azure before anything is registered.

A captured build's VM is generalized: Azure refuses to start or modify it, and to change
or delete its extensions and run commands while it is not running (docs/azure-behaviours.md,
"frozen build VM"). So before the program registers a single resource it asks Azure, with
the provider's own lookups (`getGalleryImageVersion`, `getImage`: each capture target
says which, vmimage/capture/), whether each build's image exists, and what fingerprint it
was captured with; a version of an existing definition (`gallery.imageId`, perhaps in
another subscription) is read through the SDK instead (vmimage/azure/reads.py).
`pulumi preview` and `pulumi up` both do this; the offline simulator answers both.

The answers decide three things (rules in vmimage/config/rules.py, `frozen_build_problems`):
a captured build whose config changed is refused ("give it a new version"), a build can
only be retired once captured, and a captured build's resources are registered frozen
(every input ignored), so no later change reaches the generalized VM.
"""

from __future__ import annotations

from datetime import datetime

import pulumi

from vmimage.azure.invokes import is_not_found
from vmimage.azure.reads import CloudReadError, CloudReads
from vmimage.capture import targets_of
from vmimage.config.fingerprint import Capture
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.config.provenance import recorded
from vmimage.vocabulary import FINGERPRINT_TAG


class CaptureLookupError(Exception):
    """Azure could not say whether a build is captured; the message names the build."""


def _lookup(build: BuildSpec, spec: PipelineSpec, reads: CloudReads | None) -> Capture:
    # The image clones boot from (a gallery version where there is one) says it.
    target = targets_of(spec)[0]
    try:
        found = target.lookup(spec, build, reads)
    except CloudReadError:
        raise  # it names what was asked and why it failed
    except Exception as err:  # the SDK raises a bare Exception for a failed invoke
        if is_not_found(err):
            return Capture(build.version, captured=False)
        raise CaptureLookupError(
            f"cannot tell whether version {build.version} is already captured: {err}") from None
    if not getattr(found, "id", None):
        return Capture(build.version, captured=False)
    tags = getattr(found, "tags", None) or {}
    profile = getattr(found, "publishing_profile", None)
    published = getattr(profile, "published_date", None)
    if isinstance(published, datetime):  # the SDK's read parses it; the invoke's is text
        published = published.isoformat()
    return Capture(build.version, captured=True, fingerprint=tags.get(FINGERPRINT_TAG),
                   replicas=replicas_of(found), provenance=recorded(tags),
                   published=str(published) if published else None,
                   # Left out, it is false (its default): in latest.
                   in_latest=profile is not None
                   and not getattr(profile, "exclude_from_latest", None))


def replicas_of(found: object) -> dict[str, int]:
    """A gallery version's replicas per target region, as Azure answered."""
    profile = getattr(found, "publishing_profile", None)
    regions = getattr(profile, "target_regions", None) or []
    return {str(r.name).replace(" ", "").lower(): int(r.regional_replica_count)
            for r in regions if getattr(r, "regional_replica_count", None)}


def look_up_captures(spec: PipelineSpec,
                     reads: CloudReads | None = None) -> dict[str, Capture]:
    """Every build's capture, by version (one read per build)."""
    return {build.version: _lookup(build, spec, reads) for build in spec.builds}


def kept_replica_notes(spec: PipelineSpec, captures: dict[str, Capture]) -> list[str]:
    """Where `replicas: auto` would now size a captured version otherwise (its clones
    moved): the version keeps what it has, and the plan says so."""
    notes = []
    for i, build in enumerate(spec.builds):
        capture = captures.get(build.version)
        if capture is None or not capture.captured or not capture.replicas:
            continue
        for region in spec.regions_of(build):
            kept = capture.replicas.get(region.name.lower())
            if region.replicas is not None or kept is None:
                continue
            now = spec.replicas_for(build, region)
            if now != kept:
                notes.append(
                    f"builds[{i}].regions ({region.name}): replicas auto would now be {now} "
                    f"(clones moved), but version {build.version} keeps its {kept}: auto sizes "
                    f"a version when it is captured; set replicas: {now} to change it")
    return notes


def warn_unfingerprinted(captures: dict[str, Capture]) -> None:
    for capture in captures.values():
        if capture.captured and capture.fingerprint is None:
            pulumi.log.warn(
                f"version {capture.version} was captured without a build fingerprint (by an "
                "earlier vmimage): changes to its build cannot be detected, so they are "
                "ignored; its build VM stays as it is")
