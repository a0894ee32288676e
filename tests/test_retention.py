"""Retention (`gallery.retention: {keep, endOfLife}`), on one state: versions past the
newest `keep` leave latest, get an end-of-life date from their publication, lose their
build VM and their protection; one leaves the config only once nothing uses it, and is
then deleted, nothing else replaced."""

from __future__ import annotations

import copy
import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import load_stack_dict
from rich.console import Console

from offline.cli import main
from offline.plan.render import render_markdown
from offline.runner import StackConfig
from offline.secrets import unwrap
from offline.up import up
from vmimage.config.errors import SpecError
from vmimage.config.fingerprint import Capture
from vmimage.config.retention import end_of_life, retained_out, retire
from vmimage.config.validate import load_spec
from vmimage.vocabulary import RETENTION_TAG

VERSION = "azure-native:compute:GalleryImageVersion"
MARKET = {"marketplace": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                          "sku": "server", "version": "latest"}}


def four_versions(keep: int | None = None, *, without: tuple[str, ...] = (),
                  pinned: str = "latest") -> dict[str, Any]:
    """The dev stack with 1.0.0 .. 1.3.0, its group `web` on `pinned`."""
    config = load_stack_dict("dev")
    pipeline = config["vmimage:pipeline"]
    first = pipeline["builds"][0]
    pipeline["builds"] += [{**copy.deepcopy(first), "version": v, "from": MARKET}
                           for v in ("1.1.0", "1.2.0", "1.3.0")]
    pipeline["builds"] = [b for b in pipeline["builds"] if b["version"] not in without]
    pipeline["clones"][0]["version"] = pinned
    if keep is not None:
        pipeline["gallery"]["retention"] = {"keep": keep, "endOfLife": "P90D"}
    return config


def step(config: dict[str, Any], state: Path) -> Any:
    return up(StackConfig("dev", copy.deepcopy(config)), state_path=state)


def versions_in_azure(result: Any) -> dict[str, dict[str, Any]]:
    return {r.id.rsplit("/", 1)[-1]: unwrap(r.props) | unwrap(r.outputs)
            for r in result.run.arm.resources.values()
            if r.token == VERSION and r.deleted_at is None}


def actions(result: Any) -> dict[str, str]:
    return {c.urn.rsplit("::", 1)[-1]: c.action for c in result.changes}


def ok(result: Any) -> None:
    assert result.ok, (result.run.failures, result.run.error, result.config_problems,
                       result.blocked)


def version_row(result: Any, version: str) -> str:
    markdown = render_markdown(result.run, changes=[c.as_json() for c in result.changes])
    table = markdown.split("## Image versions\n\n", 1)[1].split("\n## ", 1)[0]
    return next(line for line in table.splitlines() if line.startswith(f"| `{version}` |"))


def test_retention_retires_old_versions_and_deletes_one_only_once_unused(tmp_path):
    state = tmp_path / "state.json"
    ok(step(four_versions(), state))

    kept = step(four_versions(keep=2), state)
    ok(kept)
    azure = versions_in_azure(kept)
    for old in ("1.0.0", "1.1.0"):
        profile = azure[old]["publishingProfile"]
        assert profile["excludeFromLatest"] is True
        published = date.fromisoformat(profile["publishedDate"][:10])
        assert profile["endOfLifeDate"] == f"{published + timedelta(days=90)}T00:00:00Z"
        assert azure[old]["tags"][RETENTION_TAG] == "keep 2"
        assert actions(kept)[f"vmimage-v{old.replace('.', '-')}-build-vm"] == "delete"
        row = version_row(kept, old)
        assert "excluded from latest (retention keep 2)" in row
        assert f"end of life {published + timedelta(days=90)}" in row
        assert "build VM retired" in row
    for new in ("1.2.0", "1.3.0"):
        assert azure[new]["publishingProfile"]["excludeFromLatest"] is False
        assert RETENTION_TAG not in azure[new]["tags"]
        assert actions(kept)[f"vmimage-v{new.replace('.', '-')}-build-vm"] == "same"
    assert "replace" not in actions(kept).values()
    # Stable: a second run computes the same dates from the same publication.
    again = step(four_versions(keep=2), state)
    ok(again)
    assert set(actions(again).values()) == {"same"}

    # 1.0.0 leaves the config while `web` is pinned to it: refused, naming the group.
    refused = step(four_versions(keep=2, without=("1.0.0",), pinned="1.0.0"), state)
    assert not refused.ok and not refused.saved
    assert any(p.startswith("clones[0].version: 1.0.0 is not built here")
               and p.endswith("1.0.0 is still used by clone groups web: move them to "
                              "another version first")
               for p in refused.config_problems), refused.config_problems

    # Moved off it, 1.0.0 goes: deleted (it was unprotected by retention), nothing replaced.
    gone = step(four_versions(keep=2, without=("1.0.0",)), state)
    ok(gone)
    assert "1.0.0" not in versions_in_azure(gone)
    assert set(versions_in_azure(gone)) == {"1.1.0", "1.2.0", "1.3.0"}
    assert actions(gone)["vmimage-v1-0-0-capture-version"] == "delete"
    assert "replace" not in actions(gone).values()
    assert "deleted (left config, unused)" in version_row(gone, "1.0.0")


