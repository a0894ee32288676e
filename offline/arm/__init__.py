"""A simulated Azure Resource Manager: the rules the program must respect, enforced.

Resources are stored by ARM id. Every operation happens at a simulated time (seconds
from the start of the run), so a rule such as "capture needs a generalized VM" is checked
against the VM's state *when the capture starts*; a program whose capture does not wait
for generalize is refused exactly as ARM would refuse it.

What is enforced (each raises `ArmError` with ARM's error code):
- parents exist before children (ResourceGroupNotFound, ParentResourceNotFound,
  NotFound for referenced ids);
- names: lengths and characters per type, Windows computer names <= 15 (InvalidParameter);
- a PUT to a live name updates it; changing an immutable property is refused
  (PropertyChangeNotAllowed), per `IMMUTABLE_PROPERTIES`;
- VM power and OS states: run commands need a running VM; generalize needs a stopped or
  deallocated VM (OperationNotAllowed); capture needs OSState/generalized;
- data disks: LUNs 0-63 and unique per VM (InvalidParameter); disks and NICs attached to
  a VM are leased (cannot be deleted or attached elsewhere);
- gallery image versions: Major.Minor.Patch of 32-bit integers, immutable, target regions
  include the source region; a VM can only use a version in a region it replicates to;
- managed images support no Trusted Launch VM.

One module per resource family (network, compute, run_commands, gallery, images,
passwords, vm_actions), a dispatch table (dispatch.py), the control plane they share
(control.py), the VM REST API the VM actions call (vm_rest.py) and the tenant around a
pipeline (tenancy.py).
"""

from __future__ import annotations

from offline.arm.control import ControlPlane, Handler, Invoke
from offline.arm.dispatch import HANDLERS, INVOKES
from offline.arm.model import (
    EPOCH,
    IMMUTABLE_PROPERTIES,
    SUBSCRIPTION_ID,
    ArmError,
    ArmResource,
    Outcome,
    SimulatedCrash,
    VmTimeline,
    changed_immutable,
    get_path,
    timestamp,
)
from offline.arm.simulated import SimulatedArm

__all__ = [
    "EPOCH", "HANDLERS", "IMMUTABLE_PROPERTIES", "INVOKES", "SUBSCRIPTION_ID", "ArmError",
    "ArmResource", "ControlPlane", "Handler", "Invoke", "Outcome", "SimulatedArm",
    "SimulatedCrash", "VmTimeline", "changed_immutable", "get_path", "timestamp",
]
