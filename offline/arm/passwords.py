"""random:index/randomPassword: no Azure call; a deterministic password per set of
inputs, so repeated offline runs are comparable. Never printed."""

from __future__ import annotations

import uuid
from typing import Any

from pulumi.runtime.rpc import wrap_rpc_secret

from offline.arm.control import ControlPlane
from offline.arm.model import Outcome


def random_password(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    # Deterministic per name, so repeated offline runs are comparable; never printed.
    seed = uuid.uuid5(uuid.NAMESPACE_OID, repr(sorted(p.items()))).hex
    result = (seed * 2)[: int(p.get("length", 16)) - 4] + "Aa1!"
    # The id is printed and stored: derive it apart from the password's seed.
    resource_id = "random-" + uuid.uuid5(uuid.NAMESPACE_URL, seed).hex[:8]
    return Outcome(resource_id, arm.latency("random.create"), {"result": wrap_rpc_secret(result)})