def test_a_kept_version_that_leaves_the_config_is_still_refused_as_protected(tmp_path):
    state = tmp_path / "state.json"
    ok(step(four_versions(keep=2), state))
    removed = step(four_versions(keep=2, without=("1.3.0",)), state)
    assert not removed.ok and removed.blocked


def test_a_child_build_keeps_its_parent_in_the_config():
    config = four_versions(keep=2, without=("1.0.0",))
    config["vmimage:pipeline"]["builds"][0]["from"] = {"version": "1.0.0"}
    with pytest.raises(SpecError) as refused:
        load_spec(config["vmimage:pipeline"], location="westeurope")
    assert any(p.startswith("builds[0].from.version: 1.0.0 is not built here")
               and "still used by child builds 1.1.0" in p
               for p in refused.value.problems), refused.value.problems


def test_a_version_leaves_latest_only_once_keep_newer_ones_serve_it():
    spec = load_spec(four_versions(keep=2)["vmimage:pipeline"], location="westeurope").spec
    assert spec.resolve_version("latest") == "1.3.0"

    def held(*serving: str) -> dict[str, Capture]:
        return {v: Capture(v, captured=True, in_latest=v in serving)
                for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0")}

    everything = held("1.0.0", "1.1.0", "1.2.0", "1.3.0")
    assert retained_out(spec, everything) == {"1.0.0": 2, "1.1.0": 2}
    assert [b.version for b in retire(spec, everything).builds
            if b.excluded_from_latest and b.retired] == ["1.0.0", "1.1.0"]
    # 1.3.0 not in latest yet (its build failed, or it waits for validation): 1.1.0
    # still serves latest beside 1.2.0, so latest is never left with fewer than keep.
    assert retained_out(spec, held("1.0.0", "1.1.0", "1.2.0")) == {"1.0.0": 2}
    assert retained_out(spec, {}) == {}  # nothing captured: nothing leaves
    # A newer version config revokes serves nothing.
    revoked = spec.model_copy(update={"builds": tuple(
        b.model_copy(update={"revoked": "bad"}) if b.version == "1.3.0" else b
        for b in spec.builds)})
    assert retained_out(revoked, everything) == {"1.0.0": 2}
    config = four_versions(keep=0)
    with pytest.raises(SpecError) as refused:
        load_spec(config["vmimage:pipeline"], location="westeurope")
    assert any(p.startswith("gallery.retention.keep:") for p in refused.value.problems)


@pytest.mark.parametrize(("published", "expected"), [
    ("2026-01-01T00:00:00+00:00", date(2026, 4, 1)),
    ("2026-01-01T23:59:59Z", date(2026, 4, 1)),
    ("not a date", None),
])
def test_end_of_life_counts_from_the_publication(published: str, expected: date | None):
    assert end_of_life(published, 90) == expected


def test_the_terminal_lists_each_version_with_its_retention_lines(tmp_path):
    """`vmimage-offline up` prints what the plan's image versions say: retention's lines
    and a revocation under each version, escaped, within 80 columns."""
    state = tmp_path / "state.json"
    first = step(four_versions(), state)
    ok(first)
    eol = {v: date.fromisoformat(p["publishingProfile"]["publishedDate"][:10])
           + timedelta(days=90) for v, p in versions_in_azure(first).items()}
    config = four_versions(keep=2)
    config["vmimage:pipeline"]["builds"][2]["revoked"] = "CVE-2026-0001 in [bold]openssl"
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
    out = io.StringIO()
    code = main(["up", "--stack-file", str(stack_file), "--state", str(state)],
                console=Console(file=out, width=80))
    text = out.getvalue()
    assert code == 0, text
    assert max(len(line) for line in text.splitlines()) <= 80
    listed = text[text.index("Image versions:\n"):text.index("Outputs:")].splitlines()
    assert listed == [
        "Image versions:",
        "  1.0.0  retired",
        "    excluded from latest (retention keep 2)",
        f"    end of life {eol['1.0.0']}",
        "    build VM retired",
        # 1.2.0 is revoked, so 1.1.0 is one of the two serving latest: it stays.
        "  1.1.0  unchanged",
        "  1.2.0  updated",
        "    revoked: CVE-2026-0001 in [bold]openssl",  # as written: never read as markup
        "  1.3.0  unchanged",
    ]
