"""`--faults SPEC --seed N`: a flaky Azure, deterministically.

SPEC is comma-separated `name=value`:

- `throttle=P`       each ARM call is answered 429 + Retry-After with probability P;
- `error5xx=P`       each ARM call is answered a transient 500/503 with probability P;
- `customize-fail=1` the first customize run command exits non-zero;
- `step-exit=N`      the first customize step's own script exits with N (its exit-code
                     wrapper decides: 3010 on Windows restarts the VM, then the next step);
- `sysprep-hang=1`   sysprep never seals a Windows build VM (its seal fails at its deadline);
- `bitlocker=1`      the Windows build VM's OS volume is not fully decrypted (checks fail);
- `pending-reboot=1` the Windows build VM has a reboot pending (checks fail);
- `restart-hang=1`   the build VM's guest never comes back from its first restart (a
                     `restart` or `windowsUpdate` step, or a 3010's restart, fails at its
                     deadline: the agent reports no Ready after the reboot);
- `spot-evict=1`     Azure evicts a Spot build VM as its first customize step starts;
- `unhealthy=1`      clones never report healthy to the Application Health extension;
- `validate-fail=1`  the first validate step exits non-zero on the validation VM;
- `crash-after=K`    the run dies after its K-th completed operation (a killed `pulumi up`).

Transient answers are not failures: the azure-native provider (Go azcore) and the Python
SDK the Generalize step uses both retry 429 (honouring Retry-After) and 5xx (exponential
backoff), so the operation succeeds later. The simulator models exactly that: the retries
are counted and their waits delay the operation in simulated time. Only a call that is
still refused after `MAX_ATTEMPTS` tries fails, as the provider would.

Every random draw comes from a `random.Random` seeded with the seed and the call's identity
(resource type and names, or the REST path, and how many times it was called), so a seed
reproduces a run exactly even though the SDK registers resources from a thread pool in
no fixed order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from offline.arm import ArmError
from offline.arm.model import SimulatedCrash
from offline.guest import GuestState
from vmimage.suggest import did_you_mean
from vmimage.vocabulary import STEP_CUSTOMIZE, STEP_VALIDATE

MAX_ATTEMPTS = 10  # azure-native's azcore retry policy: MaxRetries 3..10; we take the top
RETRY_AFTER_S = (5, 10, 15, 30)  # what ARM's throttling answers typically ask for
BACKOFF_BASE_S = 4.0  # azcore: RetryDelay 4s, doubling, capped at MaxRetryDelay
BACKOFF_MAX_S = 60.0
KNOWN = {
    "throttle": "probability 0-1 that an ARM call is answered 429 (Retry-After)",
    "error5xx": "probability 0-1 that an ARM call is answered a transient 500/503",
    "customize-fail": "1: the first customize script exits non-zero",
    "step-exit": "N: the first customize step's own script exits with code N",
    "sysprep-hang": "1: sysprep never seals a Windows build VM",
    "bitlocker": "1: a Windows build VM's OS volume is not fully decrypted",
    "pending-reboot": "1: a Windows build VM has a reboot pending",
    "restart-hang": "1: a build VM's guest never comes back from its first restart",
    "spot-evict": "1: a Spot build VM is evicted as its first customize step starts",
    "unhealthy": "1: clones never report healthy (Application Health extension)",
    "validate-fail": "1: the first validate step exits non-zero",
    "crash-after": "K >= 1: the run dies after its K-th completed operation",
}
SCRIPT_OUTPUT = (
    "[stdout]\n+ set -euo pipefail\n+ simulated customize step\n"
    "[stderr]\nsimulated failure injected by --faults customize-fail=1 (exit code 1)"
)


@dataclass
class Retry:
    """One transient answer that a retry absorbed."""

    where: str  # resource type token, or "METHOD path" for the Generalize REST calls
    status: int
    delay_s: float


@dataclass
class FaultPlan:
    seed: int = 0
    throttle: float = 0.0
    error5xx: float = 0.0
    customize_fail: bool = False
    step_exit: int | None = None
    step_exited: bool = False
    sysprep_hang: bool = False
    bitlocker: bool = False
    pending_reboot: bool = False
    restart_hang: bool = False
    restart_hung: bool = False
    spot_evict: bool = False
    unhealthy: bool = False
    validate_fail: bool = False
    crash_after: int | None = None
    retries: list[Retry] = field(default_factory=list)
    crashed: SimulatedCrash | None = None
    customize_failed: bool = False
    evicted: bool = False
    _calls: dict[str, int] = field(default_factory=dict, repr=False)

    # -- parsing ------------------------------------------------------------------------------
    @classmethod
    def parse(cls, spec: str, seed: int = 0) -> FaultPlan:
        """`'throttle=0.3,crash-after=5'` -> a plan; ValueError names the bad item."""
        plan = cls(seed=seed)
        seen: set[str] = set()
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            name, sep, raw = (s.strip() for s in item.partition("="))
            if name not in KNOWN:
                hint = did_you_mean(name, KNOWN)
                raise ValueError(
                    f"--faults {item!r}: unknown fault {name!r}{hint} "
                    f"(known: {', '.join(KNOWN)})"
                )
            if not sep:
                raise ValueError(f"--faults {item!r}: expected {name}=VALUE ({KNOWN[name]})")
            if name in seen:
                raise ValueError(f"--faults {item!r}: {name} is given twice")
            seen.add(name)
            if name in ("throttle", "error5xx"):
                setattr(plan, name, _probability(item, raw))
            elif name == "crash-after":
                plan.crash_after = _count(item, raw)
            elif name == "step-exit":
                plan.step_exit = _exit_code(item, raw)
            else:
                setattr(plan, name.replace("-", "_"), _flag(item, raw))
        return plan

    @property
    def active(self) -> bool:
        return bool(self.throttle or self.error5xx or self.customize_fail
                    or self.step_exit is not None
                    or self.sysprep_hang or self.bitlocker or self.pending_reboot
                    or self.restart_hang
                    or self.spot_evict or self.unhealthy or self.validate_fail
                    or self.crash_after)

    # -- hooks the simulator calls --------------------------------------------------------------
    def before_call(self, token: str, inputs: dict[str, Any]) -> float:
        """Before every PUT: the provider's retries of transient answers. Returns the
        seconds they added before the operation went through."""
        self._check_alive()
        names = sorted(f"{k}={v}" for k, v in inputs.items()
                       if k.endswith("Name") and isinstance(v, str))
        rng = self._rng(token, *names)
        delay = 0.0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            status, wait = self._transient(rng, attempt)
            if status is None:
                return delay
            delay += wait
            self.retries.append(Retry(token, status, wait))
        raise ArmError(
            status or 429, "TooManyRequests" if status == 429 else "ServiceUnavailable",
            f"still refused after {MAX_ATTEMPTS} attempts (injected by --faults)",
        )

    def rest_fault(self, method: str, path: str) -> tuple[int, dict[str, str],
                                                          dict[str, Any]] | None:
        """Generalize's REST calls: a canned transient answer, which the SDK's own retry
        policy absorbs (its Retry-After wait passes in simulated time)."""
        self._check_alive()
        status, wait = self._transient(self._rng(method, path), 1)
        if status is None:
            return None
        self.retries.append(Retry(f"{method} {path.rsplit('/', 1)[-1]}", status, wait))
        code = "TooManyRequests" if status == 429 else "ServiceUnavailable"
        message = ("The request is being throttled." if status == 429
                   else "The service is temporarily unavailable; retry later.")
        return status, {"Retry-After": str(int(wait))}, {
            "error": {"code": code, "message": message}
        }

    def before_script(self, name: str, vm_name: str, *, step: str | None) -> None:
        """Before a run command executes: the first customize or validate step (its
        `vmimage-step` tag says which it is) may fail."""
        self._check_alive()
        failing = (STEP_CUSTOMIZE if self.customize_fail else None,
                   STEP_VALIDATE if self.validate_fail else None)
        if not self.customize_failed and step is not None and step in failing:
            self.customize_failed = True
            raise ArmError(
                409, "VMExtensionProvisioningError",
                f"Run command '{name}' on VM '{vm_name}' failed: the script exited with "
                f"code 1 (treatFailureAsDeploymentFailure is on). Script output:\n"
                f"{SCRIPT_OUTPUT}",
            )

    def exit_code(self, *, step: str | None) -> int | None:
        """What the first customize step's own script exits with (`step-exit=N`), once."""
        if self.step_exit is None or self.step_exited or step != STEP_CUSTOMIZE:
            return None
        self.step_exited = True
        return self.step_exit

    def evicts(self, vm: dict[str, Any], *, step: str | None) -> bool:
        """Whether Azure evicts this VM now: a Spot VM, at its first customize step, once."""
        if self.spot_evict and not self.evicted and step == STEP_CUSTOMIZE \
                and vm.get("priority") == "Spot":
            self.evicted = True
            return True
        return False

    def hangs_restart(self) -> bool:
        """Whether the guest restarted now never boots again (`restart-hang=1`), once."""
        if self.restart_hang and not self.restart_hung:
            self.restart_hung = True
            return True
        return False

    def guest_state(self) -> GuestState:
        """The simulated guest's answers to what the seal checks and waits for."""
        return GuestState(bitlocker="EncryptionInProgress" if self.bitlocker else "FullyDecrypted",
                          pending_reboot=self.pending_reboot, sysprep_hangs=self.sysprep_hang)

    def after_operation(self, count: int) -> None:
        """After the `count`-th completed operation: crash-after=K kills the run."""
        if self.crash_after is not None and count >= self.crash_after and not self.crashed:
            self.crashed = SimulatedCrash(self.crash_after)
            raise self.crashed

    # -- reporting ----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "retries": len(self.retries),
            "throttled": sum(1 for r in self.retries if r.status == 429),
            "transient5xx": sum(1 for r in self.retries if r.status >= 500),
            "retryDelay_s": sum(r.delay_s for r in self.retries),
            "customizeFailed": self.customize_failed,
            "spotEvicted": self.evicted,
            "sysprepHang": self.sysprep_hang,
            "restartHung": self.restart_hung,
            "crashedAfter": self.crashed.after if self.crashed else None,
        }

    def describe(self, *, absorbed: bool = True) -> str:
        s = self.summary()
        answers = (f"{s['throttled']} throttled (429) and {s['transient5xx']} transient 5xx "
                   f"answers")
        if absorbed:
            return (f"faults (seed {self.seed}): {answers} absorbed by retries, "
                    f"+{s['retryDelay_s']:.0f}s of waiting")
        return (f"faults (seed {self.seed}): {answers} were retried before the run failed; "
                "run again with the same --state to carry on")

    # -- internals ------------------------------------------------------------------------------
    def _check_alive(self) -> None:
        # A killed process makes no further calls; whatever still runs in it is moot.
        if self.crashed is not None:
            raise self.crashed

    def _rng(self, *identity: str) -> random.Random:
        key = "|".join(identity)
        self._calls[key] = self._calls.get(key, 0) + 1
        return random.Random(f"{self.seed}|{key}|{self._calls[key]}")

    def _transient(self, rng: random.Random, attempt: int) -> tuple[int | None, float]:
        # Always two draws, so the sequence does not depend on which faults are on.
        throttled = rng.random() < self.throttle
        failed = rng.random() < self.error5xx
        if throttled:
            return 429, float(rng.choice(RETRY_AFTER_S))
        if failed:
            status = rng.choice((500, 503))
            return status, min(BACKOFF_BASE_S * 2 ** (attempt - 1), BACKOFF_MAX_S)
        return None, 0.0


def _probability(item: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"--faults {item!r}: {raw!r} is not a probability 0-1") from None
    if not 0.0 <= value < 1.0:
        raise ValueError(
            f"--faults {item!r}: probability must be at least 0 and below 1 (1 would be an "
            "outage, not a transient fault)"
        )
    return value


def _flag(item: str, raw: str) -> bool:
    if raw not in ("0", "1"):
        raise ValueError(f"--faults {item!r}: expected 1 (on) or 0 (off), got {raw!r}")
    return raw == "1"


def _count(item: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"--faults {item!r}: expected a whole number of operations >= 1")
    return int(raw)


def _exit_code(item: str, raw: str) -> int:
    try:
        code = int(raw)
    except ValueError:
        code = None
    if code is None or not -(2**31) <= code < 2**31:
        raise ValueError(f"--faults {item!r}: expected an exit code (a 32-bit integer)")
    return code
