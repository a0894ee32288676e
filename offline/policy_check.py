"""The CrossGuard pack, applied offline: what `pulumi preview --policy-pack policy` checks.

A run's registrations are what the engine would hand the pack's resource policies (inputs,
secrets still wrapped in the rpc marker, `protect`), so each becomes a
:class:`vmimage.policy.rules.ResourceView` and :func:`vmimage.policy.rules.evaluate` does
the rest. Mandatory violations fail the run, as they fail a preview; advisory ones are
only reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from offline.engine import Registration
from offline.runner import ProgramRun
from vmimage.policy.rules import ResourceView, Violation, evaluate


def resource_view(reg: Registration) -> ResourceView:
    # `secret_paths` of a Registration are dotted paths of every marker; the rules match
    # top-level names (as additionalSecretOutputs would give them) and the dotted forms.
    paths = set(reg.secret_paths)
    paths |= {p.split(".", 1)[0].split("[", 1)[0] for p in paths}
    return ResourceView(
        urn=reg.urn,
        type=reg.type,
        name=reg.name,
        props=reg.inputs,
        protect=reg.protect,
        secret_paths=frozenset(paths),
    )


def check_run(run: ProgramRun, *, allow_public_ip: bool = False,
              required_tags: tuple[str, ...] = ()) -> list[Violation]:
    """Every violation of the pack by the run's custom resources (components have no
    properties a rule reads), sorted by policy, then urn."""
    views = [resource_view(r) for r in run.registrations if r.custom]
    return evaluate(views, allow_public_ip=allow_public_ip, required_tags=required_tags)


def mandatory(violations: Sequence[Violation]) -> list[Violation]:
    return [v for v in violations if v.enforcement == "mandatory"]


def violations_json(violations: Sequence[Violation]) -> list[dict[str, Any]]:
    return [asdict(v) for v in violations]
