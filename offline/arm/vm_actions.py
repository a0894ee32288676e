"""The dynamic VM actions (vmimage/providers/): each one's real procedure run against
this ARM through the real compute client (offline/arm/vm_rest.py), its REST calls
reported as they complete."""

from __future__ import annotations

from typing import Any

from offline.arm.control import ControlPlane, Handler
from offline.arm.model import Outcome, timestamp
from offline.arm.vm_rest import run_action
from vmimage.azure import naming
from vmimage.providers.export_vhd import EXPORT_VHD as EXPORT_VHD_ACTION
from vmimage.providers.generalize import GENERALIZE as GENERALIZE_ACTION
from vmimage.providers.health_gate import HEALTH as HEALTH_ACTION
from vmimage.providers.publish import PUBLISH as PUBLISH_ACTION
from vmimage.providers.restart import RESTART as RESTART_ACTION
from vmimage.providers.resume import RESUME as RESUME_ACTION
from vmimage.providers.retire import RETIRE as RETIRE_ACTION
from vmimage.providers.vm_action import VmAction
from vmimage.vocabulary import (
    EXPORT_VHD,
    GENERALIZE,
    HEALTH_GATE,
    PUBLISH,
    RESTART,
    RESUME,
    RETIRE_BATCH,
)

#: Each dynamic resource type's action.
ACTIONS: dict[str, VmAction] = {
    GENERALIZE: GENERALIZE_ACTION, RESTART: RESTART_ACTION, RESUME: RESUME_ACTION,
    HEALTH_GATE: HEALTH_ACTION, PUBLISH: PUBLISH_ACTION, RETIRE_BATCH: RETIRE_ACTION,
    EXPORT_VHD: EXPORT_VHD_ACTION,
}


def run(arm: ControlPlane, action: VmAction, p: dict[str, Any], at: float) -> Outcome:
    """One action's create: what it reported, when it ended."""
    reported, end = run_action(arm, action, p, at, on_call=arm.on_vm_call)
    outputs = {k: reported.get(k) for k in action.outputs}
    outputs[action.done_at] = timestamp(end)
    # Keyed apart from the VM itself (the provider's id is the VM id); a VM may be
    # restarted more than once, each after another step.
    rid = f"{action.name}-{p['vmId']}"
    for mark in ("after", "evictedAt"):  # one VM, acted on more than once
        if mark in action.inputs:
            rid += f"-{naming.short_hash(str(p.get(mark)), length=8)}"
    return Outcome(rid, end - at, outputs, action.name)


def handler(action: VmAction) -> Handler:
    return lambda arm, p, at: run(arm, action, p, at)


HANDLERS: dict[str, Handler] = {token: handler(action) for token, action in ACTIONS.items()}
