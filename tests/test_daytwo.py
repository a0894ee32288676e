"""The day-two loop, offline from a fresh checkout: a stack built on marketplace version A
is outdated once Azure publishes B (exit 1); `vmimage bump` appends a build on B that
validates, and its plan builds the new version and rolls the clones. Recipes, the next
version's arithmetic, provenance tags, and the SDK reads."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import ROOT, load_pipeline, load_stack_dict, offline_cli

from offline.daytwo import main as vmimage_main
from vmimage.config.errors import SpecError
from vmimage.config.fingerprint import build_fingerprint
from vmimage.config.limits import PROGRAM_TAGS
from vmimage.config.provenance import parse_marketplace_source
from vmimage.config.validate import load_spec
from vmimage.config.values import RecipeName
from vmimage.daytwo import bump, lineage
from vmimage.daytwo.outdated import AzureView
from vmimage.daytwo.reads import AzureSourceReads
from vmimage.release import commit
from vmimage.vocabulary import COMMIT_TAG, RELEASE_TAG, SOURCE_TAG

UBUNTU = "Canonical:ubuntu-24_04-lts:server"
A, B = "24.04.202604010", "24.04.202605140"  # A: the catalog's newest; B: next month's


def vmimage(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    from offline.daytwo import locate, reads_for
    from offline.escape.terminal import plain
    from vmimage.daytwo import cli

    code = cli.main(list(args), locate=locate, reads_for=reads_for, escape=plain, out=out)
    return code, out.getvalue()


def versions_in(state: Path) -> dict[str, dict[str, str]]:
    data = json.loads(state.read_text())
    return {r["id"].rsplit("/", 1)[1]: r["props"].get("tags") or {}
            for r in data["arm"]["resources"] if "/versions/" in r["id"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The dev stack, built once on the catalog's newest Ubuntu (A)."""
    state = tmp_path_factory.mktemp("daytwo") / "dev.state.json"
    code, _, text = offline_cli("up", "--stack", "dev", "--state", str(state), "--quiet")
    assert code == 0, text
    return state


def test_a_build_records_the_version_latest_meant_and_who_built_it(built):
    tags = versions_in(built)["1.0.0"]
    source = parse_marketplace_source(tags[SOURCE_TAG])
    assert source is not None and source.version == A
    assert tags[RELEASE_TAG] == "0.1.0"
    assert len(tags[COMMIT_TAG]) == 40  # this checkout's HEAD
    # The program's own tags on an image, provenance included, are what the tags check
    # keeps free of Azure's 50 (vmimage/config/limits.py).
    assert len(tags) == PROGRAM_TAGS - 2  # role, version, fingerprint, 3 provenance


def test_nothing_newer_is_exit_0_and_a_new_marketplace_version_is_exit_1(built):
    code, text = vmimage("outdated", "--stack", "dev", "--state", str(built))
    assert code == 0, text
    assert "current" in text and "outdated" not in text
    code, text = vmimage("outdated", "--stack", "dev", "--state", str(built), "--json",
                         "--marketplace-version", f"{UBUNTU}={B}")
    assert code == 1, text
    report = json.loads(text)
    assert report["outdated"] is True
    assert report["sources"] == [{"build": "1.0.0", "kind": "marketplace", "source": UBUNTU,
                                  "builtOn": A, "newest": B, "status": "outdated",
                                  "note": ""}]
    code, text = vmimage("outdated", "--stack", "dev", "--state", str(built),
                         "--marketplace-version", f"{UBUNTU}={B}")
    assert code == 1
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "outdated" in text and B in text


def test_bad_usage_is_exit_2_with_the_reason(built):
    assert vmimage("outdated")[0] == 2
    code, text = vmimage("outdated", "--stack", "nope", "--state", str(built))
    assert code == 2 and "stack 'nope'" in text
    code, text = vmimage("outdated", "--stack", "dev", "--marketplace-version", f"{UBUNTU}={B}")
    assert code == 2 and "--marketplace-version needs --state" in text
    code, text = vmimage("outdated", "--stack", "dev", "--state", str(built),
                         "--marketplace-version", f"{UBUNTU}=latest")
    assert code == 2 and "MAJOR.MINOR.BUILD" in text
    code, text = vmimage("bump", "--stack", "dev", "--state", str(built), "--build", "7",
                         "--dry-run")
    assert code == 2 and "--build 7: no such build" in text


