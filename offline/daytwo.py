"""The `vmimage` command (vmimage/daytwo/cli.py), composed: with `--state`, Azure is the
simulated one kept in that file (its gallery versions and their tags, its marketplace
catalog with the versions published since); without, Azure itself through the SDK,
authenticated as azure-native is (vmimage/azure/auth.py).

It is installed from here, not from vmimage/, because only this side may know the
simulator; the commands themselves are the product's."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from offline.arm import SimulatedArm
from offline.cli import stack_name
from offline.escape.terminal import plain
from offline.marketplace import parse_version_entry, version_key, with_versions
from offline.runner import StackFileError, find_project, stack_file, stack_names
from offline.state import StateError, load_state
from vmimage.azure.auth import resolve_settings
from vmimage.azure.client import make_compute_client
from vmimage.daytwo import cli
from vmimage.daytwo.reads import AzureSourceReads, SourceReads

_VERSION_ID = re.compile(r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/"
                         r"microsoft\.compute/galleries/([^/]+)/images/([^/]+)/versions/([^/]+)$")


class SimulatedSourceReads:
    """`SourceReads` over a simulated Azure restored from a state file."""

    def __init__(self, arm: SimulatedArm) -> None:
        self.arm = arm

    def marketplace_versions(self, location: str, publisher: str, offer: str,
                             sku: str) -> list[str]:
        image = self.arm.marketplace.get((publisher.lower(), offer.lower(), sku.lower()))
        return sorted(image.versions, key=version_key) if image is not None else []

    def gallery_versions(self, subscription: str | None, resource_group: str, gallery: str,
                         image: str) -> dict[str, dict[str, str]]:
        wanted = (resource_group.lower(), gallery.lower(), image.lower())
        found = {}
        for resource in self.arm.resources.values():
            match = _VERSION_ID.match(resource.id.lower())
            if resource.deleted_at is not None or match is None:
                continue
            if (subscription is None or match[1] == subscription.lower()) \
                    and match.groups()[1:4] == wanted:
                name = resource.id.rsplit("/", 1)[1]
                found[name] = dict(resource.props.get("tags") or {})
        return found


def locate(stack: str) -> Path:
    project = find_project()
    path = stack_file(stack, project)
    if not path.is_file():
        known = stack_names(project)
        raise ValueError(f"stack {stack!r}: no {path}"
                         + (f" (stacks there: {', '.join(known)})" if known else ""))
    return path


def reads_for(args: argparse.Namespace, config: dict[str, Any]) -> SourceReads:
    if args.state is None:
        settings = resolve_settings(config, os.environ)
        subscription = settings.get("subscriptionId")

        def client_for(other: str | None) -> Any:
            chosen = other or subscription
            if not chosen:
                raise ValueError("no subscription: set azure-native:subscriptionId or "
                                 "ARM_SUBSCRIPTION_ID (or ask the simulator with --state)")
            return make_compute_client(chosen, settings=settings)
        return AzureSourceReads(client_for)
    name = args.stack or stack_name(args.stack_file)
    try:
        state = load_state(args.state, name)
    except StateError as exc:
        raise ValueError(str(exc)) from None
    arm = state.restore_arm(SimulatedArm())
    added = [parse_version_entry(item) for item in args.marketplace_version]
    arm.marketplace.update(with_versions(arm.marketplace, added))
    return SimulatedSourceReads(arm)


def main(argv: list[str] | None = None) -> int:
    try:
        return cli.main(argv, locate=locate, reads_for=reads_for, escape=plain)
    except StackFileError as exc:
        print(str(exc))
        return cli.EXIT_USAGE


def entry() -> None:
    sys.exit(main())
