"""The plan answers "what does this change?" on the offline path: two `up`s against one
state file (the dev stack, then a version bump: build 1.1.0 from 1.0.0, clones moved to
it one at a time and one fewer, an NSG rule's port changed) and the Markdown of the
second shows the versions (1.1.0 new, 1.0.0 unchanged), the clone group's version and
count old -> new and its batches, and every change with its values."""

from __future__ import annotations

import io
import json
import re

import pytest
from conftest import load_stack_dict
from preview_fixtures import BUMP, FIRST  # the scenario of the preview fixtures
from rich.console import Console

from offline.changes import (
    ValueDiff,
    forces_replacement,
    leaf_differences,
    parse_path,
    pulumi_path,
    registration_diff,
    shown,
    value_diffs,
)
from offline.cli import main


def cli(*argv: str) -> str:
    out = io.StringIO()
    code = main(list(argv), console=Console(file=out, width=200, highlight=False))
    assert code == 0, out.getvalue()
    return out.getvalue()


def sets(*overrides: str) -> list[str]:
    return [arg for item in overrides for arg in ("--set", item)]


def section(markdown: str, heading: str) -> str:
    return markdown.split(f"## {heading}\n\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def bump(tmp_path_factory):
    """(Markdown, report JSON) of the version bump, planned against the dev stack."""
    folder = tmp_path_factory.mktemp("bump")
    state = folder / "state.json"
    cli("up", "--stack", "dev", "--quiet", "--state", str(state), *sets(*FIRST))
    markdown, report = folder / "plan.md", folder / "report.json"
    cli("up", "--stack", "dev", "--quiet", "--state", str(state), *sets(*FIRST, *BUMP),
        "--markdown", str(markdown), "--report-json", str(report))
    return markdown.read_text(encoding="utf-8"), json.loads(report.read_text())


def test_image_versions_say_what_is_new_and_what_stays(bump):
    versions = section(bump[0], "Image versions")
    assert "| `1.0.0` | unchanged | marketplace `Canonical:ubuntu-24_04-lts:server:latest` " \
           "| westeurope ×2, northeurope ×1 " \
           "| LUN 0: 64 GiB Premium_LRS<br/>LUN 1: 128 GiB StandardSSD_LRS " \
           "| 1. template |" in versions
    assert "| `1.1.0` | **new** | version `1.0.0` | westeurope ×2, northeurope ×1 " \
           "| LUN 0: from image Premium_LRS<br/>LUN 1: from image StandardSSD_LRS<br/>" \
           "LUN 2: 32 GiB Premium_LRS, ext4 /data (data) " \
           "| 1. format disks<br/>2. inline<br/>3. restart |" in versions


def test_clone_group_shows_its_roll_old_to_new(bump):
    groups = section(bump[0], "Clone groups")
    assert "| `web` | vm | `Standard_B2s` | 3 → **2** | `1.0.0` → **`1.1.0`** " \
           "| batchSize 1 → 2 batches | 2 to replace, 1 to delete |" in groups


def test_an_update_shows_old_and_new_values(bump):
    changes = section(bump[0], "Changes")
    assert changes.startswith("7 to create, 1 to update, 4 to replace, 2 to delete, "
                              "12 unchanged\n")
    assert "| `~` | update | `network:NetworkSecurityGroup` | `vmimage-network-nsg` " \
           "| `securityRules[0].destinationPortRange`: `22` → `443` |" in changes


def test_a_replacement_says_which_property_forces_it(bump):
    changes = section(bump[0], "Changes")
    (row,) = [r for r in changes.splitlines() if "| `vmimage-clones-web-0` |" in r]
    assert row.startswith("| `+-` | replace | `compute:VirtualMachine` | ")
    assert "**replaced**: `osProfile.computerName`, `storageProfile.imageReference.id`, " \
           "`vmName` cannot change in place" in row
    assert "`vmName`: `web-1-0-0-000` → `web-1-1-0-000`" in row
    assert '`tags["vmimage-version"]`: `1.0.0` → `1.1.0`' in row
    assert "`storageProfile.imageReference.id`: `…/images/web-ubuntu/versions/1.0.0` → " \
           "`…/images/web-ubuntu/versions/1.1.0`" in row
    (nic,) = [r for r in changes.splitlines() if "| `vmimage-clones-web-0-nic` |" in r]
    assert "**replaced**: `networkInterfaceName` cannot change in place<br/>" \
           "`networkInterfaceName`: `nic-web-1-0-0-000` → `nic-web-1-1-0-000`" in nic


def test_creates_and_deletes_show_their_key_values(bump):
    changes = section(bump[0], "Changes")
    assert "| `+` | create | `compute:VirtualMachine` | `vmimage-v1-1-0-build-vm` " \
           "| Azure name `vm-build-web-ubuntu-1-1-0` · size `Standard_D2s_v5` · image " \
           "`…/images/web-ubuntu/versions/1.0.0` · version `1.1.0` · role `build` |" in changes
    assert "| `+` | create | `compute:GalleryImageVersion` | `vmimage-v1-1-0-capture-version` " \
           "| Azure name `1.1.0` · regions `westeurope ×2, northeurope ×1` |" in changes
    assert "| `-` | delete | `compute:VirtualMachine` | `vmimage-clones-web-2` " \
           "| was: Azure name `web-1-0-0-002` · size `Standard_B2s` · image " \
           "`…/images/web-ubuntu/versions/1.0.0` · version `1.0.0` · role `clone` |" in changes
    # updates and replacements first, open; creates after them, under their own heading
    assert changes.index("| `-` | delete |") < changes.index("### 7 to create")


def test_the_report_json_carries_the_values(bump):
    changes = {c["urn"].rsplit("::", 1)[-1]: c for c in bump[1]["changes"]}
    assert changes["vmimage-network-nsg"]["diff"] == [
        {"path": "securityRules[0].destinationPortRange", "old": "22", "new": "443"}]
    vm = changes["vmimage-clones-web-0"]
    assert {"path": "vmName", "old": "web-1-0-0-000", "new": "web-1-1-0-000",
            "replaces": True} in vm["diff"]
    gone = changes["vmimage-clones-web-2"]
    assert gone["action"] == "delete" and gone["old"]["vmName"] == "web-1-0-0-002"
    assert gone["parent"].endswith("::vmimage-clones-web")
    assert "properties" in changes["vmimage-rg"] and "diff" not in changes["vmimage-rg"]


def test_the_graph_shows_both_versions_and_the_roll(bump):
    block = bump[0].split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert '  subgraph v1_0_0["image 1.0.0 · unchanged"]' in block
    assert '  subgraph v1_1_0["image 1.1.0 · new"]' in block
    (clones,) = re.findall(r'(n\d+)\["CloneSet web<br/>3 → 2 VMs · 1\.0\.0 → 1\.1\.0"\]', block)
    assert re.search(rf"^  class [\w,]*\b{clones}\b[\w,]* replace$", block, re.MULTILINE)


def test_a_retired_build_is_said_so(tmp_path):
    state = tmp_path / "state.json"
    cli("up", "--stack", "dev", "--quiet", "--state", str(state), *sets(*FIRST, *BUMP))
    plan = tmp_path / "plan.md"
    cli("up", "--stack", "dev", "--quiet", "--state", str(state),
        *sets(*FIRST, *BUMP, "builds[0].retired=true"), "--markdown", str(plan))
    markdown = plan.read_text()
    assert "| `1.0.0` | **retired** | marketplace " in section(markdown, "Image versions")
    assert "| `-` | delete | `compute:VirtualMachine` | `vmimage-v1-0-0-build-vm` | was: " \
           "Azure name `vm-build-web-ubuntu-1-0-0`" in section(markdown, "Changes")
    again = tmp_path / "again.md"
    cli("up", "--stack", "dev", "--quiet", "--state", str(state),
        *sets(*FIRST, *BUMP, "builds[0].retired=true"), "--markdown", str(again))
    assert "| `1.0.0` | retired | — | westeurope ×2, northeurope ×1 | — | — |" in \
        section(again.read_text(), "Image versions")


def test_a_changed_secret_shows_as_secret_and_never_its_value(tmp_path):
    from offline.plan.render import render_markdown
    from offline.runner import StackConfig
    from offline.up import up

    def stack(password: str) -> StackConfig:
        config = load_stack_dict("win")
        config["vmimage:adminPassword"] = password
        return StackConfig("win", config, ["vmimage:adminPassword"])

    state = tmp_path / "win.json"
    assert up(stack("First-Secret-Pa55word!"), state_path=state).ok
    outcome = up(stack("Second-Secret-Pa55word!"), state_path=state)
    assert outcome.ok and outcome.changes is not None
    changes = [c.as_json() for c in outcome.changes]
    markdown = render_markdown(outcome.run, changes=changes, stack="win")
    assert "| `~` | update | `compute:VirtualMachine` | `vmimage-clones-iis-0` " \
           "| `osProfile`: `[secret]` → `[secret]` |" in markdown
    texts = markdown + json.dumps(changes)
    for leak in ("First-Secret", "Second-Secret", "sealed:hmac"):
        assert leak not in texts


# -- the values, one function at a time -------------------------------------------------------


def test_paths_read_and_write_as_pulumi_writes_them():
    assert pulumi_path(["tags", "vmimage-version"]) == 'tags["vmimage-version"]'
    assert pulumi_path(["securityRules", 0, "name"]) == "securityRules[0].name"
    for text in ('tags["vmimage-version"]', "a.b[0].c", 'x["a\\"b"].c'):
        assert pulumi_path(parse_path(text)) == text
    assert parse_path("tags.vmimage-version") == ["tags", "vmimage-version"]  # dotted too
    # A bracket that opens no index stays in its key, dotted (as azure-native keys its
    # detailed diff) or quoted.
    assert parse_path("tags.a[x]") == parse_path('tags["a[x]"]') == ["tags", "a[x]"]
    assert parse_path("tags.a[x].b[2]") == ["tags", "a[x]", "b", 2]


def test_the_engine_differ_writes_paths_no_key_can_confuse():
    old = {"tags": {"a[x]": "1", "b.c": "1", "d": "1"}, "location": "westeurope"}
    new = {"tags": {"a[x]": "2", "b.c": "2", "d": "1"}, "location": "westeurope"}
    paths = leaf_differences(old, new)
    assert paths == ['tags["a[x]"]', 'tags["b.c"]']
    assert [parse_path(p) for p in paths] == [["tags", "a[x]"], ["tags", "b.c"]]
    (first, second) = registration_diff("azure-native:compute:VirtualMachine", old, new,
                                        paths)
    assert (first.path, first.old, first.new) == ('tags["a[x]"]', "1", "2")
    assert second.path == 'tags["b.c"]'
    # Immutable properties match by parts: a tag named like one forces nothing.
    assert forces_replacement("azure-native:resources:ResourceGroup", ["location"])
    assert not forces_replacement("azure-native:compute:VirtualMachine",
                                  ["tags", "location"])


def test_value_diffs_go_leaf_by_leaf():
    old = {"rules": [{"port": "22"}], "tags": {"a": "1"}, "gone": 1}
    new = {"rules": [{"port": "443"}, {"port": "80"}], "tags": {"a": "1"}}
    assert value_diffs(old, new, lambda parts: parts[:1] == ("gone",)) == [
        ValueDiff("gone", 1, None, replaces=True),
        ValueDiff("rules[0].port", "22", "443"),
        ValueDiff("rules[1]", None, {"port": "80"}),
    ]


def test_a_changed_secret_the_redacted_values_hide_is_still_listed():
    marker = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
    old = {"osProfile": {**marker, "value": {"adminPassword": "sealed:hmac-sha256:aa"}}}
    new = {"osProfile": {**marker, "value": {"adminPassword": "Plain-Pa55word!"}}}
    diff = registration_diff("azure-native:compute:VirtualMachine", old, new,
                             ["osProfile"])
    assert diff == (ValueDiff("osProfile", "[secret]", "[secret]"),)


@pytest.mark.parametrize(("value", "expected"), [
    (None, "—"), (True, "true"), (1800.0, "1800"), (0.5, "0.5"), ("[secret]", "[secret]"),
    ("sealed:hmac-sha256:0123", "[secret]"),
    ({"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
      "plaintext": '"hunter2"'}, "[secret]"),
    ("04da6b54-80e4-46f7-96ec-b56ff0331ba9", "[unknown]"),
    ("/subscriptions/0/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/"
     "web/versions/1.1.0", "…/images/web/versions/1.1.0"),
    ("x" * 100, "x" * 63 + "…"),
    ({"b": 1, "a": [1.0]}, '{"a": [1], "b": 1}'),
])
def test_values_are_shown_short(value, expected):
    assert shown(value) == expected


def test_a_script_is_shown_by_size_and_digest():
    text = shown("#!/usr/bin/env bash\nset -e\napt-get install -y nginx\n")
    assert re.fullmatch(r"<script: 3 lines, sha256 [0-9a-f]{8}>", text)
