"""`capture: [..., {vhd: ...}]`: the generalized build VM's disks exported as VHD page
blobs (vmimage/providers/export_vhd.py), once the build's images are captured.

Ordering: the export's VM id waits for every image target registered before it (a
gallery version, a managed image), so the disks are read by one thing at a time, and the
build VM is retired (deleted) only in a later run, once captured and exported; a retired
build's export stays registered as that run left it, so its blobs stay listed. Nothing
boots from an export, so its `lookup` is never asked (`targets_of(spec)[0]` is an image).
"""

from __future__ import annotations

from typing import Any

import pulumi

from vmimage.azure import naming
from vmimage.azure.reads import CloudReads
from vmimage.capture.target import CaptureContext, CaptureTarget
from vmimage.config.capture.vhd import RULES, blob_names, exported, retired_export
from vmimage.config.image_disks import image_disks
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.providers.export_vhd import EXPORT_VHD_INPUTS, ExportVhd, ExportVhdArgs
from vmimage.providers.vm_action import subscription_output


def _register(ctx: CaptureContext) -> pulumi.Output[Any] | None:
    export = ctx.spec.vhd_export
    assert export is not None
    if ctx.source_vm_id is None or not exported(ctx.build):
        return None
    version = ctx.build.version
    # A data dependency on the images captured first: the export starts after them.
    vm_id = pulumi.Output.all(ctx.source_vm_id, *ctx.after).apply(lambda v: str(v[0]))
    retired = retired_export(ctx.spec, ctx.build)
    # A retired build's export stays as recorded (its blobs stay in storage and in
    # `vhdBlobs`): none of its inputs, now those of a VM that is gone, may change it.
    kept = pulumi.ResourceOptions(ignore_changes=list(EXPORT_VHD_INPUTS)) if retired else None
    action = ExportVhd(
        naming.child_name(ctx.name, "vhd"),
        ExportVhdArgs(
            resource_group_name=ctx.resource_group_name,
            vm_name=naming.build_vm_name(ctx.spec.image_name, version),
            vm_id=vm_id, vm_unique_id=ctx.vm_unique_id, location=ctx.spec.location,
            subscription_id=subscription_output(vm_id), environment=ctx.environment,
            storage_account_id=export.storage_account_id, container=export.container,
            blob_names=blob_names(ctx.spec.image_name, version,
                                  sorted(image_disks(ctx.spec, version))),
            retired=retired),
        opts=pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=ctx.parent), kept))
    return action.blobs


def _lookup(spec: PipelineSpec, build: BuildSpec, reads: CloudReads | None) -> Any:
    raise LookupError("a VHD export is no image: clones boot from a gallery version or "
                      "managed image")


TARGET = CaptureTarget(rules=RULES, register=_register, lookup=_lookup)
