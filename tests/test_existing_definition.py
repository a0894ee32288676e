"""`gallery.imageId`: publishing into an existing image definition. The config keys it
takes and refuses, the pure check of a definition against the one the pipeline needs,
the read before anything is registered (offline, `--existing ID;KEY=VALUE`), versions
in its group or another subscription, and the simulator's own rules for a version of
it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import corp_tenant_with, load_pipeline, problems_of, run_offline, stack_config
from pulumi.runtime.rpc import is_rpc_secret
from pydantic import TypeAdapter, ValidationError

from offline.arm import SUBSCRIPTION_ID, ArmError, SimulatedArm
from offline.arm.dispatch import INVOKES
from offline.arm.model import ArmResource
from offline.arm.tenancy import check_version_fits_definition, parse_existing
from offline.secrets import unwrap
from vmimage.azure.reads import CloudReadError
from vmimage.config import values
from vmimage.config.definition import (
    definition_problems,
    found_definition,
    wanted_definition,
)
from vmimage.config.validate import load_spec
from vmimage.stack import definitions
from vmimage.vocabulary import (
    AZURE_NATIVE_PROVIDER,
    GALLERY,
    GALLERY_IMAGE,
    GALLERY_IMAGE_VERSION,
    GET_CLIENT_CONFIG,
)

SIM = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups"
DEFINITION = (f"{SIM}/rg-platform-images/providers/Microsoft.Compute/galleries/galplatform/"
              "images/base-ubuntu")
OTHER_SUB = "00000000-0000-0000-0000-0000000000bb"
FOREIGN = DEFINITION.replace(SUBSCRIPTION_ID, OTHER_SUB)


def corp(**gallery: Any) -> dict[str, Any]:
    pipeline = copy.deepcopy(load_pipeline("corp"))
    pipeline["gallery"].update(gallery)
    return pipeline


def arm_with(*definitions: str) -> SimulatedArm:
    """The corp tenant, with each `--existing` definition item given."""
    arm = SimulatedArm()
    corp_tenant_with(*definitions)(arm)
    return arm


# -- the typed value and the config keys ------------------------------------------------------


def test_an_image_definition_id_knows_its_gallery_and_name() -> None:
    parsed = TypeAdapter(values.GalleryImageId).validate_python(FOREIGN)
    assert parsed == FOREIGN
    spec = load_spec(corp(imageId=FOREIGN), location="westeurope").spec
    assert spec.gallery is not None and spec.gallery.existing is not None
    assert (spec.gallery.existing.subscription, spec.gallery.existing.resource_group,
            spec.gallery.gallery_name, spec.gallery.definition_name) == (
        OTHER_SUB, "rg-platform-images", "galplatform", "base-ubuntu")


@pytest.mark.parametrize("text", [
    DEFINITION + "/versions/1.0.0",  # a version is not a definition
    DEFINITION.replace("/images/", "/imagez/"),
    DEFINITION.replace("base-ubuntu", ".."),
    DEFINITION.replace(SUBSCRIPTION_ID, "-" * 36),
    DEFINITION + "?api-version=2024-03-03",
])
def test_what_is_not_an_image_definition_id_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(values.GalleryImageId).validate_python(text)
    assert "is not the ARM id of a gallery image definition" in str(caught.value)


def test_keys_of_a_definition_to_create_are_refused_beside_image_id() -> None:
    pipeline = corp(name="galx")
    pipeline["gallery"]["image"].update(name="x", publisher="p", offer="o", sku="s",
                                        description="d")
    found = problems_of(pipeline)
    for key in ("gallery.name", "gallery.image.name", "gallery.image.publisher",
                "gallery.image.offer", "gallery.image.sku", "gallery.image.description"):
        assert any(p.startswith(f"{key}: not with gallery.imageId") for p in found), key


def test_without_image_id_the_definition_to_create_is_required() -> None:
    pipeline = corp()
    del pipeline["gallery"]["imageId"]
    found = problems_of(pipeline)
    for key in ("gallery.name", "gallery.image.name", "gallery.image.publisher",
                "gallery.image.offer", "gallery.image.sku"):
        assert f"{key}: required (or publish into an existing definition with " \
            "gallery.imageId)" in found, key


# -- the check, pure -------------------------------------------------------------------------

MATCHING = {"osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V2",
            "architecture": "x64",
            "features": [{"name": "SecurityType", "value": "TrustedLaunchSupported"}]}


def corp_spec() -> Any:
    return load_spec(corp(), location="westeurope").spec


def test_the_wanted_definition_is_the_one_the_stack_would_create() -> None:
    want = wanted_definition(corp_spec())
    assert want == found_definition(MATCHING)
    assert definition_problems(corp_spec(), found_definition(MATCHING)) == []


@pytest.mark.parametrize(("change", "words"), [
    ({"osType": "Windows"}, "osType is Windows, but gallery.image.os is linux"),
    ({"osState": "Specialized"}, "osState is Specialized"),
    ({"hyperVGeneration": "V1"}, "hyperVGeneration is V1, but gallery.image.generation is V2"),
    ({"hyperVGeneration": None}, "hyperVGeneration is V1"),  # Azure's default when unset
    ({"architecture": "Arm64"}, "architecture is Arm64, but gallery.image.architecture is x64"),
    ({"features": []}, "has no SecurityType feature (Standard VMs only), but the build VM "
                       "and clones are TrustedLaunch VMs"),
    ({"features": [{"name": "SecurityType", "value": "ConfidentialVM"}]},
     "SecurityType is ConfidentialVM"),
    ({"features": [{"name": "SecurityType", "value": "TrustedLaunchSupported"},
                   {"name": "DiskControllerTypes", "value": "SCSI,NVMe"}]},
     "DiskControllerTypes is SCSI,NVMe, but gallery.image.diskControllerTypes is SCSI"),
    ({"purchasePlan": {"publisher": "a", "product": "b", "name": "c"}},
     "purchasePlan is publisher a, product b, name c"),
])
def test_each_mismatch_is_named_at_image_id(change: dict[str, Any], words: str) -> None:
    found = definition_problems(corp_spec(), found_definition({**MATCHING, **change}))
    assert len(found) == 1 and found[0].startswith("gallery.imageId: ") and words in found[0]


def test_trusted_launch_only_definitions_take_trusted_launch_and_standard_needs_allowing() -> None:
    only = {**MATCHING, "features": [{"name": "SecurityType", "value": "TrustedLaunch"}]}
    assert definition_problems(corp_spec(), found_definition(only)) == []
    standard = load_spec(corp(), location="westeurope").spec.model_copy(
        update={"security": corp_spec().security.model_copy(update={"trusted_launch": False})})
    assert "Standard VMs" in definition_problems(standard, found_definition(only))[0]


def test_a_plan_must_match_the_sources_plan() -> None:
    pipeline = corp()
    pipeline["builds"][0]["from"]["marketplace"]["plan"] = {
        "name": "server", "product": "ubuntu", "publisher": "canonical"}
    spec = load_spec(pipeline, location="westeurope").spec
    assert "purchasePlan is none, but builds[].from.marketplace.plan is publisher " \
        "canonical" in definition_problems(spec, found_definition(MATCHING))[0]
    same = {**MATCHING, "purchasePlan": {"publisher": "Canonical", "product": "ubuntu",
                                         "name": "server"}}
    assert definition_problems(spec, found_definition(same)) == []


# -- offline: read first, never created --------------------------------------------------------


def types_of(run: Any) -> list[str]:
    return [r.type for r in run.registrations]


def test_versions_go_into_the_existing_definition_which_is_never_registered() -> None:
    run = run_offline(stack_config("corp"),
                      arm=arm_with(f"{DEFINITION};SecurityType=TrustedLaunchSupported"))
    assert not (run.failures or run.error or run.config_problems)
    assert GALLERY not in types_of(run) and GALLERY_IMAGE not in types_of(run)
    assert AZURE_NATIVE_PROVIDER not in types_of(run)  # the stack's own subscription
    (version,) = [r for r in run.registrations if r.type == GALLERY_IMAGE_VERSION]
    assert version.inputs["resourceGroupName"] == "rg-platform-images"
    assert version.inputs["galleryName"] == "galplatform"
    assert version.id.lower().startswith(DEFINITION.lower() + "/versions/")
    assert run.azure_reads.get("galleryImages") == 1


def test_a_missing_or_mismatched_definition_stops_the_run_before_any_registration() -> None:
    missing = run_offline(stack_config("corp"), arm=arm_with())
    assert missing.config_problems and "no such image definition" in missing.config_problems[0]
    assert not [r for r in missing.registrations if r.type.startswith("azure-native:")]
    wrong = run_offline(stack_config("corp"), arm=arm_with(
        f"{DEFINITION};osType=Windows;hyperVGeneration=V1"))
    assert len(wrong.config_problems) == 3  # OS, generation, security type: all at once
    assert not [r for r in wrong.registrations if r.type.startswith("azure-native:")]


def test_another_subscription_is_written_through_an_explicit_provider() -> None:
    run = run_offline(stack_config("corp", corp(imageId=FOREIGN)),
                      arm=arm_with(f"{FOREIGN};SecurityType=TrustedLaunchSupported"))
    assert not (run.failures or run.error or run.config_problems)
    (provider,) = [r for r in run.registrations if r.type == AZURE_NATIVE_PROVIDER]
    assert provider.inputs["subscriptionId"] == OTHER_SUB
    (version,) = [r for r in run.registrations if r.type == GALLERY_IMAGE_VERSION]
    assert version.id.lower().startswith(FOREIGN.lower() + "/versions/")


def test_a_definition_the_credentials_may_only_read_refuses_the_version() -> None:
    run = run_offline(stack_config("corp"), arm=arm_with(
        f"{DEFINITION};SecurityType=TrustedLaunchSupported;access=read"))
    assert [f.code for f in run.failures] == ["AuthorizationFailed"]


# -- the simulator's rules for a version of a definition ---------------------------------------


def definition(**props: Any) -> ArmResource:
    return ArmResource(DEFINITION, GALLERY_IMAGE, "base-ubuntu",
                       {"osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V2",
                        **props}, ready_at=0.0)


LINUX_VM = {"osProfile": {"linuxConfiguration": {}},
            "storageProfile": {"imageReference": {"publisher": "Canonical",
                                                  "offer": "ubuntu-24_04-lts",
                                                  "sku": "server"}}}


@pytest.mark.parametrize(("props", "vm", "words"), [
    ({"osType": "Windows"}, LINUX_VM, "OS type Linux does not match"),
    ({"hyperVGeneration": "V1"}, LINUX_VM, "generation V2, but gallery image"),
    ({"osState": "Specialized"}, LINUX_VM, "is Specialized"),
])
def test_a_version_must_fit_its_definition(props: dict[str, Any], vm: dict[str, Any],
                                           words: str) -> None:
    arm = SimulatedArm()
    with pytest.raises(ArmError) as caught:
        check_version_fits_definition(arm, definition(**props), vm)
    assert caught.value.code == "InvalidParameter" and words in caught.value.message
    check_version_fits_definition(arm, definition(), LINUX_VM)  # the fitting one passes


def test_existing_items_take_properties_and_refuse_unknown_ones() -> None:
    item = parse_existing(f"{DEFINITION}@northeurope;osType=Windows;SecurityType="
                          "TrustedLaunch;plan=p:q:r;access=read", "westeurope")
    assert item.region == "northeurope" and item.read_only
    assert item.props == {"osType": "Windows",
                          "purchasePlan": {"publisher": "p", "product": "q", "name": "r"},
                          "features": [{"name": "SecurityType", "value": "TrustedLaunch"}]}
    # Feature values in any case, as Azure takes them; each of security_types.BOOTS.
    mixed = parse_existing(f"{DEFINITION};SecurityType=TrustedLaunchAndConfidentialVMSupported",
                           "westeurope")
    assert mixed.props["features"] == [{"name": "SecurityType",
                                        "value": "TrustedLaunchAndConfidentialVMSupported"}]
    for bad in (";osType=Solaris", ";colour=blue", ";plan=p:q", ";osType",
                ";SecurityType=Confidential"):
        with pytest.raises(ValueError, match="--existing"):
            parse_existing(DEFINITION + bad, "westeurope")


# -- the provider of another subscription signs in as the stack does ---------------------------

LOGIN = {"azure-native:clientId": "00000000-0000-0000-0000-0000000000c1",
         "azure-native:clientSecret": "a-client-secret-of-the-stack",
         "azure-native:tenantId": "00000000-0000-0000-0000-0000000000a1",
         "azure-native:useOidc": "false",
         "azure-native:environment": "usgovernment"}


def test_the_provider_of_another_subscription_takes_the_stacks_login_and_cloud() -> None:
    run = run_offline(stack_config("corp", corp(imageId=FOREIGN), **LOGIN),
                      arm=arm_with(f"{FOREIGN};SecurityType=TrustedLaunchSupported"))
    assert not (run.failures or run.error or run.config_problems)
    (provider,) = [r for r in run.registrations if r.type == AZURE_NATIVE_PROVIDER]
    inputs = provider.inputs
    assert is_rpc_secret(inputs["clientSecret"])  # never plain in the state
    assert inputs["subscriptionId"] == OTHER_SUB
    assert {k: unwrap(inputs[k]) for k in ("clientId", "clientSecret", "tenantId",
                                           "environment", "useOidc")} == {
        "clientId": LOGIN["azure-native:clientId"],
        "clientSecret": LOGIN["azure-native:clientSecret"],
        "tenantId": LOGIN["azure-native:tenantId"], "environment": "usgovernment",
        "useOidc": "false"}


def test_a_stack_whose_subscription_cannot_be_told_is_refused_at_image_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # No azure-native:subscriptionId, and the client config names none either.
    monkeypatch.setitem(INVOKES, GET_CLIENT_CONFIG, lambda *_: {"subscriptionId": ""})
    run = run_offline(stack_config("corp", corp(imageId=FOREIGN)),
                      arm=arm_with(f"{FOREIGN};SecurityType=TrustedLaunchSupported"))
    assert any(p.startswith("gallery.imageId: cannot tell which subscription this stack "
                            "deploys into") and "set azure-native:subscriptionId" in p
               for p in run.config_problems), run.config_problems
    assert not [r for r in run.registrations if r.type.startswith("azure-native:")]


class Answering:
    """Reads whose definition read ARM answers with `status`."""

    def __init__(self, status: int) -> None:
        self.status = status

    def gallery_image(self, *where: str) -> dict[str, Any] | None:
        raise CloudReadError(f"cannot read the image definition: ({self.status})", self.status)


@pytest.mark.parametrize(("status", "words"), [
    (403, "gallery.imageId: the credentials may not read the image definition: "),
    (401, "grant them read access to the gallery"),
    (404, "gallery.imageId: no such image definition ('base-ubuntu' in gallery "),
])
def test_a_definition_read_refused_or_not_found_is_named_at_image_id(
        monkeypatch: pytest.MonkeyPatch, status: int, words: str) -> None:
    monkeypatch.setattr(definitions, "deployment_subscription", lambda: SUBSCRIPTION_ID)
    (found,) = definitions.existing_definition_problems(
        corp_spec(), Answering(status))  # type: ignore[arg-type]
    assert words in found
    with pytest.raises(CloudReadError):  # any other failure still stops the run
        definitions.existing_definition_problems(corp_spec(), Answering(500))  # type: ignore[arg-type]
