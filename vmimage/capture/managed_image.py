"""`capture: managedImage`: a managed image in the pipeline's resource group and region
(no replication, no Trusted Launch); clones boot from it when there is no gallery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmimage.capture.gallery import _protected
from vmimage.capture.target import CaptureContext, CaptureTarget

if TYPE_CHECKING:
    import pulumi

    from vmimage.config.models import BuildSpec, PipelineSpec


def _register(ctx: CaptureContext) -> pulumi.Output[str]:
    import pulumi
    from pulumi_azure_native import compute

    from vmimage.azure import naming

    image = compute.Image(
        naming.child_name(ctx.name, "managed-image"),
        image_name=naming.managed_image_name(ctx.spec.image_name, ctx.build.version),
        resource_group_name=ctx.resource_group_name,
        location=ctx.spec.location,
        source_virtual_machine=compute.SubResourceArgs(id=ctx.source_vm_id),
        hyper_v_generation=ctx.spec.generation,
        tags=ctx.tags,
        opts=_protected(ctx, pulumi),
    )
    return image.id


def _lookup(spec: PipelineSpec, build: BuildSpec) -> Any:
    from pulumi_azure_native import compute

    from vmimage.azure import naming

    return compute.get_image(resource_group_name=spec.resource_group,
                             image_name=naming.managed_image_name(spec.image_name,
                                                                  build.version))


def _problems(spec: PipelineSpec) -> list[str]:
    found = []
    if spec.gallery is None and spec.managed_image is None:
        found.append("managedImage.name: required when capture is 'managedImage' and there "
                     "is no gallery")
    if spec.security.trusted_launch:
        found.append("security.trustedLaunch: managed images do not support Trusted Launch; "
                     "use capture: gallery or turn trustedLaunch off")
    managed = spec.managed_image
    if managed is not None and spec.gallery is None and managed.os is None:
        found.append("managedImage.os: required when there is no gallery (linux or windows: "
                     "it decides deprovision or sysprep, SSH key or password)")
    if managed is not None and spec.gallery is not None and managed.os not in (
            None, spec.gallery.image.os):
        found.append(f"managedImage.os: {managed.os} differs from gallery.image.os "
                     f"{spec.gallery.image.os}; one build makes both images")
    return found


TARGET = CaptureTarget(key="managedImage", output="managedImageIds", preference=1,
                       register=_register, lookup=_lookup, problems=_problems)
