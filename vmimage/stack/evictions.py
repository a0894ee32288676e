"""Build VMs deallocated before they were sealed, found before anything is registered:
Spot VMs that Azure evicted, and VMs a failed step deallocated (`onFailure: deallocate`).

An eviction (policy Deallocate) leaves the build VM deallocated with its disks, and
Azure never starts it again by itself (spot-vms). The run commands still to come would
be refused on a VM that is not running, so the program resumes it first
(vmimage/providers/resume.py) and the steps not done yet run on the next `pulumi up`.

Evicted means: a Spot build not captured yet whose VM is deallocated and not generalized,
and was never sealed (no seal run command). A VM the Generalize step deallocated after the
seal is that step's to finish, not a resume's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pulumi

from vmimage.azure import naming
from vmimage.azure.invokes import is_not_found
from vmimage.config.fingerprint import Capture
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.vocabulary import SEAL_COMMAND


def power_and_os_state(vm: Any) -> tuple[str | None, str | None]:
    """('deallocated', 'generalized')-style words from a VM's instance view."""
    view = getattr(vm, "instance_view", None)
    power = os_state = None
    for status in getattr(view, "statuses", None) or []:
        code = (getattr(status, "code", None) or "").lower()
        if code.startswith("powerstate/"):
            power = code.split("/", 1)[1]
        elif code.startswith("osstate/"):
            os_state = code.split("/", 1)[1]
    return power, os_state


def _evicted(spec: PipelineSpec, build: BuildSpec) -> bool:
    from pulumi_azure_native import compute

    name = naming.build_vm_name(spec.image_name, build.version)
    try:
        vm = compute.get_virtual_machine(resource_group_name=spec.resource_group,
                                         vm_name=name, expand="instanceView")
    except Exception:  # not created yet (404), or unreadable: nothing to resume here
        return False
    power, os_state = power_and_os_state(vm)
    if power != "deallocated" or os_state == "generalized":
        return False
    try:
        compute.get_virtual_machine_run_command_by_virtual_machine(
            resource_group_name=spec.resource_group, vm_name=name,
            run_command_name=SEAL_COMMAND)
    except Exception as err:  # the SDK raises a bare Exception for a failed invoke
        return is_not_found(err)  # never sealed: deallocated by the eviction
    return False


def find_evictions(spec: PipelineSpec, captures: dict[str, Capture]) -> dict[str, str]:
    """Per evicted build's version, a mark for its resume: when it was found."""
    found = {}
    for build in spec.builds:
        capture = captures.get(build.version)
        # A Spot VM may be evicted; onFailure: deallocate deallocates one after a failed
        # step (vmimage/steps/on_failure.py). Either way it is started again here.
        may_be_deallocated = build.spot or build.on_failure == "deallocate"
        if not may_be_deallocated or build.retired or (capture is not None
                                                       and capture.captured):
            continue
        if _evicted(spec, build):
            found[build.version] = datetime.now(UTC).isoformat(timespec="seconds")
            why = ("evicted (deallocated by Azure)" if build.spot and
                   build.on_failure != "deallocate" else
                   "deallocated (a Spot eviction, or onFailure: deallocate after a failed "
                   "step)" if build.spot else
                   "deallocated (onFailure: deallocate after a failed step)")
            pulumi.log.warn(
                f"build {build.version}: its build VM was {why} before it was sealed; it is "
                "started again and the steps not done yet run")
    return found
