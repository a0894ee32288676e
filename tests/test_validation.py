"""Validate before publishing (#18): a captured version boots a validation VM that runs
the build's `validate` steps; only when they pass is the version taken into latest
(Publish) and handed to clones and child builds, and the validation VM deallocated."""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Any

from conftest import load_stack_dict, problems_of, stack_config
from engine_host import clean_env, configure, from_struct, provider_stub, start, to_struct, vm_of
from fake_azure import FAST
from program_mocks import SUBSCRIPTION, run_program
from pulumi.runtime.proto import provider_pb2

from offline.faults import FaultPlan
from offline.secrets import unwrap
from offline.up import up
from vmimage.vocabulary import PUBLISH, STEP_TAG, STEP_VALIDATE

VM = "azure-native:compute:VirtualMachine"
VERSION = "azure-native:compute:GalleryImageVersion"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
CHECK = {"inline": "curl -fsS http://localhost/ >/dev/null\n"}


def validated() -> dict[str, Any]:
    config = load_stack_dict("dev")
    config["vmimage:pipeline"]["builds"][0]["validate"] = [CHECK]
    return config


def test_validation_needs_a_gallery_and_a_build_vm_size():
    raw = validated()["vmimage:pipeline"]
    raw["builds"][0]["validate"] = [{"inline": ""}]
    [problem] = problems_of(raw)
    assert problem.startswith("builds[0].validate[0].inline: ")
    raw["builds"][0]["validate"] = [CHECK]
    raw["capture"] = "managedImage"
    raw["managedImage"] = {"name": "img"}
    raw.pop("gallery")
    assert "builds[0].validate: validation publishes a gallery version once it passes; " \
           "capture: gallery" in problems_of(raw)


def test_the_version_is_published_after_its_validation_and_clones_wait():
    recorded = run_program(validated())
    (version,) = recorded.of_type(VERSION)
    assert version.inputs["publishingProfile"]["excludeFromLatest"] is True
    # never ignored: the engine would send the create's `true` with every later update
    assert not [p for p in version.request.ignoreChanges if p.startswith("publishingProfile")]
    vms = {vm.inputs["vmName"]: vm for vm in recorded.of_type(VM)}
    validation_vm = vms["vm-val-web-ubuntu-1-0-0"]
    assert validation_vm.inputs["tags"]["vmimage-role"] == "validation"
    assert version.urn in validation_vm.dependencies  # it boots the captured version
    (check,) = [c for c in recorded.of_type(RUN_COMMAND)
                if c.inputs["tags"][STEP_TAG] == STEP_VALIDATE]
    assert check.inputs["vmName"] == "vm-val-web-ubuntu-1-0-0"
    (publish,) = recorded.of_type(PUBLISH)
    assert publish.inputs["excludeFromLatest"] is False
    assert publish.inputs["galleryImageVersionName"] == "1.0.0"
    assert check.urn in publish.dependencies
    clones = [vm for name, vm in vms.items() if name.startswith("web-")]
    assert clones and all(publish.urn in vm.dependencies for vm in clones)
    # without validate: nothing of it, and the version as configured
    plain = run_program(load_stack_dict("dev"))
    assert not plain.of_type(PUBLISH)
    assert plain.of_type(VERSION)[0].inputs["publishingProfile"]["excludeFromLatest"] is False


def published_state(result: Any) -> tuple[bool, str]:
    arm = result.run.arm
    version = next(r for r in arm.resources.values() if r.token == VERSION)
    excluded = unwrap(version.props)["publishingProfile"]["excludeFromLatest"]
    val_vm = next(vid for vid in arm.vms if vid.endswith("/vm-val-web-ubuntu-1-0-0"))
    return excluded, arm.vms[val_vm].final()[0]


def test_a_passing_validation_publishes_and_deallocates_offline():
    result = up(stack_config("dev", validated()["vmimage:pipeline"]))
    assert result.ok, result.run.failures or result.run.error
    assert published_state(result) == (False, "deallocated")
    clones = [r for r in result.run.registrations if r.type == VM
              and str(r.outputs.get("name", "")).startswith("web-")]
    publish = next(r for r in result.run.registrations if r.type == PUBLISH)
    assert clones and all(vm.start_s >= publish.end_s for vm in clones)


def test_a_failing_validation_stops_the_run_and_leaves_the_version_out_of_latest():
    faults = FaultPlan.parse("validate-fail=1")
    result = up(stack_config("dev", validated()["vmimage:pipeline"]), faults=faults)
    assert not result.ok
    [failure] = result.run.failures
    assert failure.type == RUN_COMMAND and "exited with code 1" in failure.message
    assert published_state(result) == (True, "running")
    assert not [r for r in result.run.registrations if r.type == VM and r.id
                and str(r.outputs.get("name", "")).startswith("web-")]


