"""Retention (`gallery.retention: {keep: N, endOfLife: P90D}`): the newest N versions of
the builds in config (by version number) are kept; each older one is

- excluded from latest, from the moment it falls out of the newest N (`retained`, applied
  when the config is loaded, so latest, plans and policy agree);
- given an end-of-life date and its build VM retired, once Azure holds it (`retire`, applied
  with what Azure answered before anything registers). The date is Azure's own record of
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


def retained_out(spec: PipelineSpec) -> dict[str, int]:
    """The versions beyond the newest `keep`, each with that `keep` (none without
    retention or a gallery: Azure's latest is a gallery's)."""
    retention = spec.gallery.retention if spec.gallery else None
    if retention is None or not spec.uses_gallery:
        return {}
    versions = sorted((b.version for b in spec.builds if naming.parse_version(b.version)),
                      key=naming.version_key, reverse=True)
    return dict.fromkeys(versions[retention.keep:], retention.keep)


def retained(spec: PipelineSpec) -> PipelineSpec:
    """The spec with every retained-out build excluded from latest."""
    out = retained_out(spec)
    if not out:
        return spec
    return spec.model_copy(update={"builds": tuple(
        b.model_copy(update={"exclude_from_latest": True}) if b.version in out else b
        for b in spec.builds)})


def end_of_life(published: str, days: int) -> date | None:
    """The publication date (ISO 8601, as Azure reports it) plus `days`; None when the
    date does not parse."""
    try:
        at = datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at.date() + timedelta(days=days)


def retire(spec: PipelineSpec, captures: Mapping[str, Capture]) -> PipelineSpec:
    """The spec with each captured retained-out build retired, and its end of life set
    from its publication (unless the build says its own)."""
    out = retained_out(spec)
    retention = spec.gallery.retention if spec.gallery else None
    if not out or retention is None:
        return spec
    builds = []
    for build in spec.builds:
        capture = captures.get(build.version)
        if build.version not in out or capture is None or not capture.captured:
            builds.append(build)
            continue
        update: dict[str, object] = {"retired": True}
        duration = retention.end_of_life
        if build.end_of_life is None and duration is not None and capture.published:
            update["end_of_life"] = end_of_life(capture.published,
                                                 parse_duration(duration).days)
        builds.append(build.model_copy(update=update))
    return spec.model_copy(update={"builds": tuple(builds)})
