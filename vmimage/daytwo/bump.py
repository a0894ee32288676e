"""`vmimage bump`: the next build appended to the stack file, as a reviewer would write it.

The new version is one above the highest in config *and* in Azure (a version deleted from
config still exists, and gallery versions are immutable: its number cannot be reused).
`from` points at the newest base (`vmimage outdated` found it); a build with a `recipe:`
stays three lines. Clone groups pinned to the bumped build move to the new version. The
file is edited with ruamel.yaml's round trip, so comments, order and quoting stay.
"""

from __future__ import annotations

import copy
import difflib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ruamel.yaml import YAML

from vmimage.azure import arm_ids, naming
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.daytwo.outdated import Finding

Part = Literal["major", "minor", "patch"]
PIPELINE = "vmimage:pipeline"
#: What a new build does not inherit: its life after capture is its own.
NOT_INHERITED = ("retired", "excludeFromLatest", "endOfLife", "revoked")


class BumpError(Exception):
    """The bump cannot be made; the message says why (exit 2)."""


def next_version(versions: Iterable[str], part: Part) -> str:
    parsed = [v for v in map(naming.parse_version, versions) if v is not None]
    major, minor, patch = max(parsed, default=(0, 0, 0))
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def pick_build(spec: PipelineSpec, wanted: str | None, found: list[Finding]) -> int:
    """The build to follow: `--build` (an index or a version), else the newest outdated
    one, else the newest build."""
    if wanted is not None:
        if wanted.isdigit() and int(wanted) < len(spec.builds):
            return int(wanted)
        for i, build in enumerate(spec.builds):
            if build.version == wanted:
                return i
        raise BumpError(f"--build {wanted}: no such build (an index 0-{len(spec.builds) - 1} "
                        "or a version of builds[])")
    outdated = [f.build for f in found if f.status == "outdated"]
    candidates = outdated or [b.version for b in spec.builds]
    newest = max(candidates, key=naming.version_key)
    return next(i for i, b in enumerate(spec.builds) if b.version == newest)


@dataclass(frozen=True)
class Bump:
    index: int
    version: str
    source: Any
    """The new build's `from`."""
    moved: tuple[str, ...]
    """The clone groups moved to the new version."""


def new_source(build: BuildSpec, raw_from: Any, finding: Finding | None, *,
               source_latest: bool) -> Any:
    """The new build's `from`: the same source at its newest version."""
    source = copy.deepcopy(raw_from)
    newest = finding.newest if finding is not None else None
    if build.from_.marketplace is not None:
        if source_latest:
            source["marketplace"]["version"] = "latest"
        elif newest is not None:
            source["marketplace"]["version"] = newest
    elif build.from_.version is not None and newest is not None:
        source["version"] = newest
    elif build.from_.image_version_id is not None and newest is not None:
        parsed = arm_ids.parse(str(build.from_.image_version_id), "gallery image version")
        source["imageVersionId"] = str(parsed).rsplit("/", 1)[0] + "/" + newest
    elif build.from_.vhd is not None or build.from_.managed_image_id is not None:
        raise BumpError("builds: a vhd or managedImageId source has no newer version Azure "
                        "can name; write the next build by hand")
    return source


def plan_bump(spec: PipelineSpec, raw_builds: list[Any], azure_versions: Iterable[str],
              found: list[Finding], *, wanted: str | None, part: Part,
              source_latest: bool) -> Bump:
    index = pick_build(spec, wanted, found)
    build = spec.builds[index]
    version = next_version([*(b.version for b in spec.builds), *azure_versions], part)
    finding = next((f for f in found if f.build == build.version), None)
    source = new_source(build, raw_builds[index]["from"], finding, source_latest=source_latest)
    moved = tuple(c.name for c in spec.clones if c.version == build.version)
    return Bump(index, version, source, moved)


def yaml() -> YAML:
    rt = YAML()  # round trip: comments, key order, flow style and quotes are kept
    rt.preserve_quotes = True
    rt.width = 4096  # never fold a long line the user wrote on one
    rt.indent(mapping=2, sequence=4, offset=2)  # the example stacks' `  - ` lists
    return rt


def load(text: str) -> Any:
    return yaml().load(text)


def dump(document: Any) -> str:
    out = io.StringIO()
    yaml().dump(document, out)
    return out.getvalue()


def apply(document: Any, bump: Bump) -> None:
    """Append the build (a copy of the one followed, its keys in their order) and re-pin
    the clone groups that followed it."""
    pipeline = document["config"][PIPELINE]
    builds = pipeline["builds"]
    old = builds[bump.index]
    new = copy.deepcopy(old)
    for key in NOT_INHERITED:
        new.pop(key, None)
    new["version"] = bump.version
    new["from"] = bump.source
    if hasattr(new, "fa") and hasattr(old, "fa") and old.fa.flow_style():
        new.fa.set_flow_style()
    builds.append(new)
    for clone in pipeline.get("clones") or []:
        if clone.get("name") in bump.moved:
            clone["version"] = bump.version


def unified_diff(before: str, after: str, source: str, target: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True),
                                        after.splitlines(keepends=True),
                                        fromfile=source, tofile=target))
