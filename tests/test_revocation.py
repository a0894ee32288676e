"""Revocation (`builds[].revoked`), on one state: a revoked version leaves latest (clones
on latest move off it), is updated in place (excludeFromLatest, the vmimage-revoked tag;
never recaptured), the plan says so and which groups move, and a clone group or child
build pinned to it is refused by key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from conftest import load_stack_dict
from pydantic import ValidationError

from offline.plan.render import render_markdown
from offline.runner import StackConfig
from offline.secrets import unwrap
from offline.up import up
from vmimage.config.errors import SpecError
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.config.revocation_rules import revocation_problems
from vmimage.config.validate import load_spec
from vmimage.vocabulary import REVOKED_TAG

VERSION = "azure-native:compute:GalleryImageVersion"
REASON = "CVE-2026-0001 in openssl"
SECOND = {"version": "1.1.0",
          "from": {"marketplace": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                   "sku": "server", "version": "latest"}},
          "size": "Standard_D2s_v5",
          "regions": [{"name": "westeurope", "replicas": 2}]}


def two_versions(**second: Any) -> dict[str, Any]:
    """The dev stack with 1.1.0 beside 1.0.0 and its clones on latest."""
    config = load_stack_dict("dev")
    pipeline = config["vmimage:pipeline"]
    pipeline["builds"].append({**copy.deepcopy(SECOND), **second})
    pipeline["clones"][0]["version"] = "latest"
    return config


def step(config: dict[str, Any], state: Path) -> Any:
    return up(StackConfig("dev", copy.deepcopy(config)), state_path=state)


def version_in_azure(result: Any, version: str) -> dict[str, Any]:
    return next(unwrap(r.props) for r in result.run.arm.resources.values()
                if r.token == VERSION and r.deleted_at is None
                and r.id.endswith(f"/versions/{version}"))


def clone_versions(result: Any) -> set[str]:
    return {r.inputs["tags"]["vmimage-version"]
            for r in result.run.registrations
            if r.type == "azure-native:compute:VirtualMachine"
            and r.inputs.get("tags", {}).get("vmimage-role") == "clone"}


def test_revoking_moves_latest_updates_the_version_in_place_and_refuses_pins(tmp_path):
    state = tmp_path / "state.json"
    first = step(two_versions(), state)
    assert first.ok, (first.run.failures, first.run.error, first.config_problems)
    assert clone_versions(first) == {"1.1.0"}
    assert version_in_azure(first, "1.1.0")["publishingProfile"]["excludeFromLatest"] is False

    revoked = step(two_versions(revoked=REASON), state)
    assert revoked.ok, (revoked.run.failures, revoked.run.error, revoked.config_problems)
    assert clone_versions(revoked) == {"1.0.0"}  # latest skips the revoked version
    in_azure = version_in_azure(revoked, "1.1.0")
    assert in_azure["publishingProfile"]["excludeFromLatest"] is True
    assert in_azure["tags"][REVOKED_TAG] == REASON
    actions = {c.urn.rsplit("::", 1)[-1]: c.action for c in revoked.changes}
    assert actions["vmimage-v1-1-0-capture-version"] == "update"  # never recaptured
    assert actions["vmimage-v1-1-0-build-vm"] == "same"  # the generalized VM stays frozen
    markdown = render_markdown(revoked.run, changes=[c.as_json() for c in revoked.changes])
    versions = markdown.split("## Image versions\n\n", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in versions.splitlines() if line.startswith("| `1.1.0` |"))
    assert f"**revoked: {REASON}**" in row
    assert "clone groups to move: `web`" in row

    pinned = two_versions(revoked=REASON)
    pinned["vmimage:pipeline"]["clones"][0]["version"] = "1.1.0"
    refused = step(pinned, state)
    assert not refused.ok and not refused.saved
    assert any(p.startswith("clones[0].version: 1.1.0 is revoked (CVE-2026-0001 in openssl)")
               and p.endswith("must move to another version: web")
               for p in refused.config_problems), refused.config_problems


def spec_problems(pipeline: dict[str, Any]) -> list[str]:
    """The revocation rules' findings, and that the whole config is refused for them."""
    spec = PipelineSpec.model_validate({**pipeline, "location": "westeurope"})
    found = revocation_problems(spec)
    with pytest.raises(SpecError) as refused:
        load_spec(pipeline, location="westeurope")
    assert set(found) <= set(refused.value.problems)
    return found


def test_a_child_build_of_a_revoked_version_is_refused_unless_revoked_too():
    pipeline = load_stack_dict("dev")["vmimage:pipeline"]
    pipeline["builds"][0]["revoked"] = REASON
    pipeline["clones"][0]["version"] = "1.1.0"
    child = {**SECOND, "from": {"version": "1.0.0"}}
    pipeline["builds"].append(child)
    assert spec_problems(pipeline) == [
        f"builds[1].from.version: 1.0.0 is revoked ({REASON}); build 1.1.0 from another "
        "version, or revoke it too"]
    child["revoked"] = "built on 1.0.0"
    pipeline["clones"][0]["version"] = "1.0.0"
    assert spec_problems(pipeline) == [
        f"clones[0].version: 1.0.0 is revoked ({REASON}); clone groups pinned to it must "
        "move to another version: web"]


def test_latest_skips_revoked_versions_and_says_so_when_none_is_left():
    config = two_versions(revoked=REASON)
    spec = load_spec(config["vmimage:pipeline"], location="westeurope").spec
    assert spec.resolve_version("latest") == "1.0.0"
    assert spec.build("1.1.0").excluded_from_latest
    config["vmimage:pipeline"]["builds"][0]["revoked"] = "retired by security"
    with pytest.raises(SpecError) as refused:
        load_spec(config["vmimage:pipeline"], location="westeurope")
    assert "clones[0].version: 'latest' but every build is excludeFromLatest or revoked" \
        in refused.value.problems


@pytest.mark.parametrize("reason", ["", "   ", "two\nlines", "x" * 257, "tab\there"])
def test_a_reason_is_one_short_line(reason: str):
    build = {**SECOND, "revoked": reason}
    with pytest.raises(ValidationError, match="reason"):
        BuildSpec.model_validate(build)


def test_a_reason_is_kept_trimmed():
    assert BuildSpec.model_validate({**SECOND, "revoked": f" {REASON} "}).revoked == REASON


def test_a_validated_version_is_revoked_in_place_past_its_publication(tmp_path):
    """A validated version was created excluded, and that input is kept (its publication
    owns the value): the update the vmimage-revoked tag makes sends it again, so Azure holds
    it excluded, and Publish (frozen) stays as it was."""
    state = tmp_path / "state.json"
    validated = {"validate": [{"inline": "true"}]}
    first = step(two_versions(**validated), state)
    assert first.ok, (first.run.failures, first.run.error, first.config_problems)
    assert version_in_azure(first, "1.1.0")["publishingProfile"]["excludeFromLatest"] is False
    revoked = step(two_versions(**validated, revoked=REASON), state)
    assert revoked.ok, (revoked.run.failures, revoked.run.error, revoked.config_problems)
    in_azure = version_in_azure(revoked, "1.1.0")
    assert in_azure["publishingProfile"]["excludeFromLatest"] is True
    assert in_azure["tags"][REVOKED_TAG] == REASON
    actions = {c.urn.rsplit("::", 1)[-1]: c.action for c in revoked.changes}
    assert actions["vmimage-v1-1-0-capture-version"] == "update"
    assert actions["vmimage-v1-1-0-validation-publish"] == "same"
    assert clone_versions(revoked) == {"1.0.0"}
