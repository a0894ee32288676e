"""Azure Hybrid Benefit: a build's or clone group's `licenseType` must be one for the
image's OS (a Windows licence on a Linux image, or the reverse, is a mistake no deploy
should reach). Pure functions of a validated spec; `rules.semantic_problems` calls
`license_problems`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmimage.config.values import license_os_problem

if TYPE_CHECKING:
    from vmimage.config.models import PipelineSpec


def license_problems(spec: PipelineSpec) -> list[str]:
    found: list[str] = []
    for i, build in enumerate(spec.builds):
        if build.license_type is not None and build.imported:
            found.append(f"builds[{i}].licenseType: an imported VHD has no build VM to "
                         "license; set it on the clones")
            continue
        problem = license_os_problem(build.license_type, spec.os)
        if problem:
            found.append(f"builds[{i}].licenseType: {problem}")
    for i, clone in enumerate(spec.clones):
        problem = license_os_problem(clone.license_type, spec.os)
        if problem:
            found.append(f"clones[{i}].licenseType: {problem}")
    return found
