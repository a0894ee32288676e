"""Scripts run inside the build VM: the customize steps, in order, as ARM run commands.

The seal that follows them (waagent deprovision or sysprep) is not a run-command resource:
it ends with the guest powering off, so the Generalize step runs and watches it
(vmimage/providers/guest_seal.py, `seal_for` below gives it the scripts).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import compute

from vmimage.azure import naming
from vmimage.components import vm_profile
from vmimage.components.frozen import frozen_inputs
from vmimage.scripts.render import render
from vmimage.spec.models import BuildSpec, PipelineSpec
from vmimage.vocabulary import GUEST_SCRIPTS, STEP_CUSTOMIZE, STEP_DEPROVISION, STEP_TAG

SEAL_TEMPLATE = {"linux": "linux/deprovision.sh.j2", "windows": "windows/sysprep.ps1.j2"}
SEAL_CHECKS_TEMPLATE = {"windows": "windows/sysprep-checks.ps1.j2"}
#: How long the guest may take from the start of the seal to its power-off. The Windows
#: script gives sysprep a little less, so it reports its own failure first.
SEAL_TIMEOUT_S = {"linux": 1800.0, "windows": 3600.0}
SYSPREP_MINUTES = 50
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
    frozen: bool = False
    """The build is captured: its run commands may never change (vmimage/components/frozen.py)."""
    legacy_deprovision: bool = False
    """Captured by an earlier vmimage, which kept the seal as a run command resource."""


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
        script=render(SEAL_TEMPLATE[spec.os], {"seal_minutes": SYSPREP_MINUTES}, os=spec.os,
                      vm_name=vm_name),
        checks=render(checks, {}, os=spec.os, vm_name=vm_name) if checks else None,
        timeout_s=SEAL_TIMEOUT_S[spec.os],
    )


def run_command_name(index: int, template: str) -> str:
    stem = template.rsplit("/", 1)[-1].split(".", 1)[0]
    return f"customize-{index:02d}-{stem}"


class GuestScripts(pulumi.ComponentResource):
    last: pulumi.Resource | None
    """The last script (None without customize steps): the seal must wait for it."""

    def __init__(
        self, name: str, args: GuestScriptsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(GUEST_SCRIPTS, name, None, opts)
        spec, build = args.spec, args.build
        vm_name = naming.build_vm_name(spec.image_name, build.version)
        previous: list[pulumi.Resource] = []
        for i, step in enumerate(build.customize):
            # Run commands on one VM must not overlap, and order matters: depends_on is
            # the honest edge here, since no output of one step feeds the next.
            command = self._run_command(
                naming.child_name(name, f"customize-{i}"),
                args,
                run_command_name(i, step.template),
                render(step.template, step.vars, os=spec.os, vm_name=vm_name),
                timeout_s=step.timeout_seconds,
                depends_on=previous,
                step=STEP_CUSTOMIZE,
            )
            previous = [command]
        if args.legacy_deprovision:
            previous = [self._run_command(
                naming.child_name(name, "deprovision"), args, LEGACY_DEPROVISION,
                seal_for(spec, build).script, timeout_s=900, depends_on=previous,
                asynchronous=spec.windows, step=STEP_DEPROVISION)]
        self.last = previous[0] if previous else None
        self.register_outputs({})

    def _run_command(
        self,
        name: str,
        args: GuestScriptsArgs,
        command_name: str,
        script: str,
        *,
        timeout_s: int,
        depends_on: list[pulumi.Resource],
        step: str,
        asynchronous: bool = False,
    ) -> compute.VirtualMachineRunCommandByVirtualMachine:
        inputs = dict(
            resource_group_name=args.resource_group_name,
            vm_name=args.vm_name,
            run_command_name=command_name,
            location=args.spec.location,
            source=compute.VirtualMachineRunCommandScriptSourceArgs(script=script),
            async_execution=asynchronous,
            timeout_in_seconds=timeout_s,
            # A failing script fails `pulumi up` with its output, instead of a VM that
            # reports success and an image that was never customized.
            treat_failure_as_deployment_failure=True,
            # What the step is, as data: reviews and reports read it here, not from names.
            tags=vm_profile.tags("build", args.build.version, **{STEP_TAG: step}),
        )
        return compute.VirtualMachineRunCommandByVirtualMachine(
            name, **inputs,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=depends_on,
                ignore_changes=frozen_inputs(inputs, args.frozen),
                # Deleting a run command from a VM that is not running is refused (409);
                # deleting the VM deletes its run commands. So when the VM goes (a retired
                # build), Pulumi deletes only the VM.
                deleted_with=args.vm,
            ),
        )