def test_bump_builds_the_next_version_on_the_new_base_and_rolls_the_clones(built, tmp_path):
    state = tmp_path / "dev.state.json"
    for suffix in ("", ".key"):
        shutil.copy(str(built) + suffix, str(state) + suffix)
    # Azure publishes B (the state keeps it), and the loop runs: outdated, bump, plan.
    code, _, text = offline_cli("up", "--stack", "dev", "--state", str(state), "--quiet",
                                "--marketplace-version", f"{UBUNTU}={B}")
    assert code == 0, text
    assert vmimage("outdated", "--stack", "dev", "--state", str(state))[0] == 1
    bumped = tmp_path / "Pulumi.dev.yaml"
    code, diff = vmimage("bump", "--stack", "dev", "--state", str(state), "--out", str(bumped))
    assert code == 0, diff
    assert f"+          marketplace: {{publisher: Canonical, offer: ubuntu-24_04-lts, sku: " \
           f"server, version: {B}}}" in diff
    assert "-        version: 1.0.0          # a version built above" in diff
    assert "+        version: 1.0.1          # a version built above" in diff
    written = bumped.read_text()
    assert written.startswith("# yaml-language-server:")  # comments kept
    pipeline = bump.load(written)["config"]["vmimage:pipeline"]
    spec = load_spec(pipeline, location="westeurope").spec
    assert [b.version for b in spec.builds] == ["1.0.0", "1.0.1"]
    assert spec.builds[1].from_.marketplace.version == B
    assert spec.clones[0].version == "1.0.1"
    plan = tmp_path / "plan.md"
    code, _, text = offline_cli("up", "--stack-file", str(bumped), "--state", str(state),
                                "--markdown", str(plan))
    assert code == 0, text
    tags = versions_in(state)["1.0.1"]
    assert parse_marketplace_source(tags[SOURCE_TAG]).version == B
    report = plan.read_text()
    assert "1.0.1" in report and "replace" in report.lower()
    # Now nothing is outdated, and a dry run writes nothing.
    assert vmimage("outdated", "--stack-file", str(bumped), "--state", str(state))[0] == 0
    code, text = vmimage("bump", "--stack-file", str(bumped), "--state", str(state),
                         "--minor", "--dry-run")
    assert code == 0 and "1.1.0" in text and "not written" in text
    assert bumped.read_text() == written


def test_the_next_version_counts_what_azure_holds_beyond_config():
    assert bump.next_version(["1.0.0"], "patch") == "1.0.1"
    assert bump.next_version(["1.0.0", "1.2.7"], "minor") == "1.3.0"
    assert bump.next_version(["1.0.0", "3.1.0"], "major") == "4.0.0"
    # 1.0.1 was built and left config: gallery versions are immutable, the number is gone.
    assert bump.next_version(["1.0.0", *{"1.0.1": {}}], "patch") == "1.0.2"


def test_a_build_inherits_its_recipe_and_fingerprints_as_if_written_out():
    pipeline = load_pipeline("dev")
    build = pipeline["builds"][0]
    inline = load_spec(pipeline, location="westeurope").spec
    recipe = {key: build[key] for key in ("size", "dataDisks", "customize", "regions")}
    short = {**pipeline, "recipes": {"web": recipe},
             "builds": [{"version": "1.0.0", "from": build["from"], "recipe": "web"}]}
    spec = load_spec(short, location="westeurope").spec
    assert build_fingerprint(spec, spec.builds[0]) == build_fingerprint(inline, inline.builds[0])
    # The build's own keys win.
    short["builds"][0]["size"] = "Standard_D4s_v5"
    assert load_spec(short, location="westeurope").spec.builds[0].size == "Standard_D4s_v5"


