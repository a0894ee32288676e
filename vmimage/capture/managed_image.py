"""`capture: managedImage`: a managed image in the pipeline's resource group and region
(no replication, no Trusted Launch); clones boot from it when there is no gallery."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_azure_native import compute

from vmimage.azure import naming
from vmimage.azure.reads import CloudReads
from vmimage.capture.target import CaptureContext, CaptureTarget, protected
from vmimage.config.capture.managed_image import RULES
from vmimage.config.models import BuildSpec, PipelineSpec


def _register(ctx: CaptureContext) -> pulumi.Output[str]:
    image = compute.Image(
        naming.child_name(ctx.name, "managed-image"),
        image_name=naming.managed_image_name(ctx.spec.image_name, ctx.build.version),
        resource_group_name=ctx.resource_group_name,
        location=ctx.spec.location,
        source_virtual_machine=compute.SubResourceArgs(id=ctx.source_vm_id),
        hyper_v_generation=ctx.spec.generation,
        tags=ctx.tags,
        opts=protected(ctx),
    )
    return image.id


def _lookup(spec: PipelineSpec, build: BuildSpec, reads: CloudReads | None) -> Any:
    return compute.get_image(resource_group_name=spec.resource_group,
                             image_name=naming.managed_image_name(spec.image_name,
                                                                  build.version))


TARGET = CaptureTarget(rules=RULES, register=_register, lookup=_lookup)
