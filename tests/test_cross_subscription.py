"""An image definition in another subscription (`gallery.imageId`): what the program
asks and writes there. A re-run finds the version it captured there (read through the
SDK in the definition's subscription, not the stack's), a validated build is published
there, and a parent version from another gallery is checked against the stack's
definition before anything is registered."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from conftest import (
    LOCATION,
    corp_tenant_with,
    load_pipeline,
    load_stack_dict,
    offline_cli,
    stack_config,
)

from offline.arm import SUBSCRIPTION_ID
from offline.cli import existing_tenant
from offline.secrets import unwrap
from offline.up import UpResult, up
from vmimage.azure.reads import AzureReads, CloudReadError
from vmimage.config.definition import found_definition
from vmimage.config.fingerprint import Capture
from vmimage.config.parent_definition import parent_definition_problems
from vmimage.config.validate import load_spec
from vmimage.stack.captures import look_up_captures
from vmimage.stack.definitions import parent_problems
from vmimage.vocabulary import FINGERPRINT_TAG, GALLERY_IMAGE_VERSION, PUBLISH

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



class VersionReads:
    """Reads that answer a version read with `found` (or raise it)."""

    def __init__(self, found: Any) -> None:
        self.found = found
        self.asked: list[tuple[str, ...]] = []

    def gallery_image_version(self, *where: str) -> Any:
        self.asked.append(where)
        if isinstance(self.found, Exception):
            raise self.found
        return self.found


def test_the_lookup_asks_the_definitions_subscription_and_reads_what_the_sdk_answers() -> None:
    spec = load_spec(corp(), location=LOCATION).spec
    published = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    found = SimpleNamespace(id=f"{FOREIGN}/versions/1.0.0", tags={FINGERPRINT_TAG: "v1:x"},
                            publishing_profile=SimpleNamespace(
                                published_date=published, target_regions=[
                                    SimpleNamespace(name="West Europe",
                                                    regional_replica_count=2)]))
    reads = VersionReads(found)
    (capture,) = look_up_captures(spec, reads).values()  # type: ignore[arg-type]
    assert reads.asked == [(OTHER_SUB, "rg-platform-images", "galplatform", "base-ubuntu",
                            "1.0.0")]
    assert capture.captured and capture.fingerprint == "v1:x"
    assert capture.replicas == {"westeurope": 2}
    assert capture.published == "2026-12-01T08:30:00+00:00"  # what retention parses
    (absent,) = look_up_captures(spec, VersionReads(None)).values()  # type: ignore[arg-type]
    assert not absent.captured
    refused = CloudReadError("cannot read version 1.0.0 ...: (AuthorizationFailed)", 403)
    with pytest.raises(CloudReadError):  # said as it is, not taken for "not captured"
        look_up_captures(spec, VersionReads(refused))  # type: ignore[arg-type]



def test_a_refused_version_read_says_arms_status() -> None:
    def refuse(*where: str) -> Any:
        err = HttpResponseError("(AuthorizationFailed) The client 'x' does not have "
                                "authorization")
        err.status_code = 403
        raise err

    client = SimpleNamespace(gallery_image_versions=SimpleNamespace(get=refuse))
    reads = AzureReads(client, subscription=OTHER_SUB)
    with pytest.raises(CloudReadError) as caught:
        reads.gallery_image_version(OTHER_SUB, "rg-platform-images", "galplatform",
                                    "base-ubuntu", "1.0.0")
    assert caught.value.status == 403 and "(AuthorizationFailed)" in str(caught.value)

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


# -- 3. a parent version from another gallery, checked by its definition -----------------------

PARENT = (f"/subscriptions/{OTHER_SUB}/resourceGroups/rg-shared/providers/Microsoft.Compute/"
          "galleries/galshared/images/base")
PARENT_VERSION = f"{PARENT}/versions/2.0.0"


def from_parent() -> dict[str, Any]:
    """The dev stack (Trusted Launch, generation V2, Linux) starting from PARENT_VERSION."""
    pipeline = load_stack_dict("dev")["vmimage:pipeline"]
    pipeline["builds"][0]["from"] = {"imageVersionId": PARENT_VERSION}
    return pipeline


def parent_tenant(*definition: str) -> Any:
    """The parent version, and its definition when given (`;KEY=VALUE` properties)."""
    return existing_tenant([], [PARENT_VERSION, *(PARENT + d for d in definition)],
                           LOCATION)


def parent_up(definition: tuple[str, ...], tmp_path: Path) -> UpResult:
    return up(stack_config("dev", from_parent()), state_path=tmp_path / "state.json",
              tenant=parent_tenant(*definition))


def test_a_parent_whose_definition_fits_is_read_once_and_built_from(tmp_path: Path) -> None:
    result = parent_up((TRUSTED,), tmp_path)
    assert_ok(result)
    assert result.run.azure_reads.get("galleryImages") == 1
    (vm,) = [r for r in result.run.registrations if r.name.endswith("-v1-0-0-build-vm")]
    assert vm.inputs["storageProfile"]["imageReference"]["id"] == PARENT_VERSION


def test_each_way_a_parent_does_not_fit_is_named_at_its_key(tmp_path: Path) -> None:
    # A Windows, generation 1, Arm64 definition without a SecurityType: Standard VMs only.
    result = parent_up((";osType=Windows;hyperVGeneration=V1;architecture=Arm64",), tmp_path)
    at = "builds[0].from.imageVersionId: the parent version's definition 'base' "
    assert result.config_problems == [
        at + "is Windows, but gallery.image.os is linux",
        at + "is generation V1, but gallery.image.generation is V2; the build VM boots its "
        "parent's generation, which its version keeps",
        at + "is Arm64, but gallery.image.architecture is x64",
        at + "has no SecurityType feature (its versions boot Standard VMs only), but the "
        "build VM is a TrustedLaunch VM (security.type); set security.type to one it boots, "
        "or start from a version of a definition that allows it"]
    assert result.run.registrations == [] and not (tmp_path / "state.json").exists()


def test_a_trusted_launch_only_parent_refuses_a_standard_build_vm(tmp_path: Path) -> None:
    pipeline = from_parent()
    pipeline["security"] = {"type": "Standard"}
    result = up(stack_config("dev", pipeline), tenant=parent_tenant(";SecurityType=TrustedLaunch"))
    assert result.config_problems == [
        "builds[0].from.imageVersionId: the parent version's definition 'base' has "
        "SecurityType TrustedLaunch (its versions boot TrustedLaunch VMs only), but the build "
        "VM is a Standard VM (security.type); set security.type to one it boots, or start "
        "from a version of a definition that allows it"]


def test_the_cli_reports_a_parent_that_does_not_fit_with_exit_2(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    config = load_stack_dict("dev")
    config["vmimage:pipeline"] = from_parent()
    stack_file.write_text(json.dumps({"config": config}))
    state = tmp_path / "state.json"
    code, lines, output = offline_cli(
        "up", "--stack-file", str(stack_file), "--state", str(state),
        "--existing", PARENT_VERSION, "--existing", PARENT + ";hyperVGeneration=V1")
    assert code == 2, output
    # generation and security type (a V1 definition without a SecurityType), each a line
    assert sum(line.startswith("builds[0].from.imageVersionId: ") for line in lines) == 2
    assert "Traceback" not in output and not state.exists()


def test_a_parent_definition_azure_does_not_have_is_said_so(tmp_path: Path) -> None:
    result = parent_up((), tmp_path)  # the version declared, its definition not
    assert result.config_problems == [
        "builds[0].from.imageVersionId: Azure has no image definition 'base' in gallery "
        f"'galshared' (resource group 'rg-shared', subscription {OTHER_SUB}), so neither the "
        "version; fix the id"]
    assert result.run.registrations == []


class Refusing:
    """Reads of a tenant whose gallery the credentials may not read (ARM's 403)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def gallery_image(self, subscription: str, resource_group: str, gallery: str,
                      image: str) -> dict[str, Any] | None:
        self.asked.append((subscription, resource_group, gallery, image))
        raise CloudReadError(f"cannot read the image definition {image!r} of gallery "
                             f"{gallery!r}: (AuthorizationFailed) The client 'x' does not "
                             "have authorization", 403)