def test_recipe_problems_name_their_key_paths():
    pipeline = load_pipeline("dev")
    build = pipeline["builds"][0]
    recipe = {"size": build["size"], "version": "9.9.9"}
    bad = {**pipeline, "recipes": {"web": recipe, "1st": {}},
           "builds": [{"version": "1.0.0", "from": build["from"], "recipe": "nope"}]}
    with pytest.raises(SpecError) as raised:
        load_spec(bad, location="westeurope")
    problems = raised.value.problems
    assert "builds[0].recipe: no recipe 'nope' in recipes (recipes: web, 1st)" in problems
    assert any(p.startswith("recipes.web.version: unknown key; expected one of [")
               and "'customize'" in p for p in problems)
    assert any(p.startswith("recipes.1st: ") and "not a recipe name" in p for p in problems)


@pytest.mark.parametrize("name, ok", [("web", True), ("web-2025_a", True), ("w" * 63, True),
                                      ("w" * 64, False), ("1st", False), ("a b", False),
                                      ("we\u0431", False), ("", False), ("a\n", False)])
def test_recipe_names_are_plain_words(name, ok):
    from pydantic import TypeAdapter, ValidationError

    adapter = TypeAdapter(RecipeName)
    if ok:
        assert adapter.validate_python(name) == name
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(name)


def test_the_commit_is_githubs_else_gits_else_absent(tmp_path):
    assert commit({"GITHUB_SHA": "ABCDEF1234567"}, tmp_path) == "abcdef1234567"
    assert commit({}, tmp_path) is None  # no repository here
    assert commit({"GITHUB_SHA": "not a sha; rm -rf"}, tmp_path) is None
    assert commit({}, ROOT) is not None


def test_azure_reads_list_marketplace_and_gallery_versions_through_the_sdk():
    calls = []

    class Images:
        def list(self, *args):
            calls.append(("images", args))
            return [SimpleNamespace(name="9.0.1"), SimpleNamespace(name="10.0.0")]

    class Versions:
        def list_by_gallery_image(self, *args):
            calls.append(("versions", args))
            return [SimpleNamespace(name="1.0.0", tags={SOURCE_TAG: "version:0.9.0"})]

    client = SimpleNamespace(virtual_machine_images=Images(), gallery_image_versions=Versions())
    asked = []
    reads = AzureSourceReads(lambda sub: asked.append(sub) or client)
    assert reads.marketplace_versions("westeurope", "P", "O", "S") == ["9.0.1", "10.0.0"]
    assert reads.gallery_versions("sub", "rg", "gal", "img") == {
        "1.0.0": {SOURCE_TAG: "version:0.9.0"}}
    assert calls == [("images", ("westeurope", "P", "O", "S")),
                     ("versions", ("rg", "gal", "img"))]
    assert asked == [None, "sub"]


def test_the_console_script_reports_usage_errors_without_a_traceback(capsys):
    assert vmimage_main(["bump"]) == 2
    assert "error:" in capsys.readouterr().out


@pytest.mark.parametrize("stack", sorted(p.name for p in (ROOT / "stacks").glob("*.yaml")))
def test_every_example_stack_file_survives_the_round_trip_byte_for_byte(stack):
    text = (ROOT / "stacks" / stack).read_text()
    assert bump.dump(bump.load(text)) == text


def test_what_azure_answers_is_shown_escaped_in_the_table():
    from offline.escape.terminal import plain
    from vmimage.daytwo.cli import print_table
    from vmimage.daytwo.outdated import Finding

    out = io.StringIO()
    print_table([Finding("1.0.0", "marketplace", "P:O:S", "1.0.0\x1b[2J", "[bold]2.0.0",
                         "outdated")], out, plain)
    text = out.getvalue()
    assert "\x1b" not in text and "\\x1b" in text  # shown, not obeyed
    assert "[bold]2.0.0" in text  # never read as markup


# -- provenance and lineage ------------------------------------------------------------

def scripts_held(state: Path, version: str) -> list[str]:
    """The sha256 of each customize run command's script on a version's build VM, as the
    simulated Azure holds them, in step order."""
    slug = version.replace(".", "-")
    data = json.loads(state.read_text())
    held = sorted((r["id"].rsplit("/", 1)[1], r["props"]["source"]["script"])
                  for r in data["arm"]["resources"]
                  if f"-{slug}/runCommands/customize-" in r["id"])
    return ["sha256:" + hashlib.sha256(text.encode()).hexdigest() for _, text in held]


