"""Which injected faults can never fire on a stack: a `--faults spot-evict=1` on a stack
with no Spot build runs clean, which must not read as "the program survived an
eviction". Pure: the fault plan and the spec in, one note per fault out."""

from __future__ import annotations

from collections.abc import Callable

from offline.faults import FaultPlan
from vmimage.config.models import PipelineSpec
from vmimage.config.steps import kind_of

#: A fault's field on FaultPlan -> (its --faults name, what the stack needs for it to fire).
_NEEDS: dict[str, tuple[str, str, Callable[[PipelineSpec], bool]]] = {
    "spot_evict": ("spot-evict", "a build with spot: true",
                   lambda spec: any(b.spot and not b.retired for b in spec.builds)),
    "sysprep_hang": ("sysprep-hang", "a Windows image", lambda spec: spec.windows),
    "bitlocker": ("bitlocker", "a Windows image", lambda spec: spec.windows),
    "pending_reboot": ("pending-reboot", "a Windows image", lambda spec: spec.windows),
    "restart_hang": ("restart-hang", "a build with a step that restarts the VM (restart, "
                     "windowsUpdate, a Windows step whose exit codes allow 3010)",
                     lambda spec: any(kind_of(s).restarts(s, spec.os) for b in spec.builds
                                      if not b.retired for s in b.customize)),
    "customize_fail": ("customize-fail", "a build with customize steps",
                       lambda spec: any(b.customize and not b.retired for b in spec.builds)),
    "step_exit": ("step-exit", "a build with customize steps",
                  lambda spec: any(b.customize and not b.retired for b in spec.builds)),
    "validate_fail": ("validate-fail", "a build with validate steps",
                      lambda spec: any(b.validate_steps for b in spec.builds)),
    "unhealthy": ("unhealthy", "a clone group with rollout.health",
                  lambda spec: any(c.rollout.health for c in spec.clones)),
}


def inapplicable(plan: FaultPlan, spec: PipelineSpec) -> list[str]:
    """`note:` lines for the faults asked for that this stack gives no chance to fire."""
    return [f"--faults {name}={_shown(getattr(plan, field))} cannot fire on this stack: it "
            f"needs {needs}"
            for field, (name, needs, applies) in _NEEDS.items()
            if getattr(plan, field) not in (None, False) and not applies(spec)]


def _shown(value: object) -> str:
    return "1" if value is True else str(value)


def crash_advice(after: int, *, kept_state: bool) -> str:
    """What to do after a simulated crash: re-run on the state, if the run kept one."""
    if kept_state:
        return f"simulated crash after {after} operations; re-run with the same --state " \
               "to converge"
    return (f"simulated crash after {after} operations; this run kept no state, so there is "
            "nothing to converge: run with --state FILE to rehearse a crash and its recovery")