def test_a_parent_definition_the_credentials_may_not_read_is_said_so() -> None:
    pipeline = from_parent()
    pipeline["builds"].append({**copy.deepcopy(pipeline["builds"][0]), "version": "1.0.1"})
    spec = load_spec(pipeline, location=LOCATION).spec
    reads = Refusing()
    found = parent_problems(spec, reads, {})  # type: ignore[arg-type]
    assert len(reads.asked) == 1  # one read per definition, however many builds
    assert len(found) == 2 and all("(AuthorizationFailed)" in p and "grant them read "
                                   "access" in p for p in found)
    assert found[1].startswith("builds[1].from.imageVersionId: the credentials may not read "
                               "the version's image definition: ")
    # A captured build booted its parent already: it is not asked about again.
    assert parent_problems(spec, Refusing(), {  # type: ignore[arg-type]
        "1.0.0": Capture("1.0.0", captured=True),
        "1.0.1": Capture("1.0.1", captured=True)}) == []


def test_a_parent_read_that_fails_otherwise_stops_the_run() -> None:
    class Failing(Refusing):
        def gallery_image(self, *args: str) -> dict[str, Any] | None:
            raise CloudReadError("cannot read the image definition: (InternalError)", 500)

    spec = load_spec(from_parent(), location=LOCATION).spec
    with pytest.raises(CloudReadError):
        parent_problems(spec, Failing(), {})  # type: ignore[arg-type]


def test_a_managed_image_stack_is_told_its_images_are_x64_not_a_gallery_key() -> None:
    pipeline = from_parent()
    del pipeline["gallery"]
    pipeline["builds"][0].pop("regions", None)
    pipeline.update(capture="managedImage", managedImage={"name": "web", "os": "linux"})
    spec = load_spec(pipeline, location=LOCATION).spec
    found = found_definition({"osType": "Linux", "hyperVGeneration": "V2",
                              "architecture": "Arm64"})
    problems = parent_definition_problems(spec, "builds[0].from.imageVersionId", "'base'",
                                          found)
    assert [p for p in problems if "Arm64" in p] == [
        "builds[0].from.imageVersionId: the parent version's definition 'base' is Arm64, but "
        "the managed image (managedImage has no architecture key) is x64"]
