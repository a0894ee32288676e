"""An image definition in another subscription (`gallery.imageId`): what the program
asks and writes there. A re-run finds the version it captured there (read through the
SDK in the definition's subscription, not the stack's), a validated build is published
there, and a parent version from another gallery is checked against the stack's
definition before anything is registered."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from conftest import corp_tenant_with, load_pipeline, stack_config

from offline.arm import SUBSCRIPTION_ID
from offline.secrets import unwrap
from offline.up import UpResult, up
from vmimage.vocabulary import GALLERY_IMAGE_VERSION, PUBLISH

OTHER_SUB = "00000000-0000-0000-0000-0000000000bb"
DEFINITION = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-platform-images/providers/"
              "Microsoft.Compute/galleries/galplatform/images/base-ubuntu")
FOREIGN = DEFINITION.replace(SUBSCRIPTION_ID, OTHER_SUB)
TRUSTED = ";SecurityType=TrustedLaunchSupported"


def corp(image_id: str = FOREIGN) -> dict[str, Any]:
    pipeline = copy.deepcopy(load_pipeline("corp"))
    pipeline["gallery"]["imageId"] = image_id
    return pipeline


def corp_up(pipeline: dict[str, Any], state: Path, *definitions: str) -> UpResult:
    return up(stack_config("corp", pipeline), state_path=state,
              tenant=corp_tenant_with(*(definitions or (FOREIGN + TRUSTED,))))


def actions(result: UpResult) -> dict[str, str]:
    assert result.changes is not None
    return {c.urn.rsplit("::", 1)[-1]: c.action for c in result.changes}


def assert_ok(result: UpResult) -> None:
    assert result.ok, (result.run.failures, result.run.error, result.config_problems)


# -- 1. a re-run finds the version it captured in the other subscription -----------------------


def test_a_rerun_finds_the_version_captured_in_the_other_subscription(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = corp_up(corp(), state)
    assert_ok(first)
    (version,) = [r for r in first.run.registrations if r.type == GALLERY_IMAGE_VERSION]
    assert version.id.lower().startswith(FOREIGN.lower() + "/versions/")
    again = corp_up(corp(), state)
    assert_ok(again)
    # Asked where the version is: the definition's subscription, through the SDK.
    assert again.run.azure_reads.get("galleryImageVersions") == 1
    build = [r for r in again.run.registrations if r.name.endswith("-v1-0-0-build-vm")]
    assert build and all(set(r.inputs) - {"__provider"} <= set(r.ignore_changes)
                         for r in build), "a captured build's VM is registered frozen"
    changed = {n: a for n, a in actions(again).items() if a != "same"}
    assert changed == {}, changed
    captures = [o for o in again.run.operations if o.resource.endswith("-capture-version")]
    assert captures == [], "no new capture"


# -- 2. a validated build is published in the definition's subscription -----------------------

CHECK = {"inline": "curl -fsS http://localhost/ >/dev/null\n"}


def test_a_validated_build_is_published_in_the_definitions_subscription(tmp_path: Path) -> None:
    pipeline = corp()
    pipeline["builds"][0]["validate"] = [CHECK]
    result = corp_up(pipeline, tmp_path / "state.json")
    assert_ok(result)
    (publish,) = [r for r in result.run.registrations if r.type == PUBLISH]
    assert publish.inputs["gallerySubscriptionId"] == OTHER_SUB
    assert publish.inputs["galleryResourceGroupName"] == "rg-platform-images"
    arm = result.run.arm
    (version,) = [r for key, r in arm.resources.items() if r.token == GALLERY_IMAGE_VERSION]
    assert version.id.lower() == f"{FOREIGN}/versions/1.0.0".lower()
    # Taken into latest there (created excluded until the validation passed).
    assert unwrap(version.props)["publishingProfile"]["excludeFromLatest"] is False
    val_vm = next(vid for vid in arm.vms if "/vm-val-" in vid)
    assert arm.vms[val_vm].final()[0] == "deallocated"
