"""Scripts run inside the build VM: the customize steps in order, then the in-guest
deprovision (Linux waagent) or sysprep (Windows), as ARM run commands."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import compute

from components import naming
from components.frozen import frozen_inputs
from components.spec import BuildSpec, PipelineSpec
from components.templates import DEPROVISION_TEMPLATE, render

# Sysprep itself may take 10-20 minutes, but the run command only launches it.
DEPROVISION_TIMEOUT_S = 900


@dataclass(frozen=True)
class GuestScriptsArgs:
    spec: PipelineSpec
    """The validated pipeline spec (OS decides waagent or sysprep)."""
    build: BuildSpec
    """The build whose customize steps run, in order."""
    resource_group_name: pulumi.Input[str]
    """Resource group of the build VM."""
    vm_name: pulumi.Input[str]
    """Azure name of the build VM (an output of BuildVm, so scripts wait for the VM)."""
    vm: pulumi.Resource | None = None
    """The build VM: run commands are its child resources in Azure and go with it."""
    frozen: bool = False
    """The build is captured: its run commands may never change (components/frozen.py)."""


def run_command_name(index: int, template: str) -> str:
    stem = template.rsplit("/", 1)[-1].split(".", 1)[0]
    return f"customize-{index:02d}-{stem}"


class GuestScripts(pulumi.ComponentResource):
    deprovision: compute.VirtualMachineRunCommandByVirtualMachine
    """The last script; generalize must wait for it."""

    def __init__(
        self, name: str, args: GuestScriptsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vmimage:index:GuestScripts", name, None, opts)
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
                asynchronous=False,
                depends_on=previous,
            )
            previous = [command]
        # Windows sysprep /shutdown powers the VM off from inside, so the run command
        # cannot wait for it: it starts sysprep and returns; Generalize then waits for
        # PowerState/stopped. The Linux deprovision finishes inside the run command.
        self.deprovision = self._run_command(
            naming.child_name(name, "deprovision"),
            args,
            "deprovision",
            render(DEPROVISION_TEMPLATE[spec.os], {}, os=spec.os, vm_name=vm_name),
            timeout_s=DEPROVISION_TIMEOUT_S,
            asynchronous=spec.windows,
            depends_on=previous,
        )
        self.register_outputs({"deprovisionId": self.deprovision.id})

    def _run_command(
        self,
        name: str,
        args: GuestScriptsArgs,
        command_name: str,
        script: str,
        *,
        timeout_s: int,
        asynchronous: bool,
        depends_on: list[pulumi.Resource],
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
