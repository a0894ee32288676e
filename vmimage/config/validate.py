"""Validation of `vmimage:pipeline`: raw config -> an immutable `PipelineSpec` and its
warnings, or a `SpecError` listing every problem as `<key path>: <what is wrong>`.

Two passes: the models (vmimage/config/models.py) check shape, types and ranges; the rules
(vmimage/config/rules.py) check what spans keys. Pure: tests call it directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from vmimage.config.credentials import credential_problem, credential_scan
from vmimage.config.errors import SpecError, kind_of, pydantic_problems
from vmimage.config.limit_rules import config_size_problem
from vmimage.config.models import PipelineSpec
from vmimage.config.recipes import expand_recipes
from vmimage.config.rules import raw_value_problems, semantic_problems, warnings


@dataclass(frozen=True)
class Loaded:
    spec: PipelineSpec
    warnings: list[str] = field(default_factory=list)


def load_spec(raw: Any, *, location: str | None = None) -> Loaded:
    """Validate raw config (the `vmimage:pipeline` object) into a spec, or raise SpecError
    with all problems. `location` is `azure-native:location`, the default region."""
    if raw is None or raw == {}:
        raise SpecError(["vmimage:pipeline: missing; see README 'Config reference'"])
    if not isinstance(raw, dict):
        raise SpecError([f"vmimage:pipeline: expected a mapping, got {kind_of(raw)}"])
    too_big = config_size_problem(raw)
    if too_big is not None:  # alone: checking more of it would only cost more
        raise SpecError([too_big])
    data = dict(raw)
    data.setdefault("location", location)
    problems = list(_pre_checks(data)) + expand_recipes(data)
    secrets = _credential_problems(data)
    if data.get("location") is None:
        problems.append(
            "location: not set; set azure-native:location (or vmimage:pipeline.location)"
        )
        data["location"] = "unset"
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        # Shape errors stop the cross-key rules, but the rules of single values (names,
        # regions, version numbers) still run on the raw data: every problem at once.
        problems += list(pydantic_problems(exc, PipelineSpec)) + raw_value_problems(data)
        raise SpecError(secrets + _away_from(secrets, problems)) from None
    problems += semantic_problems(spec)
    if problems or secrets:
        raise SpecError(secrets + _away_from(secrets, problems))
    return Loaded(spec, warnings(spec))


def _credential_problems(data: dict[str, Any]) -> list[str]:
    """Every value that looks like a credential, by key path, never echoed; the admin
    password has its own line (_pre_checks)."""
    return [credential_problem(path, what) for path, what in credential_scan(data)
            if path not in ("admin.password", "admin.adminPassword")]


def _away_from(secrets: list[str], problems: list[str]) -> list[str]:
    """The problems not about a value already refused as a credential: their messages may
    quote the value."""
    paths = tuple(line.partition(": ")[0] for line in secrets)
    return [p for p in problems
            if not any(p.startswith((f"{path}:", f"{path}.", f"{path}[")) for path in paths)]


def _pre_checks(data: dict[str, Any]) -> Iterator[str]:
    admin = data.get("admin")
    if isinstance(admin, dict) and ("password" in admin or "adminPassword" in admin):
        # Reported once, here: without the key, pydantic adds no second 'unknown key' line.
        data["admin"] = {k: v for k, v in admin.items() if k not in ("password", "adminPassword")}
        yield (
            "admin.password: passwords never go in plain config; run "
            "`pulumi config set --secret vmimage:adminPassword` (or leave it out and "
            "one is generated)"
        )

