"""The customize steps of a build, in order, on its build VM (after the built-in step
that formats its data disks): each registered by its kind (vmimage/steps/), one after
the other. The validate steps run the same way on the validation VM.

The seal that follows them (waagent deprovision or sysprep) is not a step: it ends with
the guest powering off, so the Generalize step runs and watches it
(vmimage/providers/guest_seal.py, `seal_for` below gives it the scripts).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pulumi

from vmimage.azure import naming
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.config.provenance import step_digests
from vmimage.scripts.render import render
from vmimage.steps import format_disks, register_step
from vmimage.steps.kind import StepContext
from vmimage.steps.on_failure import failure_hook
from vmimage.steps.run_command import register_run_command
from vmimage.vocabulary import GUEST_SCRIPTS, STEP_DEPROVISION

SEAL_TEMPLATE = {"linux": "linux/deprovision.sh.j2", "windows": "windows/sysprep.ps1.j2"}
SEAL_CHECKS_TEMPLATE = {"windows": "windows/sysprep-checks.ps1.j2"}
#: How long the guest may take from the start of the seal to its power-off. The Windows
#: script gives sysprep a little less, so it reports its own failure first.
SEAL_TIMEOUT_S = {"linux": 1800.0, "windows": 3600.0}
SYSPREP_MINUTES = 50
#: How long ImageState may take to reach the sealed state once sysprep.exe has exited: it
#: sets that state before it quits, so a few minutes only cover a slow registry read.
SYSPREP_EXIT_GRACE_MINUTES = 3
#: The Windows seal template's variables.
SYSPREP_VARS = {"seal_minutes": SYSPREP_MINUTES, "exit_grace_minutes": SYSPREP_EXIT_GRACE_MINUTES}
# Before this release the seal was a run command resource named `deprovision`; builds
# captured then still have it in their state, and Azure refuses to delete it from their
# stopped VM. So those builds keep it, frozen, until they are retired with their VM.
LEGACY_DEPROVISION = "deprovision"


@dataclass(frozen=True)
class GuestScriptsArgs:
    spec: PipelineSpec
    """The validated pipeline spec (OS decides the templates)."""
    build: BuildSpec
    """The build whose customize steps run, in order."""
    resource_group_name: pulumi.Input[str]
    """Resource group of the build VM."""
    vm_name: pulumi.Input[str]
    """Azure name of the build VM (an output of BuildVm, so scripts wait for the VM)."""
    vm: pulumi.Resource | None = None
    """The build VM: run commands are its child resources in Azure and go with it."""
    vm_id: pulumi.Input[str] | None = None
    """ARM id of the build VM (a restart step acts on it)."""
    vm_unique_id: pulumi.Input[str] | None = None
    frozen: bool = False
    """The build is captured: its run commands may never change (vmimage/parts/frozen.py)."""
    legacy_deprovision: bool = False
    """Captured by an earlier vmimage, which kept the seal as a run command resource."""
    after: pulumi.CustomResource | None = None
    """What the first step waits for (the resume of an evicted Spot VM), if anything."""
    role: str = "build"
    """The build VM's customize steps, or ("validate") the validation VM's steps."""


@dataclass(frozen=True)
class SealScripts:
    """What the Generalize step runs in the guest to seal it."""

    os: str
    script: str
    checks: str | None
    timeout_s: float


def seal_for(spec: PipelineSpec, build: BuildSpec) -> SealScripts:
    vm_name = naming.build_vm_name(spec.image_name, build.version)
    checks = SEAL_CHECKS_TEMPLATE.get(spec.os)
    return SealScripts(
        os=spec.os,
        script=render(SEAL_TEMPLATE[spec.os], SYSPREP_VARS, os=spec.os,
                      vm_name=vm_name),
        checks=render(checks, {}, os=spec.os, vm_name=vm_name) if checks else None,
        timeout_s=SEAL_TIMEOUT_S[spec.os],
    )


class GuestScripts(pulumi.ComponentResource):
    last: pulumi.CustomResource | None
    """The last step's resource (None without customize steps): the seal waits for it."""
    step_digests: pulumi.Output[list[str | None]]
    """Each step's digest, in order, from the scripts its run commands hold
    (vmimage/config/provenance.py `step_digests`)."""

    def __init__(
        self, name: str, args: GuestScriptsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(GUEST_SCRIPTS, name, None, opts)
        spec, build = args.spec, args.build
        previous: pulumi.CustomResource | None = args.after
        steps = build.validate_steps if args.role == "validate" else build.customize
        self._scripts: list[tuple[int, pulumi.Output[str]]] = []
        # One hook per build (the engine refuses a hook's name twice), on every step of
        # its build VM; a validation VM runs on after a failed step (README).
        self._on_error = failure_hook(naming.child_name(name, "on-failure"), build.on_failure,
                                      steps=name) \
            if args.role == "build" and not args.frozen else None
        if args.role == "build":
            # First: the customize steps may install onto the disks' mount points.
            previous = format_disks.register(
                self._context(name, args, previous),
                naming.child_name(name, "format-disks")) or previous
        for i, step in enumerate(steps):
            previous = register_step(
                replace(self._context(name, args, previous), scripts=self._scripts), step, i)
        held = pulumi.Output.all(*(script for _, script in self._scripts))
        indexes = [i for i, _ in self._scripts]
        self.step_digests = held.apply(
            lambda texts: step_digests(len(steps), list(zip(indexes, texts, strict=True))))
        if args.legacy_deprovision:
            # The seal, not a customize step: no failure policy, as for the Generalize step
            # that replaced it (a failed seal is retried by its own design, docs/generalize.md).
            previous = register_run_command(
                replace(self._context(name, args, previous), on_error=None),
                logical_name=naming.child_name(name, "deprovision"), name=LEGACY_DEPROVISION,
                script=seal_for(spec, build).script, timeout_s=900,
                asynchronous=spec.windows, step_tag=STEP_DEPROVISION)
        self.last = previous if previous is not args.after else None
        self.register_outputs({})

    def _context(self, name: str, args: GuestScriptsArgs,
                 previous: pulumi.CustomResource | None) -> StepContext:
        return StepContext(
            parent=self, name=name, spec=args.spec, build=args.build,
            resource_group_name=args.resource_group_name, vm_name=args.vm_name,
            vm_id=args.vm_id, vm_unique_id=args.vm_unique_id, vm=args.vm,
            frozen=args.frozen, previous=previous, role=args.role, on_error=self._on_error)