@contextmanager
def publish_in_host(tmp_path, engine, azure, gallery_subscription=None):
    """The Publish of the validated dev stack, created by the engine's provider host
    against the fake Azure, with its version in `gallery_subscription` (None: the
    validation VM's, the mocks'): the stub, registration, check and create answers and
    the version, while the host runs."""
    (reg,) = run_program(validated()).of_type(PUBLISH)
    rg, vm = vm_of(reg)
    world = azure.azure.world
    world.add_vm(vm, rg=rg)
    news = from_struct(reg.request.object)
    if gallery_subscription is not None:
        news["gallerySubscriptionId"] = gallery_subscription
    # Where the publication asks: the gallery's subscription, else the VM's.
    version = world.add_version(rg, news["galleryName"], news["galleryImageName"],
                                news["galleryImageVersionName"],
                                subscription=gallery_subscription or SUBSCRIPTION)
    with start(tmp_path, engine, clean_env(**azure.env(**FAST))) as host:
        stub = provider_stub(host)
        configure(stub)
        checked = stub.Check(provider_pb2.CheckRequest(
            urn=reg.urn, olds=to_struct({}), news=to_struct(news), type=PUBLISH,
            name=reg.name))
        assert list(checked.failures) == []
        created = stub.Create(provider_pb2.CreateRequest(
            urn=reg.urn, properties=checked.inputs, timeout=3600, type=PUBLISH,
            name=reg.name))
        yield stub, reg, checked, created, world.arm.resources[version.lower()]


def test_publish_in_the_provider_host(tmp_path, engine, azure):
    with publish_in_host(tmp_path, engine, azure) as (stub, reg, checked, created, version):
        outs = from_struct(created.properties)
        assert outs["powerState"] == "deallocated" and outs["publishedAt"]
        assert version.props["publishingProfile"] == {"excludeFromLatest": False}
        rg, vm = vm_of(reg)
        assert azure.azure.world.state(vm, rg)[0] == "deallocated"
        # another excludeFromLatest is another publication
        news = {**from_struct(checked.inputs), "excludeFromLatest": True}
        diff = stub.Diff(provider_pb2.DiffRequest(id=created.id, urn=reg.urn,
                                                  olds=created.properties,
                                                  news=to_struct(news)))
        assert list(diff.replaces) == ["excludeFromLatest"]


def test_publish_in_the_provider_host_updates_a_version_of_another_subscription(
        tmp_path, engine, azure):
    """An existing definition's gallery in another subscription than the validation VM's:
    the version is updated there (a client for it, the same credential)."""
    other = "00000000-0000-0000-0000-0000000000bb"
    with publish_in_host(tmp_path, engine, azure, other) as (_, reg, _, created, version):
        assert from_struct(created.properties)["gallerySubscriptionId"] == other
        assert version.id.startswith(f"/subscriptions/{other}/")
        assert version.props["publishingProfile"] == {"excludeFromLatest": False}
        rg, vm = vm_of(reg)
        assert azure.azure.world.state(vm, rg)[0] == "deallocated"


def test_retiring_a_validated_build_deletes_its_validation_vm_too(tmp_path):
    """README: a retired build's VM, NIC, disks and run commands go; its validation VM's
    with them."""
    state = tmp_path / "state.json"
    assert up(stack_config("dev", validated()["vmimage:pipeline"]), state_path=state).ok
    retired = validated()["vmimage:pipeline"]
    retired["builds"][0]["retired"] = True
    result = up(stack_config("dev", retired), state_path=state)
    assert result.ok, (result.run.failures, result.run.error)
    alive = [r.name for r in result.run.arm.resources.values() if r.deleted_at is None]
    assert not [n for n in alive if "-val-" in n], alive
    assert not [key for key, r in result.run.arm.resources.items()
                if r.deleted_at is None and "/runcommands/" in key]
    deleted = {c.urn.rsplit("::", 1)[-1] for c in result.changes if c.action == "delete"}
    assert {"vmimage-v1-0-0-validation-vm", "vmimage-v1-0-0-validation-nic"} <= deleted


def held_in_azure(result: Any, version: str = "1.0.0") -> dict[str, Any]:
    """The version as a GET answers it (its outputs over what was sent)."""
    return next(unwrap(r.props) | unwrap(r.outputs)
                for r in result.run.arm.resources.values()
                if r.token == VERSION and r.deleted_at is None
                and r.id.endswith(f"/versions/{version}"))


