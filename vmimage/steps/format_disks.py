"""The built-in step that readies a build's formatted data disks
(`builds[].dataDisks[].format`): after the customize steps and before the seal, one run
command partitions, formats and mounts (Linux, by UUID with nofail) or letters (Windows)
each disk the build adds, found by its LUN. The image keeps the file systems and the
mounts, so every clone boots with its disks ready. Disks a parent build formatted are
ready already; the script leaves a formatted disk as it is, so a re-run changes nothing.
"""

from __future__ import annotations

from dataclasses import replace

import pulumi

from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.scripts.render import render
from vmimage.steps.kind import StepContext
from vmimage.steps.run_command import register_run_command
from vmimage.vocabulary import FORMAT_DISKS_KIND, STEP_CUSTOMIZE

TEMPLATE = {"linux": "linux/format-disks.sh.j2", "windows": "windows/format-disks.ps1.j2"}
COMMAND = "vmimage-format-disks"
TIMEOUT_S = 900


def disk_items(build: BuildSpec) -> list[str]:
    """`LUN:FS:TARGET:LABEL` per disk to format, as the templates take them."""
    return [f"{d.lun}:{d.format.fs}:{d.format.mount or (d.format.letter or '').upper()}:"
            f"{d.format.label}" for d in build.data_disks if d.format is not None]


def script(spec: PipelineSpec, build: BuildSpec, vm_name: str) -> str | None:
    """The rendered script, or None when the build formats no disk."""
    items = disk_items(build)
    if not items:
        return None
    return render(TEMPLATE[spec.os], {"disks": items}, os=spec.os, vm_name=vm_name)


def register(ctx: StepContext, logical_name: str) -> pulumi.CustomResource | None:
    text = script(ctx.spec, ctx.build, ctx.build_vm_name)
    if text is None:
        return None
    return register_run_command(replace(ctx, kind=FORMAT_DISKS_KIND), logical_name=logical_name,
                                name=COMMAND, script=text, timeout_s=TIMEOUT_S,
                                step_tag=STEP_CUSTOMIZE)
