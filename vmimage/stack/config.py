"""Reading the stack config: the one bridge from Pulumi config to the validated spec, and
from Azure's state to the rules that depend on it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pulumi
from pulumi.runtime.config import is_config_secret

from vmimage.azure.reads import CloudReadError, CloudReads, cloud_reads
from vmimage.config.errors import SpecError
from vmimage.config.fingerprint import Capture
from vmimage.config.limits import MAX_CONFIG_BYTES
from vmimage.config.models import PipelineSpec
from vmimage.config.provenance import RunIdentity, provenance_tags, source_of
from vmimage.config.quota import peak_vms, quota_problems
from vmimage.config.retention import retire
from vmimage.config.rules import frozen_build_problems, source_image_problems
from vmimage.config.security_type import security_size_problems
from vmimage.config.validate import Loaded, load_spec
from vmimage.stack.captures import (
    CaptureLookupError,
    kept_replica_notes,
    look_up_captures,
    warn_unfingerprinted,
)
from vmimage.stack.definitions import existing_definition_problems, parent_problems
from vmimage.stack.subnets import SubnetLookupError, existing_subnet_problems


class ConfigProblems(pulumi.RunError):
    """The config cannot be deployed; Pulumi prints the message without a traceback, and
    the offline runner reads `problems` (exit 2)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(format_problems(self.problems))


ADMIN_PASSWORD = "vmimage:adminPassword"


def secret_problems() -> list[str]:
    """Config that must be a secret and is not: it would sit in plain text in the stack
    file and its history, and the engine would pass it around as a plain value."""
    # Asked in this order: reading a secret with get() would log a warning.
    if is_config_secret(ADMIN_PASSWORD) or pulumi.Config("vmimage").get("adminPassword") is None:
        return []
    return [f"{ADMIN_PASSWORD}: stored as plain text; remove it from the stack file and set "
            f"it with `pulumi config set --secret {ADMIN_PASSWORD}` (or leave it out and "
            "one is generated)"]


def _unreadable_pipeline(exc: pulumi.config.ConfigTypeError) -> str:
    """Why `vmimage:pipeline` is not an object, without echoing all of it."""
    if isinstance(exc.__cause__, RecursionError):
        # The Pulumi CLI reads stack files up to 10,000 levels deep; json.loads ~1,000.
        return ("vmimage:pipeline: nests too deeply to read (over a thousand levels); the "
                "pipeline needs fewer than ten")
    text = str(exc.value)
    shown = text if len(text) <= 40 else text[:40] + "..."
    return f"vmimage:pipeline: expected a mapping, got the text {shown!r}"


#: The JSON text of `vmimage:pipeline` that is not even parsed: twice the bound the parsed
#: value is held to (load_spec names the key where it crosses that), so whitespace or
#: escapes in the text never decide.
MAX_CONFIG_TEXT = 2 * MAX_CONFIG_BYTES


def _oversized_text() -> str | None:
    """`vmimage:pipeline` far too big to parse: the Pulumi CLI has expanded its YAML
    aliases already, and parsing would cost as much again."""
    text = pulumi.Config("vmimage").get("pipeline")
    size = len(text.encode("utf-8")) if text is not None else 0
    if size <= MAX_CONFIG_TEXT:
        return None
    return (f"vmimage:pipeline: {size:,} bytes of JSON once YAML aliases are expanded; at "
            f"most {MAX_CONFIG_BYTES:,} (MAX_CONFIG_BYTES)")


def load_from_stack() -> Loaded:
    """Read `vmimage:pipeline` and `azure-native:location`; a bad config raises
    ConfigProblems before any resource is registered."""
    too_big = _oversized_text()
    if too_big is not None:
        raise ConfigProblems([too_big])
    try:
        raw = pulumi.Config("vmimage").get_object("pipeline")
    except pulumi.config.ConfigTypeError as exc:
        raise ConfigProblems([_unreadable_pipeline(exc)]) from None
    location = pulumi.Config("azure-native").get("location")
    problems = secret_problems()
    try:
        loaded = load_spec(raw, location=location)
    except SpecError as exc:
        raise ConfigProblems(problems + exc.problems) from None
    if problems:
        raise ConfigProblems(problems)
    for warning in loaded.warnings:
        pulumi.log.warn(warning)
    return loaded


def captures_of(loaded: Loaded, run: RunIdentity | None = None) -> dict[str, Capture]:
    """Ask Azure, before anything is registered, what the config depends on: which builds
    it already holds an image of, the existing subnet it uses, and what the marketplace
    sources are. Refuses a config
    that would change or retire what it must not, or that Azure would refuse late."""
    spec = loaded.spec
    reads = cloud_reads()
    try:
        captures = look_up_captures(spec, reads)
        problems = existing_subnet_problems(spec)
        problems += frozen_build_problems(spec, captures)
        problems += existing_definition_problems(spec, reads)
        problems += parent_problems(spec, reads, captures)
        warnings: list[str] = []
        if reads is not None:
            problems += source_image_problems(spec, lambda market, location: (
                reads.marketplace_image(location, market.publisher, market.offer,
                                        market.sku, market.version)))
            regions = {spec.location, *(spec.clone_region(c) for c in spec.clones)}
            # A build VM retention retires in this run runs no more, as a hand-retired one.
            running = retire(spec, captures)
            named = peak_vms(running)  # only these sizes are kept of a region's list
            sizes = {r: reads.vm_sizes(r, {s for (at, s) in named if at == r})
                     for r in regions}
            found, warnings = quota_problems(running, sizes,
                                             {r: reads.vcpu_quotas(r) for r in regions})
            problems += found
            problems += security_size_problems(spec, {
                r: {name: info.capabilities for name, info in listed.items()}
                for r, listed in sizes.items()})
    except (CaptureLookupError, CloudReadError, SubnetLookupError) as exc:
        raise pulumi.RunError(str(exc)) from None
    if problems:
        raise ConfigProblems(problems)
    for warning in warnings:
        pulumi.log.warn(warning)
    warn_unfingerprinted(captures)
    captures = with_provenance(spec, captures, run, reads)
    for note in kept_replica_notes(spec, captures):
        pulumi.log.warn(note)
    return captures


def with_provenance(spec: PipelineSpec, captures: dict[str, Capture], run: RunIdentity | None,
                    reads: CloudReads | None) -> dict[str, Capture]:
    """Each build not yet captured gets the tags to record: its source as Azure resolves
    it now (the exact marketplace version `latest` means today), the commit, the release.
    A captured one keeps what it was captured with (its image is not retagged)."""
    found = {}
    for build in spec.builds:
        capture = captures.get(build.version) or Capture(build.version, captured=False)
        if not capture.captured:
            resolved = None
            market = build.from_.marketplace
            if market is not None and reads is not None:
                image = reads.marketplace_image(spec.location, market.publisher, market.offer,
                                                market.sku, market.version)
                resolved = image.version if image is not None else None
            capture = replace(capture, provenance=provenance_tags(source_of(build, resolved),
                                                                  run))
        found[build.version] = capture
    return found


def format_problems(problems: Sequence[str]) -> str:
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return f"invalid vmimage:pipeline config ({count}):\n" + "\n".join(problems)


def admin_password() -> pulumi.Output[str] | None:
    """The Windows admin password from `pulumi config set --secret vmimage:adminPassword`."""
    return pulumi.Config("vmimage").get_secret("adminPassword")
