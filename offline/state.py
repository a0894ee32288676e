"""`--state FILE`: the simulated Azure and the last run's registrations, kept between runs.

Like a Pulumi checkpoint, the file holds every resource's inputs and outputs; unlike a
naive one, it never holds a secret in plain text. Secret values are *sealed*: replaced
by a salted SHA-256 digest, still wrapped in Pulumi's secret marker. A digest is enough
for everything the state is used for (diffing inputs, knowing a password is set), and
sealing is idempotent, so a sealed value that flows back into the program compares
equal to itself on the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as std_secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi.runtime.rpc import is_rpc_secret, wrap_rpc_secret

from offline.arm import ArmResource, SimulatedArm, VmTimeline
from offline.engine import PriorResource, Registration

STATE_VERSION = 1
SEALED_PREFIX = "sealed:sha256:"


class StateError(Exception):
    """The state file cannot be used; the message says why and what to do."""


@dataclass
class State:
    salt: str = field(default_factory=lambda: std_secrets.token_hex(16))
    resources: dict[str, PriorResource] = field(default_factory=dict)
    arm: dict[str, Any] | None = None  # serialized SimulatedArm

    def restore_arm(self, arm: SimulatedArm) -> SimulatedArm:
        """Fill a fresh SimulatedArm (with this run's latency and faults) from state."""
        if self.arm is not None:
            load_arm(arm, self.arm)
        return arm


def seal(value: Any, salt: str, *, inside_secret: bool = False) -> Any:
    """Every string inside a secret replaced by its salted digest, the secret marker and
    the shape around it kept (a secret may be a whole object, e.g. an osProfile that
    holds a password): unchanged values keep comparing equal from run to run."""
    if is_rpc_secret(value):
        return wrap_rpc_secret(seal(value["value"], salt, inside_secret=True))
    if isinstance(value, dict):
        return {k: seal(v, salt, inside_secret=inside_secret) for k, v in value.items()}
    if isinstance(value, list):
        return [seal(v, salt, inside_secret=inside_secret) for v in value]
    if inside_secret and isinstance(value, str) and not value.startswith(SEALED_PREFIX):
        return SEALED_PREFIX + hashlib.sha256((salt + value).encode()).hexdigest()
    return value


def load_state(path: Path) -> State:
    if not path.exists():
        return State()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StateError(f"{path}: not a vmimage offline state file ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise StateError(f"{path}: unknown state version; expected {STATE_VERSION}")
    return State(
        salt=data["salt"],
        resources={r["urn"]: PriorResource(**r) for r in data["resources"]},
        arm=data["arm"],
    )


def save_state(
    path: Path, state: State, registrations: list[Registration], arm: SimulatedArm,
    *, kept: list[PriorResource] = (), now: float = 0.0,  # type: ignore[assignment]
) -> None:
    """Write the state after a run: this run's completed registrations, the prior
    resources still alive (`kept`: e.g. not deleted because the run failed first), and
    the ARM, with simulated time shifted so the next run starts at t=0."""
    records = {p.urn: _prior_record(p, state.salt) for p in kept}
    for reg in registrations:
        if reg.custom and not reg.id:
            continue  # never completed: the next run creates it again
        records[reg.urn] = {
            "urn": reg.urn, "type": reg.type, "id": reg.id,
            "inputs": seal(reg.inputs, state.salt), "outputs": seal(reg.outputs, state.salt),
            "protect": reg.protect, "dependencies": reg.dependencies, "parent": reg.parent,
            "custom": reg.custom,
        }
    document = {
        "version": STATE_VERSION,
        "salt": state.salt,
        "resources": [records[urn] for urn in sorted(records)],
        "arm": dump_arm(arm, state.salt, shift=now),
    }
    # Write then rename: a run killed mid-write must not leave half a state file.
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=1, sort_keys=True, default=str)
    os.replace(temp, path)


def _prior_record(prior: PriorResource, salt: str) -> dict[str, Any]:
    return {
        "urn": prior.urn, "type": prior.type, "id": prior.id,
        "inputs": seal(prior.inputs, salt), "outputs": seal(prior.outputs, salt),
        "protect": prior.protect, "dependencies": prior.dependencies,
        "parent": prior.parent, "custom": prior.custom,
    }


def dump_arm(arm: SimulatedArm, salt: str, *, shift: float) -> dict[str, Any]:
    alive = {k: r for k, r in arm.resources.items() if r.deleted_at is None}
    return {
        "resources": [
            {"id": r.id, "token": r.token, "name": r.name,
             "props": seal(r.props, salt), "outputs": seal(r.outputs, salt),
             "ready_at": r.ready_at - shift}
            for _, r in sorted(alive.items())
        ],
        "vms": {
            vm_id: {"times": [t - shift for t in tl.times], "states": tl.states}
            for vm_id, tl in sorted(arm.vms.items()) if vm_id in alive
        },
        "leases": {k: v for k, v in sorted(arm.leases.items()) if v in alive},
        "generalizePosts": dict(sorted(arm.generalize_posts.items())),
    }


def load_arm(arm: SimulatedArm, data: dict[str, Any]) -> None:
    for r in data["resources"]:
        arm.resources[r["id"].lower()] = ArmResource(
            r["id"], r["token"], r["name"], r["props"], r["ready_at"], r["outputs"]
        )
    for vm_id, tl in data["vms"].items():
        arm.vms[vm_id] = VmTimeline(list(tl["times"]), [tuple(s) for s in tl["states"]])
    arm.leases.update(data["leases"])
    arm.generalize_posts.update(data["generalizePosts"])
