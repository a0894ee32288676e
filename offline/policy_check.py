"""The CrossGuard pack, applied offline: what `pulumi preview --policy-pack policy` checks.

A run's registrations are what the engine would hand the pack's resource policies (inputs,
secrets still wrapped in the rpc marker, `protect`), so each becomes a
:class:`vmimage.policy.rules.ResourceView` and :func:`vmimage.policy.rules.evaluate` does
the rest. Mandatory violations fail the run, as they fail a preview; advisory ones are
only reported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from offline.engine import Registration
from offline.runner import ProgramRun
from vmimage.policy.rules import RULES_BY_NAME, Enforcement, ResourceView, Violation, evaluate

LEVELS = ("advisory", "mandatory")


@dataclass(frozen=True)
class PackConfig:
    """The pack config, as `pulumi preview --policy-pack-config FILE` gives it: per policy
    its enforcement level and its own settings."""

    allow_public_ip: bool = False
    required_tags: tuple[str, ...] = ()
    levels: Mapping[str, Enforcement] = field(default_factory=dict)


def pack_config(text: str) -> PackConfig:
    """`{"<policy>": "mandatory"}` or `{"<policy>": {"enforcementLevel": ..., <setting>:
    ...}}`, as Pulumi reads a policy pack config; ValueError naming what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"policy config: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError("policy config: a JSON object of policy names")
    levels: dict[str, Enforcement] = {}
    settings: dict[str, Any] = {}
    for name, value in data.items():
        if name not in RULES_BY_NAME:
            raise ValueError(f"policy config: no policy {name!r} (policies: "
                             f"{', '.join(RULES_BY_NAME)})")
        entry = value if isinstance(value, dict) else {"enforcementLevel": value}
        level = entry.get("enforcementLevel")
        if level is not None and level not in LEVELS:
            raise ValueError(f"policy config: {name}.enforcementLevel is advisory or "
                             f"mandatory (got {level!r})")
        if level is not None:
            levels[name] = cast(Enforcement, level)
        settings.update({k: v for k, v in entry.items() if k != "enforcementLevel"})
    tags = settings.get("requiredTags") or ()
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise ValueError("policy config: required-tags.requiredTags is a list of tag names")
    return PackConfig(allow_public_ip=settings.get("allowPublicIp") is True,
                      required_tags=tuple(tags), levels=levels)


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
              required_tags: tuple[str, ...] = (),
              config: PackConfig | None = None) -> list[Violation]:
    """Every violation of the pack by the run's custom resources (components have no
    properties a rule reads), sorted by policy, then urn."""
    views = [resource_view(r) for r in run.registrations if r.custom]
    if config is not None:
        return evaluate(views, allow_public_ip=config.allow_public_ip,
                        required_tags=config.required_tags, levels=config.levels)
    return evaluate(views, allow_public_ip=allow_public_ip, required_tags=required_tags)


def mandatory(violations: Sequence[Violation]) -> list[Violation]:
    return [v for v in violations if v.enforcement == "mandatory"]


def violations_json(violations: Sequence[Violation]) -> list[dict[str, Any]]:
    return [asdict(v) for v in violations]
