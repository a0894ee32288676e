"""`--state FILE`: the simulated Azure and the last run's registrations, kept between runs.

Like a Pulumi checkpoint, the file holds every resource's inputs and outputs; unlike a
naive one, it never holds a secret in plain text. Secret values are *sealed*: replaced
by an HMAC-SHA256 digest, still wrapped in Pulumi's secret marker. The HMAC key lives in
a separate file beside the state (`FILE.key`, mode 0600), as a passphrase would for a
Pulumi stack: the state alone cannot be used to test guesses of a password. A digest is
enough for everything the state is used for (diffing inputs, knowing a password is
set), and sealing is idempotent, so a sealed value that flows back into the program
compares equal to itself on the next run.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets as std_secrets
import socket
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi.runtime.rpc import is_rpc_secret, wrap_rpc_secret

from offline import marketplace
from offline.arm import ArmResource, SimulatedArm, VmTimeline
from offline.arm.storage import DiskGrant
from offline.engine import PendingOperation, PriorResource, Registration
from offline.guest import GuestRun
from offline.pulumi_host import engine_urn

# 2: URNs in the engine's form (the parent's whole type chain); 1 had the mock's form.
STATE_VERSION = 2
SEALED_PREFIX = "sealed:hmac-sha256:"


class StateError(Exception):
    """The state file cannot be used; the message says why and what to do."""


@dataclass
class State:
    stack: str
    key: str = field(default_factory=lambda: std_secrets.token_hex(32))
    resources: dict[str, PriorResource] = field(default_factory=dict)
    arm: dict[str, Any] | None = None  # serialized SimulatedArm
    #: Replaced resources still to delete (`delete: true` in Pulumi's checkpoint): a
    #: URN may be here and in `resources` at once.
    pending_deletes: list[PriorResource] = field(default_factory=list)
    #: Operations a killed run started and never saw end (`pending_operations`).
    pending_operations: list[PendingOperation] = field(default_factory=list)

    def restore_arm(self, arm: SimulatedArm) -> SimulatedArm:
        """Fill a fresh SimulatedArm (with this run's latency and faults) from state."""
        if self.arm is not None:
            load_arm(arm, self.arm)
        arm.seal_secrets = lambda value: seal(value, self.key)
        return arm


def seal(value: Any, key: str, *, inside_secret: bool = False) -> Any:
    """Every string inside a secret replaced by its salted digest, the secret marker and
    the shape around it kept (a secret may be a whole object, e.g. an osProfile that
    holds a password): unchanged values keep comparing equal from run to run."""
    if is_rpc_secret(value):
        return wrap_rpc_secret(seal(value["value"], key, inside_secret=True))
    if isinstance(value, dict):
        return {k: seal(v, key, inside_secret=inside_secret) for k, v in value.items()}
    if isinstance(value, list):
        return [seal(v, key, inside_secret=inside_secret) for v in value]
    if inside_secret and isinstance(value, str) and not value.startswith(SEALED_PREFIX):
        digest = hmac.new(bytes.fromhex(key), value.encode(), hashlib.sha256).hexdigest()
        return SEALED_PREFIX + digest
    return value


def key_file(path: Path) -> Path:
    return path.with_name(path.name + ".key")


def lock_file(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextmanager
def state_lock(path: Path) -> Iterator[Path]:
    """Hold the state for one run, as the Pulumi backend holds a stack during an update.

    A symlinked state is followed on purpose: the run reads and writes the file it points
    to, and its key and lock live beside that file, so the link stays a link. A second
    run on the same state is refused, naming the run that holds it (the lock is released
    when that process ends, however it ends)."""
    real = Path(os.path.realpath(path))
    real.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(lock_file(real), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 512, 0).decode(errors="replace").strip() or "another run"
            raise StateError(f"{path} is in use by {holder}; wait for that run to finish "
                             "(two runs on one state would each plan against the other's "
                             "half-saved work)") from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, (f"pid {os.getpid()} on {socket.gethostname()} since "
                           f"{datetime.now(UTC).isoformat(timespec='seconds')}").encode(), 0)
        yield real
    finally:
        os.close(handle)  # releases the lock


def read_key(keys: Path) -> str:
    """The sealing key; refused if anyone but its owner may read it, as ssh refuses a
    private key that others can read."""
    mode = keys.stat().st_mode
    if mode & 0o077:
        raise StateError(f"{keys}: readable by others (mode {stat.filemode(mode)}); it is the "
                         f"key to this state's secrets: chmod 600 {keys}")
    return keys.read_text().strip()


def key_check(key: str) -> str:
    """A digest that says which key sealed a state, without revealing it: a state is never
    read with, or written under, another state's key (its digests would never match)."""
    return hmac.new(bytes.fromhex(key), b"vmimage state key", hashlib.sha256).hexdigest()[:16]


def load_state(path: Path, stack: str) -> State:
    """The state of `stack` in `path`, or a fresh one when the file does not exist."""
    keys = key_file(path)
    if not path.exists():
        # A key left beside a removed state is reused; otherwise a new one is made.
        key = read_key(keys) if keys.exists() else std_secrets.token_hex(32)
        return State(stack, key=key)
    try:
        data = upgrade(json.loads(path.read_text(encoding="utf-8")))
        _check_shape(data)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise StateError(f"{path}: not a vmimage offline state file ({exc})") from None
    if data["stack"] != stack:
        raise StateError(
            f"{path} holds stack {data['stack']!r}, not {stack!r}; use one state file per "
            "stack (a wrong one would plan to delete the other stack's resources)"
        )
    if not keys.exists():
        raise StateError(f"{keys}: missing; it holds the key that seals this state's secrets")
    key = read_key(keys)
    if data.get("keyCheck", key_check(key)) != key_check(key):
        raise StateError(f"{keys} is not the key {path} was sealed with; restore the key "
                         "that was saved with it")
    try:
        return State(
            stack=stack,
            key=key,
            resources={r["urn"]: PriorResource(**r) for r in data["resources"]
                       if not r.get("delete")},
            arm=data["arm"],
            pending_deletes=[PriorResource(**r) for r in data["resources"] if r.get("delete")],
            pending_operations=[PendingOperation(**o)
                                for o in data.get("pendingOperations") or []],
        )
    except TypeError as exc:
        raise StateError(f"{path}: a resource record is malformed ({exc})") from None


def upgrade(data: Any) -> Any:
    """A version 1 state, read as version 2: its URNs re-formed as the engine forms them
    (state files written before this release keep working, nothing is replaced)."""
    if not isinstance(data, dict) or data.get("version") != 1:
        return data
    records = {r["urn"]: r for r in data.get("resources", [])
               if isinstance(r, dict) and isinstance(r.get("urn"), str)}
    renamed: dict[str, str] = {}

    def new_urn(urn: str) -> str:
        if urn not in records:
            return urn  # the root stack: its URN never changed
        if urn not in renamed:
            prefix, project, _, name = urn.split("::", 3)
            parent = records[urn].get("parent")
            renamed[urn] = engine_urn(prefix.removeprefix("urn:pulumi:"), project,
                                      new_urn(parent) if parent else None,
                                      records[urn]["type"], name)
        return renamed[urn]

    for urn in records:
        new_urn(urn)
    for record in records.values():
        record["urn"] = renamed[record["urn"]]
        if record.get("parent"):
            record["parent"] = new_urn(record["parent"])
        record["dependencies"] = [new_urn(d) for d in record.get("dependencies") or []]
    return {**data, "version": STATE_VERSION}


def _check_shape(data: Any) -> None:
    """Enough structure to load safely; anything else is refused, not half-read."""
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise ValueError(f"expected version {STATE_VERSION}")
    if not isinstance(data.get("stack"), str) or not isinstance(data.get("resources"), list):
        raise ValueError("missing 'stack' or 'resources'")
    arm = data.get("arm")
    if not isinstance(arm, dict) or not all(
        isinstance(arm.get(k), t) for k, t in
        (("resources", list), ("vms", dict), ("leases", dict), ("generalizePosts", dict))
    ):
        raise ValueError("missing or malformed 'arm'")
    for record in data["resources"]:
        if not isinstance(record, dict) or not {"urn", "type", "id"} <= set(record):
            raise ValueError("a resource record lacks urn, type or id")


def save_state(
    path: Path, state: State, registrations: list[Registration], arm: SimulatedArm,
    *, kept: Sequence[PriorResource] = (), pending_deletes: Sequence[PriorResource] = (),
    pending_operations: Sequence[PendingOperation] = (), now: float = 0.0,
) -> None:
    """Write the state after a run: this run's completed registrations, the prior
    resources still alive (`kept`: e.g. not deleted because the run failed first), the
    replaced ones still to delete (`pending_deletes`, saved with `delete: true`), the
    operations left pending, and the ARM, with simulated time shifted so the next run
    starts at t=0."""
    # Resources found under an alias are saved under their new URN, and so is every
    # reference to them (as the engine's snapshot rewrites them).
    renamed = {r.aliased_from: r.urn for r in registrations if r.aliased_from}
    records = {p.urn: _renamed(_prior_record(p, state.key), renamed) for p in kept}
    for reg in registrations:
        if reg.custom and not reg.id:
            continue  # never completed: the next run creates it again
        records[reg.urn] = {
            "urn": reg.urn, "type": reg.type, "id": reg.id,
            "inputs": seal(reg.inputs, state.key), "outputs": seal(reg.outputs, state.key),
            "protect": reg.protect, "dependencies": reg.dependencies, "parent": reg.parent,
            "custom": reg.custom, "deleted_with": reg.deleted_with,
        }
    document = {
        "version": STATE_VERSION,
        "project": "vmimage",
        "stack": state.stack,
        "keyCheck": key_check(state.key),
        "resources": [records[urn] for urn in sorted(records)] + [
            {**_renamed(_prior_record(p, state.key), renamed), "delete": True}
            for p in sorted(pending_deletes, key=lambda p: (p.urn, p.id))],
        "pendingOperations": [asdict(o) for o in pending_operations],
        "arm": dump_arm(arm, state.key, shift=now),
    }
    # Write then rename: a run killed mid-write must not leave half a state file.
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = key_file(path)
    if not keys.exists():
        with os.fdopen(os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(state.key + "\n")
    elif read_key(keys) != state.key:
        raise StateError(f"{keys} changed during the run; the state was not saved")
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=1, sort_keys=True, default=str)
    os.replace(temp, path)


def _renamed(record: dict[str, Any], renamed: dict[str, str]) -> dict[str, Any]:
    if not renamed:
        return record
    return {**record,
            "parent": renamed.get(record["parent"], record["parent"]),
            "deleted_with": renamed.get(record["deleted_with"], record["deleted_with"]),
            "dependencies": [renamed.get(d, d) for d in record["dependencies"]]}


def _prior_record(prior: PriorResource, key: str) -> dict[str, Any]:
    return {
        "urn": prior.urn, "type": prior.type, "id": prior.id,
        "inputs": seal(prior.inputs, key), "outputs": seal(prior.outputs, key),
        "protect": prior.protect, "dependencies": prior.dependencies,
        "parent": prior.parent, "custom": prior.custom, "deleted_with": prior.deleted_with,
    }


def dump_arm(arm: SimulatedArm, key: str, *, shift: float) -> dict[str, Any]:
    alive = {k: r for k, r in arm.resources.items() if r.deleted_at is None}
    return {
        "resources": [
            {"id": r.id, "token": r.token, "name": r.name,
             "props": seal(r.props, key), "outputs": seal(r.outputs, key),
             "ready_at": r.ready_at - shift}
            for _, r in sorted(alive.items())
        ],
        "vms": {
            vm_id: {"times": [t - shift for t in tl.times], "states": tl.states}
            for vm_id, tl in sorted(arm.vms.items()) if vm_id in alive
        },
        "leases": {k: v for k, v in sorted(arm.leases.items()) if v in alive},
        "generalizePosts": dict(sorted(arm.generalize_posts.items())),
        # what the guest and its extensions report: when each VM's Application Health
        # extension turns healthy (None: never), and each restart's boot
        "healthyAt": {vm_id: None if at == float("inf") else at - shift
                      for vm_id, at in sorted(arm.healthy_at.items()) if vm_id in alive},
        "reboots": {vm_id: [[r - shift, b - shift] for r, b in boots]
                    for vm_id, boots in sorted(arm.reboots.items()) if vm_id in alive},
        # what the guest made of each run command still there (its instance view)
        "guestRuns": {
            command: {"start": start - shift, **asdict(run)}
            for command, (start, run) in sorted(arm.guest_runs.items()) if command in alive
        },
        # the marketplace images and versions Azure has beyond the catalog (published
        # since, or declared for a run): they do not go away
        "marketplace": marketplace.dump(arm.marketplace),
        # managed disks' active read access (a digest of each SAS, never the SAS), and
        # the storage accounts' containers and blobs (offline/arm/storage.py)
        "diskAccess": {disk: {"sasDigest": g.sas_digest, "expiresAt": g.expires_at - shift}
                       for disk, g in sorted(arm.disk_access.items())},
        "storage": arm.storage.dump(shift),
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
    for vm_id, at in (data.get("healthyAt") or {}).items():
        arm.healthy_at[vm_id] = float("inf") if at is None else at
    for vm_id, boots in (data.get("reboots") or {}).items():
        arm.reboots[vm_id] = [(rebooted, ready) for rebooted, ready in boots]
    for disk, grant in (data.get("diskAccess") or {}).items():
        arm.disk_access[disk] = DiskGrant(grant["sasDigest"], grant["expiresAt"])
    arm.storage.load(data.get("storage") or {})
    marketplace.load(arm.marketplace, data.get("marketplace") or {})
    for command, record in (data.get("guestRuns") or {}).items():
        record = dict(record)
        start = record.pop("start")
        arm.guest_runs[command] = (start, GuestRun(**record))
