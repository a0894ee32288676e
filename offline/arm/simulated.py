"""The simulated Azure Resource Manager: the control plane with every resource family's
handlers (offline/arm/dispatch.py)."""

from __future__ import annotations

from typing import Any

from offline.arm.control import ControlPlane
from offline.arm.dispatch import HANDLERS
from offline.latency import LatencyModel


class SimulatedArm(ControlPlane):
    """Azure as the program meets it offline."""

    def __init__(self, latency: LatencyModel | None = None,
                 faults: Any | None = None) -> None:
        super().__init__(HANDLERS, latency, faults)
