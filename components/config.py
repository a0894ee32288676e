"""Reading the stack config: the one bridge from Pulumi config to the validated spec."""

from __future__ import annotations

import pulumi

from components.spec import Loaded, SpecError, load_spec


def load_from_stack() -> Loaded:
    """Read `vmimage:pipeline` and `azure-native:location`; a bad config raises
    `pulumi.RunError`, which Pulumi prints without a traceback, before any resource
    is registered."""
    raw = pulumi.Config("vmimage").get_object("pipeline")
    location = pulumi.Config("azure-native").get("location")
    try:
        loaded = load_spec(raw, location=location)
    except SpecError as exc:
        raise pulumi.RunError(format_problems(exc.problems)) from None
    for warning in loaded.warnings:
        pulumi.log.warn(warning)
    return loaded


def format_problems(problems: list[str]) -> str:
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return f"invalid vmimage:pipeline config ({count}):\n" + "\n".join(problems)


def admin_password() -> pulumi.Output[str] | None:
    """The Windows admin password from `pulumi config set --secret vmimage:adminPassword`."""
    return pulumi.Config("vmimage").get_secret("adminPassword")
