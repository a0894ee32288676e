"""Who uses a version: the clone groups that boot it and the builds made from it. One
answer for every rule that must name them (revocation: who must move; retention: what
keeps a version that leaves the config from being deleted)."""

from __future__ import annotations

from vmimage.config.models import PipelineSpec


def groups_on(spec: PipelineSpec, version: str) -> list[str]:
    """The clone groups that boot `version`: pinned to it, or on latest when latest is it.
    A version that is not among the builds is only ever pinned."""
    return [c.name for c in spec.clones
            if c.version == version or spec.resolve_version(c.version) == version]


def children_of(spec: PipelineSpec, version: str) -> list[str]:
    """The builds whose build VM boots `version` (`from.version`)."""
    return [b.version for b in spec.builds if b.from_.version == version]


def users_of(spec: PipelineSpec, version: str) -> str:
    """`clone groups a, b; child builds 1.2.0` (what is there), for a message."""
    parts = []
    if groups := groups_on(spec, version):
        parts.append("clone groups " + ", ".join(groups))
    if children := children_of(spec, version):
        parts.append("child builds " + ", ".join(children))
    return "; ".join(parts) or "nothing"


def still_used(spec: PipelineSpec, version: str) -> str:
    """Under retention, what a missing version's refusal adds: a version leaves the config
    (and Azure) only once nothing uses it, so the users are named ('' without retention)."""
    if spec.gallery is None or spec.gallery.retention is None:
        return ""
    return (f"; a version leaves the config only once nothing uses it, and {version} is "
            f"still used by {users_of(spec, version)}: move them to another version first")
