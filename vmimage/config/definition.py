"""The gallery image definition a pipeline's versions need, derived from the config in
this one place: the stack creates it so (vmimage/components/image.py), and an existing
definition (`gallery.imageId`) is checked against it before anything is registered.

Versions inherit what their definition declares (OS, state, generation, architecture,
features, plan; docs/azure-behaviours.md, "Publishing into an existing definition"), and
none of it can change once the definition exists: so every difference is a problem,
each named with its key path and both values, all at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vmimage.azure import security_types
from vmimage.config.models import CREATED_DEFINITION_KEYS, PipelineSpec
from vmimage.config.security_type import wanted_security_type

AT = "gallery.imageId"


@dataclass(frozen=True)
class Definition:
    """An image definition's properties that its versions and VMs depend on, in ARM's
    words (osType Linux/Windows, hyperVGeneration V1/V2, architecture x64/Arm64)."""

    os_type: str
    os_state: str
    hyper_v_generation: str
    architecture: str
    features: tuple[tuple[str, str], ...]
    """(name, value) in ARM's order; absent features are Azure's defaults."""
    purchase_plan: tuple[str, str, str] | None
    """(publisher, product, name)."""

    def feature(self, name: str) -> str:
        return next((v for n, v in self.features if n.lower() == name.lower()), "")


def wanted_definition(spec: PipelineSpec) -> Definition:
    """The definition the pipeline creates, or needs an existing one to be."""
    assert spec.gallery is not None
    features: list[tuple[str, str]] = []
    security = security_types.DEFINITION_FEATURE[wanted_security_type(spec)]
    if security:
        features.append((security_types.SECURITY_TYPE_FEATURE, security))
    controllers = spec.gallery.image.disk_controller_types
    if "NVMe" in controllers:  # SCSI alone is what an unmarked definition means
        features.append(("DiskControllerTypes", ",".join(controllers)))
    plan = spec.definition_plan
    return Definition(
        os_type="Windows" if spec.windows else "Linux", os_state="Generalized",
        hyper_v_generation=spec.gallery.image.generation,
        architecture=spec.gallery.image.architecture, features=tuple(features),
        purchase_plan=(plan.publisher, plan.product, plan.name) if plan else None)


def found_definition(properties: Mapping[str, Any]) -> Definition:
    """A definition as ARM answers a GET (its `properties`, or the flattened SDK dict),
    with Azure's defaults for what it leaves out (V1, x64, no features)."""
    plan = properties.get("purchasePlan") or properties.get("purchase_plan")
    return Definition(
        os_type=str(properties.get("osType") or properties.get("os_type") or ""),
        os_state=str(properties.get("osState") or properties.get("os_state") or ""),
        hyper_v_generation=str(properties.get("hyperVGeneration")
                               or properties.get("hyper_v_generation") or "V1"),
        architecture=str(properties.get("architecture") or "x64"),
        features=tuple((str(f.get("name")), str(f.get("value")))
                       for f in properties.get("features") or []),
        purchase_plan=(str(plan.get("publisher")), str(plan.get("product")),
                       str(plan.get("name"))) if plan else None)


def _controllers(text: str) -> frozenset[str]:
    return frozenset(c.strip().lower() for c in (text or "SCSI").split(",") if c.strip())


def _plan(plan: tuple[str, str, str] | None) -> str:
    return "none" if plan is None else "publisher {}, product {}, name {}".format(*plan)


def definition_problems(spec: PipelineSpec, found: Definition) -> list[str]:
    """Each way the existing definition `found` cannot hold this pipeline's versions."""
    assert spec.gallery is not None
    image = spec.gallery.image
    want = wanted_definition(spec)
    problems = []
    if found.os_type.lower() != want.os_type.lower():
        problems.append(f"{AT}: the definition's osType is {found.os_type}, but "
                        f"gallery.image.os is {spec.os}; a version has its definition's OS")
    if found.os_state.lower() != want.os_state.lower():
        problems.append(f"{AT}: the definition's osState is {found.os_state}, but builds "
                        "are captured generalized (deprovisioned); use a Generalized "
                        "definition")
    if found.hyper_v_generation.lower() != want.hyper_v_generation.lower():
        problems.append(f"{AT}: the definition's hyperVGeneration is "
                        f"{found.hyper_v_generation}, but gallery.image.generation is "
                        f"{want.hyper_v_generation} (the builds' sources and sizes are "
                        f"checked against it); set it to {found.hyper_v_generation} with "
                        "sources of that generation, or use another definition")
    if found.architecture.lower() != want.architecture.lower():
        problems.append(f"{AT}: the definition's architecture is {found.architecture}, but "
                        f"gallery.image.architecture is {want.architecture} (the VM sizes "
                        "are checked against it)")
    security = wanted_security_type(spec)
    declared = found.feature(security_types.SECURITY_TYPE_FEATURE)
    if not security_types.allows(declared, security):
        shown = f"definition's feature SecurityType is {declared}" if declared else \
            "definition has no SecurityType feature (Standard VMs only)"
        problems.append(f"{AT}: the {shown}, but the build VM and clones are "
                        f"{security} VMs (security.type); set security.type to what "
                        "it allows, or use a definition that allows them")
    wanted_controllers = _controllers(want.feature("DiskControllerTypes"))
    if _controllers(found.feature("DiskControllerTypes")) != wanted_controllers:
        problems.append(f"{AT}: the definition's DiskControllerTypes is "
                        f"{found.feature('DiskControllerTypes') or 'SCSI (unset)'}, but "
                        "gallery.image.diskControllerTypes is "
                        f"{', '.join(image.disk_controller_types)}; the clones' sizes "
                        "boot by what the definition declares")
    if _lower(found.purchase_plan) != _lower(want.purchase_plan):
        source = "builds[].from.marketplace.plan" if want.purchase_plan else \
            "the builds' sources' plan"
        problems.append(f"{AT}: the definition's purchasePlan is {_plan(found.purchase_plan)}, "
                        f"but {source} is {_plan(want.purchase_plan)}; a version's VMs "
                        "carry the definition's plan, which must be the source's")
    return problems


def _lower(plan: tuple[str, str, str] | None) -> tuple[str, ...] | None:
    return tuple(p.lower() for p in plan) if plan else None


def created_key_problems(spec: PipelineSpec) -> list[str]:
    """With `gallery.imageId`, the keys that describe a definition to create are the
    existing one's: refused, so nobody believes they set them. Without it they are
    required."""
    gallery = spec.gallery
    if gallery is None:
        return []
    image = gallery.image
    if gallery.image_id is None:
        missing = [f"gallery.{key}" for key, value in (("name", gallery.name),) if not value]
        missing += [f"gallery.image.{key}" for key in ("name", "publisher", "offer", "sku")
                    if not getattr(image, CREATED_DEFINITION_KEYS[key])]
        return [f"{key}: required (or publish into an existing definition with "
                "gallery.imageId)" for key in missing]
    given = (["gallery.name"] if gallery.name is not None else []) + [
        f"gallery.image.{key}" for key, field in CREATED_DEFINITION_KEYS.items()
        if getattr(image, field) is not None]
    return [f"{key}: not with gallery.imageId: the existing definition's own (gallery, "
            "name, identifier, description) are kept as they are; remove it" for key in given]
