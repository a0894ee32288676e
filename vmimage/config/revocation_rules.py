"""Revoked versions (`builds[].revoked`): nothing in the config may still boot one.

A revoked version leaves `latest` (PipelineSpec.resolve_version), so clones asking for
latest move on their own; a clone group or a child build *pinned* to it is refused here,
by key path, with the groups that must move. A child build that is revoked itself is let
be: nothing uses it either.
"""

from __future__ import annotations

from vmimage.config.models import PipelineSpec
from vmimage.config.usage import groups_on


def revocation_problems(spec: PipelineSpec) -> list[str]:
    revoked = {b.version: b.revoked for b in spec.builds if b.revoked is not None}
    if not revoked:
        return []
    found: list[str] = []
    for i, clone in enumerate(spec.clones):
        if clone.version in revoked:
            must_move = ", ".join(groups_on(spec, clone.version))
            found.append(f"clones[{i}].version: {clone.version} is revoked "
                         f"({revoked[clone.version]}); clone groups pinned to it must move "
                         f"to another version: {must_move}")
    for i, build in enumerate(spec.builds):
        parent = build.from_.version
        if parent in revoked and build.revoked is None:
            found.append(f"builds[{i}].from.version: {parent} is revoked ({revoked[parent]}); "
                         f"build {build.version} from another version, or revoke it too")
    return found