def version_change(result: Any, version: str = "1.0.0") -> Any:
    name = f"vmimage-v{version.replace('.', '-')}-capture-version"
    return next(c for c in result.changes if c.urn.endswith(f"::{name}"))


def test_a_published_version_stays_in_latest_through_later_updates(tmp_path):
    """A validated version is created excluded and published by a PATCH; azure-native
    updates a version with a PUT of its inputs, so an input still saying `true` (the
    create's, kept by ignoreChanges) would take it out of latest again on the first
    in-place change. The run after the publication records the published value once;
    later changes keep it in latest, and an unchanged config changes nothing."""
    state = tmp_path / "state.json"
    pipeline = validated()["vmimage:pipeline"]

    def step(pipeline: dict[str, Any]) -> Any:
        result = up(stack_config("dev", copy.deepcopy(pipeline)), state_path=state)
        assert result.ok, (result.run.failures, result.run.error, result.config_problems)
        return result

    created = step(pipeline)
    assert held_in_azure(created)["publishingProfile"]["excludeFromLatest"] is False

    recorded = step(pipeline)  # the published value, recorded once: what Azure holds
    change = version_change(recorded)
    assert change.action == "update"
    assert [(d.path, d.old, d.new) for d in change.diff] == [
        ("publishingProfile.excludeFromLatest", True, False)]
    assert held_in_azure(recorded)["publishingProfile"]["excludeFromLatest"] is False

    pipeline["builds"][0]["endOfLife"] = "2031-01-31"  # an in-place change of the version
    updated = step(pipeline)
    assert version_change(updated).action == "update"
    profile = held_in_azure(updated)["publishingProfile"]
    assert profile["endOfLifeDate"].startswith("2031-01-31")
    assert profile["excludeFromLatest"] is False

    assert version_change(step(pipeline)).action == "same"  # no diff on every run


def test_revoking_a_published_validated_version_still_takes_it_out_of_latest(tmp_path):
    state = tmp_path / "state.json"
    pipeline = validated()["vmimage:pipeline"]
    pipeline["builds"].append({**copy.deepcopy(pipeline["builds"][0]), "version": "1.1.0"})
    pipeline["clones"][0]["version"] = "latest"
    for _ in range(2):  # created and published; then the published value recorded
        first = up(stack_config("dev", copy.deepcopy(pipeline)), state_path=state)
        assert first.ok, (first.run.failures, first.run.error, first.config_problems)
    assert held_in_azure(first, "1.1.0")["publishingProfile"]["excludeFromLatest"] is False

    pipeline["builds"][1]["revoked"] = "CVE-2026-0001 in openssl"
    revoked = up(stack_config("dev", copy.deepcopy(pipeline)), state_path=state)
    assert revoked.ok, (revoked.run.failures, revoked.run.error, revoked.config_problems)
    assert held_in_azure(revoked, "1.1.0")["publishingProfile"]["excludeFromLatest"] is True
    assert held_in_azure(revoked)["publishingProfile"]["excludeFromLatest"] is False

    # Retention never empties latest: 1.1.0 is revoked, so 1.0.0 is the one version
    # serving it and stays, however small keep is.
    pipeline["gallery"]["retention"] = {"keep": 1}
    pipeline["clones"][0]["version"] = "1.0.0"
    retained = up(stack_config("dev", copy.deepcopy(pipeline)), state_path=state)
    assert retained.ok, (retained.run.failures, retained.run.error,
                         retained.config_problems)
    assert held_in_azure(retained)["publishingProfile"]["excludeFromLatest"] is False
    assert held_in_azure(retained, "1.1.0")["publishingProfile"]["excludeFromLatest"] is True


def test_a_version_whose_validation_failed_stays_out_of_latest_until_it_passes(tmp_path):
    """Captured is not published: the retry registers the version excluded, as Azure
    holds it, and only the publication takes it into latest."""
    state = tmp_path / "state.json"
    config = stack_config("dev", validated()["vmimage:pipeline"])
    failed = up(config, state_path=state, faults=FaultPlan.parse("validate-fail=1"))
    assert not failed.ok
    assert held_in_azure(failed)["publishingProfile"]["excludeFromLatest"] is True

    retried = up(stack_config("dev", validated()["vmimage:pipeline"]), state_path=state)
    assert retried.ok, (retried.run.failures, retried.run.error)
    assert version_change(retried).action == "same"  # no PUT into latest before it passed
    assert held_in_azure(retried)["publishingProfile"]["excludeFromLatest"] is False
    assert published_state(retried) == (False, "deallocated")
