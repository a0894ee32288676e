"""`vmimage outdated`: for each line of builds (the builds on one source), is there a newer
base than the newest build was made on? Pure over the spec and `SourceReads`.

A marketplace image's versions are Azure's Major.Minor.Build, compared as numbers, and
`latest` is the highest (REST `ImageReference.version`); what `latest` meant when a version
was built is its `vmimage-source` tag (vmimage/config/provenance.py). A parent version is
outdated when the image has a newer version not built from the child itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from vmimage.azure import arm_ids, naming
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.config.provenance import parse_marketplace_source
from vmimage.daytwo.reads import SourceReads
from vmimage.vocabulary import SOURCE_TAG

OUTDATED, CURRENT, UNKNOWN, UNCHECKED = "outdated", "current", "unknown", "unchecked"


def marketplace_key(version: str) -> tuple[int, ...]:
    """Azure's order of marketplace versions: by number, part by part."""
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


@dataclass(frozen=True)
class Finding:
    build: str
    """The newest build of the line: the one a new build would follow."""
    kind: str
    """marketplace, parent (a version built here), image (another gallery's version),
    managedImage or vhd."""
    source: str
    built_on: str | None
    """The source's version the build was made on (None: not known)."""
    newest: str | None
    status: str
    note: str = ""

    def as_json(self) -> dict[str, str | None]:
        return {("builtOn" if k == "built_on" else k): v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class AzureView:
    """What Azure holds of the stack's own image: each version and its tags."""

    versions: Mapping[str, Mapping[str, str]]


def own_versions(spec: PipelineSpec, reads: SourceReads) -> AzureView:
    if spec.gallery is None or not spec.uses_gallery:
        return AzureView({})
    existing = spec.gallery.existing
    return AzureView(reads.gallery_versions(
        existing.subscription if existing else None,
        existing.resource_group if existing else spec.resource_group,
        spec.gallery.gallery_name, spec.gallery.definition_name))


def line_of(build: BuildSpec) -> tuple[str, ...]:
    """Builds on the same source form a line; only its newest build is judged."""
    source = build.from_
    if source.marketplace is not None:
        m = source.marketplace
        return ("marketplace", m.publisher.lower(), m.offer.lower(), m.sku.lower())
    if source.version is not None:
        return ("parent",)
    if source.image_version_id is not None:
        return ("image", str(source.image_version_id).lower().rsplit("/versions/", 1)[0])
    return ("other", build.version)


def newest_of_lines(spec: PipelineSpec) -> list[BuildSpec]:
    lines: dict[tuple[str, ...], BuildSpec] = {}
    for build in spec.builds:
        key = line_of(build)
        if key not in lines or naming.version_key(build.version) > naming.version_key(
                lines[key].version):
            lines[key] = build
    return list(lines.values())


def descendants(spec: PipelineSpec, version: str) -> set[str]:
    found = {version}
    changed = True
    while changed:
        changed = False
        for build in spec.builds:
            if build.from_.version in found and build.version not in found:
                found.add(build.version)
                changed = True
    return found


def _marketplace(spec: PipelineSpec, build: BuildSpec, reads: SourceReads,
                 azure: AzureView) -> Finding:
    m = build.from_.marketplace
    assert m is not None
    name = f"{m.publisher}:{m.offer}:{m.sku}"
    available = reads.marketplace_versions(spec.location, m.publisher, m.offer, m.sku)
    newest = max(available, key=marketplace_key, default=None)
    if newest is None:
        return Finding(build.version, "marketplace", name, None, None, UNKNOWN,
                       f"Azure has no such image in {spec.location}")
    if m.version != "latest":
        built_on = m.version
    elif build.version not in azure.versions:
        return Finding(build.version, "marketplace", name, None, newest, CURRENT,
                       "not built yet: latest will be " + newest)
    else:
        recorded = parse_marketplace_source(azure.versions[build.version].get(SOURCE_TAG))
        if recorded is None:
            return Finding(build.version, "marketplace", name, None, newest, UNKNOWN,
                           f"built on latest, not recorded ({SOURCE_TAG} tag missing)")
        built_on = recorded.version
    status = OUTDATED if marketplace_key(newest) > marketplace_key(built_on) else CURRENT
    return Finding(build.version, "marketplace", name, built_on, newest, status)


def _parent(spec: PipelineSpec, build: BuildSpec, azure: AzureView) -> Finding:
    parent = build.from_.version
    assert parent is not None
    mine = descendants(spec, build.version)
    siblings = [v for v in {*(b.version for b in spec.builds), *azure.versions}
                if v not in mine and naming.parse_version(v) is not None
                and not any(b.version == v and b.excluded_from_latest for b in spec.builds)]
    newest = max(siblings, key=naming.version_key, default=parent)
    status = OUTDATED if naming.version_key(newest) > naming.version_key(parent) else CURRENT
    return Finding(build.version, "parent", f"version {parent}", parent, newest, status)


def _image(build: BuildSpec, reads: SourceReads) -> Finding:
    source = arm_ids.parse(str(build.from_.image_version_id), "gallery image version")
    gallery, image, version = source.names[-3:]
    available = [v for v in reads.gallery_versions(source.subscription, source.resource_group,
                                                   gallery, image)
                 if naming.parse_version(v) is not None]
    newest = max(available, key=naming.version_key, default=None)
    name = f"{gallery}/{image}"
    if newest is None:
        return Finding(build.version, "image", name, version, None, UNKNOWN,
                       "Azure lists no version of that image")
    status = OUTDATED if naming.version_key(newest) > naming.version_key(version) else CURRENT
    return Finding(build.version, "image", name, version, newest, status)


def findings(spec: PipelineSpec, reads: SourceReads) -> list[Finding]:
    azure = own_versions(spec, reads)
    found = []
    for build in newest_of_lines(spec):
        if build.from_.marketplace is not None:
            found.append(_marketplace(spec, build, reads, azure))
        elif build.from_.version is not None:
            found.append(_parent(spec, build, azure))
        elif build.from_.image_version_id is not None:
            found.append(_image(build, reads))
        else:
            kind = "vhd" if build.from_.vhd is not None else "managedImage"
            found.append(Finding(build.version, kind, kind, None, None, UNCHECKED,
                                 "Azure cannot say whether a newer one exists"))
    return found


def any_outdated(found: list[Finding]) -> bool:
    return any(f.status == OUTDATED for f in found)


def as_json(stack: str, found: list[Finding]) -> str:
    return json.dumps({"stack": stack, "outdated": any_outdated(found),
                       "sources": [f.as_json() for f in found]}, indent=2)
