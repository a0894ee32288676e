"""Stacks made by earlier releases keep working: their state upgrades with nothing
replaced and nothing deleted.

tests/fixtures/before-image-build/ holds the offline states (and their keys) that the
program wrote before the ImageBuild component existed, when build VMs, scripts,
Generalize steps and captures sat directly under ImagePipeline: a Linux stack with a
child build and its clones rolled onto it, and a Windows stack. The current program runs
against copies of them: every resource is found under its alias, the same as before.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, load_stack_dict
from program_mocks import run_program
from rich.console import Console

from offline.cli import main
from vmimage.vocabulary import (
    BUILD_VM,
    GENERALIZE,
    GUEST_SCRIPTS,
    IMAGE_BUILD,
    IMAGE_CAPTURE,
    IMAGE_PIPELINE,
)

FIXTURES = ROOT / "tests" / "fixtures" / "before-image-build"
#: The overrides the dev fixture was made with (a child build; clones on it).
DEV_SET = ["--set", "builds[1]={version: 1.1.0, from: {version: 1.0.0}, size: "
           "Standard_D2s_v5, customize: [{template: linux/run-script.sh.j2, vars: {script: "
           "\"echo patched\"}}], regions: [{name: westeurope, replicas: 2}]}",
           "--set", "clones[0].version=1.1.0"]


def copy_fixture(stack: str, folder: Path) -> Path:
    state = folder / f"{stack}.json"
    shutil.copy(FIXTURES / f"{stack}.json", state)
    key = folder / f"{stack}.json.key"
    shutil.copy(FIXTURES / f"{stack}.json.key", key)
    key.chmod(0o600)  # git keeps no permissions; a key others can read is refused
    return state


#: The fixtures were made when the examples kept 1 replica where their clones run.
ONE_REPLICA = ["--set", "builds[0].regions[0].replicas=1"]


@pytest.mark.parametrize(("stack", "extra"), [("dev", DEV_SET + ONE_REPLICA),
                                              ("win", ONE_REPLICA)])
def test_a_state_from_before_image_build_upgrades_in_place(
        stack: str, extra: list[str], tmp_path: Path) -> None:
    state = copy_fixture(stack, tmp_path)
    before = {r["urn"]: r for r in json.loads(state.read_text())["resources"]}
    report = tmp_path / "report.json"
    out = io.StringIO()
    code = main(["up", "--stack", stack, "--state", str(state), "--quiet",
                 "--report-json", str(report), *extra], console=Console(file=out, width=200))
    assert code == 0, out.getvalue()
    changes = json.loads(report.read_text())["changes"]
    # All the same, but the subnet's way out (network.egress defaults to natGateway since
    # default outbound access is retired): a NAT gateway and its address are created and
    # the subnet updated in place to use it. (And on Windows, install-features' Restart,
    # which on this captured build only reads the old command's output: no restart.)
    restart = [("create", "vmimage-v1-0-0-scripts-customize-0-restart")] \
        if stack == "win" else []
    assert sorted((c["action"], c["urn"].rsplit("::", 1)[-1]) for c in changes
                  if c["action"] != "same") == [
        ("create", "vmimage-network-nat"), ("create", "vmimage-network-nat-ip"),
        *restart, ("update", "vmimage-network-subnet")]
    moved = [c for c in changes if c.get("aliasedFrom")]
    # Everything of a build moved under its ImageBuild: the VM, its disks' NIC, scripts,
    # Generalize, the protected image version.
    assert moved and all("ImageBuild$" in c["urn"] for c in moved)
    assert all(c["aliasedFrom"] in before for c in moved)
    after = {r["urn"]: r for r in json.loads(state.read_text())["resources"]}
    # Same Azure resources, under their new URNs; none left under an old one.
    assert sorted(r["id"] for r in after.values() if r["custom"] and "/natGateways/" not in
                  r["id"] and "/publicIPAddresses/pip-ng-" not in r["id"]
                  and not r["id"].startswith("restart-")) == \
        sorted(r["id"] for r in before.values() if r["custom"])
    assert not any(c["aliasedFrom"] in after for c in moved)
    # The network keeps the name it was created with (new stacks name it after the image).
    (vnet,) = [r for r in after.values() if r["type"].endswith("network:VirtualNetwork")]
    assert vnet["inputs"]["virtualNetworkName"] == "vnet-vmimage"
    versions = [r for r in after.values() if r["type"].endswith("GalleryImageVersion")]
    assert versions and all(v["protect"] for v in versions)
    # And the upgraded state is an ordinary one: the next run plans nothing at all.
    code = main(["up", "--stack", stack, "--state", str(state), "--quiet",
                 "--report-json", str(report), *extra], console=Console(file=io.StringIO()))
    assert code == 0
    again = json.loads(report.read_text())["changes"]
    assert {c["action"] for c in again} == {"same"} and not any(
        c.get("aliasedFrom") for c in again)


def test_each_child_of_an_image_build_names_its_old_parent_in_an_alias() -> None:
    """What the engine receives (plain mocks): the alias spec points at the pipeline, so
    the engine, not only the offline runner, finds the old URNs."""
    recorded = run_program(load_stack_dict("dev"))
    pipeline = next(r for r in recorded.registered if r.type == IMAGE_PIPELINE)
    builds = {r.urn for r in recorded.registered if r.type == IMAGE_BUILD}
    children = [r for r in recorded.registered if r.parent in builds]
    assert {r.type for r in children} >= {BUILD_VM, GUEST_SCRIPTS, GENERALIZE, IMAGE_CAPTURE}
    for child in children:
        specs = [a.spec for a in child.request.aliases]
        assert [s.parentUrn for s in specs] == [pipeline.urn], child.name
        assert not any(s.name or s.type for s in specs)  # same name, same type


def test_an_upgraded_network_is_updated_under_its_old_name(tmp_path: Path) -> None:
    """The network's names are ignored changes: the engine goes on with the old values
    (processIgnoreChanges), so a later rule change updates the old NSG in place."""
    state = copy_fixture("win", tmp_path)
    report = tmp_path / "report.json"
    code = main(["up", "--stack", "win", "--state", str(state), "--quiet", "--report-json",
                 str(report), "--set",
                 "network.allowInbound=[{name: web, port: 443, source: VirtualNetwork}]"],
                console=Console(file=io.StringIO()))
    assert code == 0
    changes = {c["urn"].rsplit("::", 1)[-1]: c["action"]
               for c in json.loads(report.read_text())["changes"]}
    assert changes["vmimage-network-nsg"] == "update"
    assert {a for a in changes.values()} == {"same", "update", "create"}
    assert {n for n, a in changes.items() if a == "create"} == {
        "vmimage-network-nat", "vmimage-network-nat-ip",  # the egress every stack gets
        "vmimage-v1-0-0-scripts-customize-0-restart"}  # reads, restarts nothing
    arm = json.loads(state.read_text())["arm"]["resources"]
    nsgs = [r["name"] for r in arm if r["token"].endswith("NetworkSecurityGroup")]
    assert nsgs == ["nsg-vmimage"]
