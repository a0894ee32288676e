"""A build started from another gallery's version (`builds[].from.imageVersionId`),
against that version's image definition, read before anything is registered
(vmimage/stack/definitions.py).

The build VM boots the parent version, so it takes what the parent's definition declares:
its OS, its Hyper-V generation and architecture, and only the VM security types its
SecurityType feature allows (docs/azure-behaviours.md, "Publishing into an existing
definition"). The stack's own definition declares its own; where the two differ, the build
VM could not be created, or the version captured from it would not fit. Each difference
is a problem at the build's key, with both values; pure.
"""

from __future__ import annotations

from vmimage.azure import security_types
from vmimage.config.definition import Definition
from vmimage.config.models import PipelineSpec
from vmimage.config.security_type import security_key, wanted_security_type


def _declared(spec: PipelineSpec, key: str) -> str:
    """Where the stack declares what its images are (gallery or managed image)."""
    return f"gallery.image.{key}" if spec.gallery else f"managedImage.{key}"


def parent_definition_problems(spec: PipelineSpec, at: str, name: str,
                               found: Definition) -> list[str]:
    """Each way the parent's definition `found` (named `name` in messages) cannot give
    this stack's build VM, reported at `at` (`builds[i].from.imageVersionId`)."""
    problems = []
    of = f"{at}: the parent version's definition {name}"
    if found.os_type.lower() != spec.os.lower():
        problems.append(f"{of} is {found.os_type}, but {_declared(spec, 'os')} is {spec.os}")
    if found.hyper_v_generation.lower() != spec.generation.lower():
        problems.append(f"{of} is generation {found.hyper_v_generation}, but "
                        f"{_declared(spec, 'generation')} is {spec.generation}; the build "
                        "VM boots its parent's generation, which its version keeps")
    if found.architecture.lower() != spec.architecture.lower():
        # managedImage takes no architecture: its images are the default, x64.
        where = _declared(spec, "architecture") if spec.gallery else \
            "the managed image (managedImage has no architecture key)"
        problems.append(f"{of} is {found.architecture}, but {where} is "
                        f"{spec.architecture}")
    wanted = wanted_security_type(spec)
    declared = found.feature(security_types.SECURITY_TYPE_FEATURE)
    if not security_types.boots(declared, wanted):
        allowed = ", ".join(sorted(security_types.BOOTS[declared.lower()]))
        shown = f"SecurityType {declared}" if declared else "no SecurityType feature"
        problems.append(f"{of} has {shown} (its versions boot {allowed} VMs only), but the "
                        f"build VM is a {wanted} VM ({security_key(spec)}); set "
                        f"{security_key(spec)} to one it boots, or start from a version "
                        "of a definition that allows it")
    return problems