def up_outputs(sha: str, *args: str) -> dict:
    """One `up` at commit `sha`: its `provenance` stack output."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_SHA", sha)
        return _up(sha, *args)


def _up(sha: str, *args: str) -> dict:
    report = Path(args[args.index("--state") + 1]).with_suffix(f".{sha[0]}.json")
    code, _, text = offline_cli("up", *args, "--quiet", "--report-json", str(report))
    assert code == 0, text
    return json.loads(report.read_text())["outputs"]["provenance"]


@pytest.fixture(scope="module")
def child_stack(tmp_path_factory) -> tuple[Path, Path, dict, dict]:
    """dev built at commit a…, then 1.1.0 built on it (a script and a restart) at commit
    b…, the clones moved to it: two runs, one state."""
    where = tmp_path_factory.mktemp("lineage")
    state = where / "dev.state.json"
    pipeline = load_pipeline("dev")
    child = {**copy.deepcopy(pipeline["builds"][0]), "version": "1.1.0",
             "from": {"version": "1.0.0"},
             "customize": [{"template": "linux/run-script.sh.j2",
                            "vars": {"script": "echo second"}},
                           {"restart": {"timeoutSeconds": 600}}]}
    pipeline["builds"].append(child)
    pipeline["clones"][0]["version"] = "1.1.0"
    stack = where / "Pulumi.dev.yaml"
    stack.write_text(yaml.safe_dump({"config": {**load_stack_dict("dev"),
                                                "vmimage:pipeline": pipeline}}))
    first = up_outputs("a" * 40, "--stack", "dev", "--state", str(state))
    held = scripts_held(state, "1.0.0")  # before the second run: as captured
    second = up_outputs("b" * 40, "--stack-file", str(stack), "--state", str(state))
    return state, stack, {**first, "held": held}, second


def test_every_version_has_provenance_and_a_captured_one_keeps_its_own(child_stack):
    state, stack, first, second = child_stack
    spec = load_spec(load_pipeline("dev"), location="westeurope").spec
    assert first == {"1.0.0": {
        "configFingerprint": build_fingerprint(spec, spec.builds[0]),
        "source": f"marketplace:{UBUNTU}:{A}", "commit": "a" * 40, "release": "0.1.0",
        "stepDigests": first["held"]}, "held": first["held"]}
    assert len(first["1.0.0"]["stepDigests"]) == 1
    assert second["1.0.0"] == first["1.0.0"]  # captured: as it was captured, at a…
    child = second["1.1.0"]
    assert child["commit"] == "b" * 40 and child["source"] == "version:1.0.0"
    # One digest a step, in order: the script as its run command holds it; none for the
    # restart, which runs no script.
    assert child["stepDigests"] == [*scripts_held(state, "1.1.0"), None]
    assert child["stepDigests"][0] not in first["1.0.0"]["stepDigests"]
    assert versions_in(state)["1.1.0"][COMMIT_TAG] == "b" * 40


def test_lineage_shows_which_clones_run_on_which_base(child_stack):
    state, stack, _, _ = child_stack
    code, text = vmimage("lineage", "--stack-file", str(stack), "--state", str(state))
    assert code == 0, text
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0] == "1.0.0  (captured)"
    assert f"  source: marketplace:{UBUNTU}:{A}" in lines
    assert "    1.1.0  (captured)" in lines  # under its parent
    assert lines.index("    1.1.0  (captured)") > lines.index("  clones: none")
    assert "      clones: web (vm x3)" in lines
    assert "      built by: commit bbbbbbbbbbbb, vmimage 0.1.0" in lines
    code, text = vmimage("lineage", "--stack-file", str(stack), "--state", str(state),
                         "--json")
    assert code == 0, text
    versions = {v["version"]: v for v in json.loads(text)["versions"]}
    assert versions["1.0.0"]["children"] == ["1.1.0"] and versions["1.0.0"]["clones"] == []
    assert versions["1.1.0"]["parent"] == "1.0.0"
    assert versions["1.1.0"]["clones"] == [{"name": "web", "kind": "vm", "count": 3}]
    assert versions["1.0.0"]["commit"] == "a" * 40


def test_lineage_base_answers_which_clones_run_on_a_base(child_stack):
    state, stack, _, _ = child_stack
    ask = ("lineage", "--stack-file", str(stack), "--state", str(state), "--base")
    # A marketplace SKU (any case) covers both versions: 1.1.0 is built on 1.0.0.
    code, text = vmimage(*ask, f"marketplace:{UBUNTU.upper()}")
    assert code == 0, text
    assert "1.0.0  (captured)" in text and "1.1.0  (captured)" in text
    assert text.splitlines()[-1] == f"clones on marketplace:{UBUNTU.upper()}: web (vm x3)"
    code, text = vmimage(*ask, "1.1.0", "--json")
    found = json.loads(text)
    assert code == 0 and [v["version"] for v in found["versions"]] == ["1.1.0"]
    assert found["base"] == "1.1.0" and found["clones"] == [
        {"name": "web", "kind": "vm", "count": 3}]
    code, text = vmimage(*ask, "version:1.0.0", "--json")
    assert [v["version"] for v in json.loads(text)["versions"]] == ["1.0.0", "1.1.0"]
    # A prefix matches whole parts only, and a base nothing is built on says so.
    code, text = vmimage(*ask, f"marketplace:{UBUNTU[:-1]}")
    assert code == 0 and text.strip() == f"no version is built on marketplace:{UBUNTU[:-1]}"


def test_built_on_follows_parents_and_stops_at_a_loop():
    spec = load_spec(load_pipeline("dev"), location="westeurope").spec
    nodes = lineage.lineage(spec, AzureView({"2.0.0": {SOURCE_TAG: "version:3.0.0"},
                                             "3.0.0": {SOURCE_TAG: "version:2.0.0"},
                                             "4.0.0": {SOURCE_TAG: "version:3.0.0"}}))
    assert [n.version for n in lineage.built_on(nodes, "3.0.0")] == [
        "2.0.0", "3.0.0", "4.0.0"]
    assert lineage.built_on(nodes, "marketplace:x") == []
    assert [n.version for n in lineage.built_on(nodes, "marketplace")] == ["1.0.0"]


def test_lineage_of_a_stack_not_built_says_what_it_will_be_built_on(built, tmp_path):
    empty = tmp_path / "dev.state.json"  # no state yet: nothing built
    code, text = vmimage("lineage", "--stack", "dev", "--json", "--state", str(built))
    assert code == 0 and json.loads(text)["versions"][0]["state"] == "captured"
    spec = load_spec(load_pipeline("dev"), location="westeurope").spec
    (node,) = lineage.lineage(spec, AzureView({}))
    assert node.state == "not built" and node.source == f"marketplace:{UBUNTU}:latest"
    assert node.provenance["commit"] is None
    code, text = vmimage("lineage", "--stack", "dev", "--state", str(empty))
    assert code == 0 and "1.0.0  (not built)" in text and "clones: web (vm x3)" in text
    assert "built by" not in text


def test_lineage_shows_what_azure_holds_escaped_and_within_80_columns():
    from offline.escape.terminal import plain
    from vmimage.daytwo.cli import print_tree

    spec = load_spec(load_pipeline("dev"), location="westeurope").spec
    hostile = {SOURCE_TAG: "image:/subscriptions/" + "x" * 200 + "\x1b[2J[bold]",
               COMMIT_TAG: "\x1b]0;owned\x07"}
    nodes = lineage.lineage(spec, AzureView({"1.0.0": {}, "0.9.0": hostile}))
    assert [n.version for n in nodes] == ["0.9.0", "1.0.0"]
    assert nodes[0].state == "in Azure only" and nodes[1].state == "captured"
    out = io.StringIO()
    print_tree(nodes, out, plain)
    text = out.getvalue()
    assert "\x1b" not in text and "\\x1b" in text and "[bold]" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    # A looping record (each version's tag naming the other) still prints each once.
    loop = lineage.lineage(spec, AzureView({"2.0.0": {SOURCE_TAG: "version:3.0.0"},
                                            "3.0.0": {SOURCE_TAG: "version:2.0.0"}}))
    assert sum(line.endswith("(in Azure only)") for _, line in lineage.tree_lines(loop)) == 2
