"""Retention (`gallery.retention: {keep: N, endOfLife: P90D}`): the newest N versions of
the builds in config (by version number) are kept; each older one is

- excluded from latest once `keep` newer versions are in latest as Azure holds them (so
  a newer build that fails, or waits for validation, never empties latest), given an
  end-of-life date and its build VM retired (`retire`, applied with what Azure answered
  before anything registers). The date is Azure's own record of
  the version's publication (`publishingProfile.publishedDate`) plus `endOfLife`: recorded
  once, so every later run computes the same date and a preview shows no drift; never
  "now". A build's own `endOfLife` date wins;
- no longer protected, and tagged `vmimage-retention: keep N`: once its build leaves the
  config, Pulumi deletes it like any resource the program stopped declaring. The newest N
  stay protected, so removing one of those is still refused as before. A version leaves
  the config only when nothing in it uses the version (rules.py names the users:
  vmimage/config/usage.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from vmimage.azure import naming
from vmimage.config.fingerprint import Capture
from vmimage.config.models import PipelineSpec
from vmimage.config.values import parse_duration


def retained_out(spec: PipelineSpec, captures: Mapping[str, Capture]) -> dict[str, int]:
    """The versions beyond the newest `keep`, each with that `keep` (none without
    retention or a gallery: Azure's latest is a gallery's). One leaves only once `keep`
    newer versions are in latest as Azure holds them (captured, not excluded there nor by
    config): a newer build that failed, or waits for its validation, never leaves the
    gallery with no latest."""
    retention = spec.gallery.retention if spec.gallery else None
    if retention is None or not spec.uses_gallery:
        return {}
    versions = sorted((b.version for b in spec.builds if naming.parse_version(b.version)),
                      key=naming.version_key, reverse=True)
    serving = [naming.version_key(b.version) for b in spec.builds
               if not b.excluded_from_latest and (c := captures.get(b.version)) is not None
               and c.captured and c.in_latest and naming.parse_version(b.version)]
    return {v: retention.keep for v in versions[retention.keep:]
            if sum(s > naming.version_key(v) for s in serving) >= retention.keep}


def end_of_life(published: str, days: int) -> date | None:
    """The publication date (ISO 8601, as Azure reports it) plus `days`; None when the
    date does not parse."""
    try:
        at = datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at.date() + timedelta(days=days)


def retire(spec: PipelineSpec, captures: Mapping[str, Capture]) -> PipelineSpec:
    """The spec with each retained-out build excluded from latest and, once captured,
    retired, with its end of life set from its publication (unless the build says its
    own)."""
    out = retained_out(spec, captures)
    retention = spec.gallery.retention if spec.gallery else None
    if not out or retention is None:
        return spec
    builds = []
    for build in spec.builds:
        if build.version not in out:
            builds.append(build)
            continue
        update: dict[str, object] = {"exclude_from_latest": True}
        capture = captures.get(build.version)
        if capture is not None and capture.captured:
            update["retired"] = True
            duration = retention.end_of_life
            if build.end_of_life is None and duration is not None and capture.published:
                update["end_of_life"] = end_of_life(capture.published,
                                                     parse_duration(duration).days)
        builds.append(build.model_copy(update=update))
    return spec.model_copy(update={"builds": tuple(builds)})
