"""Reading the stack config: the one bridge from Pulumi config to the validated spec, and
from Azure's state to the rules that depend on it."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components.captures import CaptureLookupError, look_up_captures, warn_unfingerprinted
from components.cloud_reads import CloudReadError, cloud_reads
from components.fingerprint import Capture
from components.spec import Loaded, SpecError, load_spec
from components.spec_rules import frozen_build_problems, source_image_problems


class ConfigProblems(pulumi.RunError):
    """The config cannot be deployed; Pulumi prints the message without a traceback, and
    the offline runner reads `problems` (exit 2)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(format_problems(self.problems))


def load_from_stack() -> Loaded:
    """Read `vmimage:pipeline` and `azure-native:location`; a bad config raises
    ConfigProblems before any resource is registered."""
    raw = pulumi.Config("vmimage").get_object("pipeline")
    location = pulumi.Config("azure-native").get("location")
    try:
        loaded = load_spec(raw, location=location)
    except SpecError as exc:
        raise ConfigProblems(exc.problems) from None
    for warning in loaded.warnings:
        pulumi.log.warn(warning)
    return loaded


def captures_of(loaded: Loaded) -> dict[str, Capture]:
    """Ask Azure, before anything is registered, what the config depends on: which builds
    it already holds an image of, and what the marketplace sources are. Refuses a config
    that would change or retire what it must not, or that Azure would refuse late."""
    spec = loaded.spec
    reads = cloud_reads()
    try:
        captures = look_up_captures(spec)
        problems = frozen_build_problems(spec, captures)
        if reads is not None:
            problems += source_image_problems(spec, lambda market, location: (
                reads.marketplace_image(location, market.publisher, market.offer,
                                        market.sku, market.version)))
    except (CaptureLookupError, CloudReadError) as exc:
        raise pulumi.RunError(str(exc)) from None
    if problems:
        raise ConfigProblems(problems)
    warn_unfingerprinted(captures)
    return captures


def format_problems(problems: Sequence[str]) -> str:
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return f"invalid vmimage:pipeline config ({count}):\n" + "\n".join(problems)


def admin_password() -> pulumi.Output[str] | None:
    """The Windows admin password from `pulumi config set --secret vmimage:adminPassword`."""
    return pulumi.Config("vmimage").get_secret("adminPassword")
