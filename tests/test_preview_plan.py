"""`vmimage-plan --preview-json FILE`: the plan from a real `pulumi preview --json`.

The fixtures in tests/fixtures/preview/ are shaped as Pulumi v3.259.0 prints a preview
(see their README.md): a new stack (all creates), and a version bump with and without
`--show-sames`. The plan must be the offline runner's: the same summaries for the same
change, values old -> new, and a Mermaid diagram the real Mermaid parser accepts
(tools/mermaid/check.mjs, run under node)."""

from __future__ import annotations

import copy
import io
import json
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from preview_fixtures import BUMP, FIRST  # the scenario of the preview fixtures
from rich.console import Console

from offline import cli
from offline.preview_plan import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    main,
    read_preview,
    render_preview,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "preview"

SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def plan(document: dict[str, Any]) -> str:
    return render_preview(read_preview(json.dumps(document)))


def section(markdown: str, heading: str) -> str:
    return markdown.split(f"## {heading}\n\n", 1)[1].split("\n## ", 1)[0]


def step(document: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [s for s in document["steps"] if s["urn"].endswith(f"::{name}")]
    return found


@pytest.fixture(scope="module")
def new_stack() -> str:
    return plan(fixture("new-stack.json"))


@pytest.fixture(scope="module")
def bump() -> str:
    return plan(fixture("version-bump.json"))


@pytest.fixture(scope="module")
def offline_bump(tmp_path_factory) -> str:
    """The same version bump, planned by the offline runner against its state."""
    folder = tmp_path_factory.mktemp("offline")
    state, markdown = folder / "state.json", folder / "plan.md"
    for overrides, extra in ((FIRST, []), (FIRST + BUMP, ["--markdown", str(markdown)])):
        sets = [arg for item in overrides for arg in ("--set", item)]
        out = io.StringIO()
        code = cli.main(["up", "--stack", "dev", "--quiet", "--state", str(state), *sets,
                         *extra], console=Console(file=out, width=200))
        assert code == 0, out.getvalue()
    return markdown.read_text(encoding="utf-8")


# -- the fixtures are what Pulumi prints --------------------------------------------------------


FIXTURE_NAMES = ["new-stack.json", "version-bump.json", "version-bump-no-sames.json",
                 "dynamic-steps.json"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixtures_have_the_shape_of_pulumi_preview_json(name):
    text = (FIXTURES / name).read_text(encoding="utf-8")
    document = json.loads(text)
    # PreviewDigest's fields in declaration order (Go), four-space indent, HTML escaped
    assert list(document) == ["config", "steps", "duration", "changeSummary"]
    assert text.startswith('{\n    "config": {\n')
    assert "<" not in text and ">" not in text and "\\u003e" in text
    assert isinstance(document["duration"], int)
    stack = "urn:pulumi:dev::vmimage::pulumi:pulumi:Stack::vmimage-dev"
    assert document["steps"][0]["urn"] == stack
    ops = [s["op"] for s in document["steps"]]
    counted = {op: ops.count(op) for op in set(ops)}
    if "no-sames" not in name:
        assert counted == document["changeSummary"]
    for s in document["steps"]:
        keys = list(s)
        assert keys[:2] == ["op", "urn"] and keys[-1] == "detailedDiff"
        dynamic = s["urn"].split("::")[2].split("$")[-1].startswith("pulumi-python:dynamic/")
        assert (s["detailedDiff"] is None) == (s["op"] not in ("update", "replace")
                                               or dynamic)
        assert set(keys) <= {"op", "urn", "provider", "oldState", "newState", "diffReasons",
                             "replaceReasons", "detailedDiff"}
        for state in (s.get("oldState"), s.get("newState")):
            if state is not None:
                assert list(state)[:2] == ["urn", "custom"] and "type" in state
                # ours: serialize_as_secret_always = False, so not "[secret]"
                assert ("__provider" in state.get("inputs", {})) == \
                    state["type"].startswith("pulumi-python:dynamic/")
                assert state.get("inputs", {}).get("__provider") != "[secret]"
        if s.get("detailedDiff"):  # azure-native: dotted paths, first segments repeated
            keys = list(s["detailedDiff"])
            assert keys == sorted(keys) and not any('["' in k for k in keys)
            assert s["diffReasons"] == [k.split(".", 1)[0] for k in keys]
            assert set(s.get("replaceReasons", ())) == {
                k for k, v in s["detailedDiff"].items() if v["kind"].endswith("-replace")}
        elif s["op"] in ("update", "replace"):  # a Python dynamic provider's answer
            assert "diffReasons" not in s and dynamic
        assert not s.get("urn", "").split("::")[2].startswith("pulumi:providers:")


# -- the same plan as the offline runner ---------------------------------------------------------


def test_a_new_stack_creates_everything(new_stack):
    assert new_stack.startswith("# vmimage plan: `dev`\n\n**19 resources** (8 foundation · ")
    assert "· 19 to create · from `pulumi preview` in 0m12s" in new_stack
    assert "| `1.0.0` | **new** | marketplace `Canonical:ubuntu-24_04-lts:server:latest` " \
           "| westeurope ×2, northeurope ×1 " \
           "| LUN 0: 64 GiB Premium_LRS<br/>LUN 1: 128 GiB StandardSSD_LRS " \
           "| 1. template |" in section(new_stack, "Image versions")
    assert "| `web` | vm | `Standard_B2s` | 3 | `1.0.0` | one batch of 3 | **new** |" \
        in section(new_stack, "Clone groups")
    changes = section(new_stack, "Changes")
    assert "| `+` | create | `compute:VirtualMachine` | `vmimage-clones-web-0` " \
           "| Azure name `web-1-0-0-000` · size `Standard_B2s` · image `[unknown]` · " \
           "version `1.0.0` · role `clone` |" in changes
    assert "| `+` | create | `network:NetworkSecurityGroup` | `vmimage-network-nsg` " \
           "| Azure name `nsg-web-ubuntu` · rules `ssh: Allow 22 from VirtualNetwork; " \
           "deny-all-inbound: Deny * from *` |" in changes


def test_a_version_bump_reads_as_the_offline_plan_does(bump, offline_bump):
    for heading in ("Image versions", "Clone groups"):
        assert section(bump, heading) == section(offline_bump, heading), heading
    assert "| `1.0.0` | unchanged | marketplace " in section(bump, "Image versions")
    assert "| `1.1.0` | **new** | version `1.0.0` | westeurope ×2, northeurope ×1 " \
        in section(bump, "Image versions")
    assert "| `web` | vm | `Standard_B2s` | 3 → **2** | `1.0.0` → **`1.1.0`** " \
           "| batchSize 1 → 2 batches | 2 to replace, 1 to delete |" \
        in section(bump, "Clone groups")
    first_line = section(bump, "Changes").splitlines()[0]
    assert first_line == section(offline_bump, "Changes").splitlines()[0] == \
        "7 to create, 1 to update, 4 to replace, 2 to delete, 12 unchanged"


def test_values_old_to_new_with_what_the_preview_cannot_know(bump):
    changes = section(bump, "Changes")
    assert "| `~` | update | `network:NetworkSecurityGroup` | `vmimage-network-nsg` " \
           "| `securityRules[0].destinationPortRange`: `22` → `443` |" in changes
    (row,) = [r for r in changes.splitlines() if "| `vmimage-clones-web-0` |" in r]
    # azure-native's replaceReasons are full paths
    assert "**replaced**: `osProfile.computerName`, `storageProfile.imageReference.id`, " \
           "`vmName` cannot change in place" in row
    assert "`vmName`: `web-1-0-0-000` → `web-1-1-0-000`" in row
    assert '`tags["vmimage-version"]`: `1.0.0` → `1.1.0`' in row
    assert "`storageProfile.imageReference.id`: `…/images/web-ubuntu/versions/1.0.0` → " \
           "`[unknown]`" in row  # the new version's id exists once it is captured
    assert "| `-` | delete | `compute:VirtualMachine` | `vmimage-clones-web-2` " \
           "| was: Azure name `web-1-0-0-002` · size `Standard_B2s`" in changes
    assert "| `+` | create | `compute:GalleryImageVersion` | `vmimage-v1-1-0-capture-version` " \
           "| Azure name `1.1.0` · regions `westeurope ×2, northeurope ×1` |" in changes


def test_without_show_sames_the_summaries_say_what_changes():
    markdown = plan(fixture("version-bump-no-sames.json"))
    assert "> Unchanged resources are not listed in this preview (Pulumi counts 21" in markdown
    versions = section(markdown, "Image versions")
    assert "| `1.0.0` | unchanged | — | — | — | — |" in versions
    assert "| `1.1.0` | **new** | version `1.0.0` | westeurope ×2, northeurope ×1 " in versions
    assert "| `web` | vm | `Standard_B2s` | 3 → **2** | `1.0.0` → **`1.1.0`** " \
        in section(markdown, "Clone groups")
    assert section(markdown, "Changes").startswith(
        "7 to create, 1 to update, 4 to replace, 2 to delete\n")


def test_replacement_steps_fold_into_the_logical_one(bump):
    document = fixture("version-bump.json")
    steps = []
    for s in document["steps"]:
        if s["op"] == "replace":  # as `--show-replacement-steps` lists them
            steps.append({**copy.deepcopy(s), "op": "create-replacement"})
            steps.append(s)
            steps.append({"op": "delete-replaced", "urn": s["urn"],
                          "provider": s["provider"], "oldState": s["oldState"],
                          "detailedDiff": None})
        else:
            steps.append(s)
    assert plan({**document, "steps": steps}) == bump


# -- secrets, diagnostics ----------------------------------------------------------------------


def test_secrets_show_as_secret_whatever_their_form():
    document = fixture("version-bump.json")
    nsg = step(document, "vmimage-network-nsg")
    nsg["oldState"]["inputs"]["tags"] = {"owner": "[secret]"}
    nsg["newState"]["inputs"]["tags"] = {
        "owner": {**SECRET_SIG, "plaintext": '"very-secret-owner-value"'}}
    nsg["detailedDiff"]["tags.owner"] = {"kind": "update", "inputDiff": True}
    markdown = plan(document)
    assert "`tags.owner`: `[secret]` → `[secret]`" in section(markdown, "Changes")
    assert "very-secret-owner-value" not in markdown


def test_errors_and_warnings_of_the_preview_are_in_the_plan():
    document = fixture("version-bump.json")
    vm = step(document, "vmimage-clones-web-0")["urn"]
    document["diagnostics"] = [
        {"urn": vm, "message": "error: PropertyChangeNotAllowed\n  | vmSize",
         "severity": "error"},
        {"message": "warning: a provider upgrade is available", "severity": "warning"},
        {"message": "printed by the program", "severity": "info"},
    ]
    markdown = plan(document)
    assert markdown.split("\n")[2].startswith("**Failed.** **24 resources**")
    assert "- `vmimage-clones-web-0`: error: PropertyChangeNotAllowed \\| vmSize" in \
        section(markdown, "Failed")
    assert section(markdown, "Warnings").strip() == \
        "- warning: a provider upgrade is available"
    assert "printed by the program" not in markdown


# -- the command ---------------------------------------------------------------------------------


def run_main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_main_writes_the_plan(tmp_path, bump):
    target = tmp_path / "plan.md"
    code, out, err = run_main("--preview-json", str(FIXTURES / "version-bump.json"),
                              "--markdown", str(target))
    assert (code, out, err) == (EXIT_OK, "", "")
    assert target.read_text(encoding="utf-8") == bump
    code, out, _ = run_main("--preview-json", str(FIXTURES / "version-bump.json"),
                            "--stack", "prod")
    assert code == EXIT_OK and out.startswith("# vmimage plan: `prod`\n")


def test_main_help_has_examples_and_exit_codes():
    code, out, _ = run_main("--help")
    assert code == EXIT_OK
    assert "vmimage-plan --preview-json preview.json --markdown plan.md" in out
    assert "exit codes:" in out and "2  bad input" in out and "1  failure" in out


@pytest.mark.parametrize(("content", "message"), [
    ("", "not JSON"),
    ("Previewing update (dev):\n  error: boom\n", "not JSON"),
    ('{"resources": []}', "not a `pulumi preview --json` document"),
    ('{"steps": [{"urn": "x"}], "changeSummary": {}}', 'steps[0].op: expected a string'),
    ('{"steps": {}, "changeSummary": {}}', 'steps: expected a list'),
    ("{}", "not a `pulumi preview --json` document"),
])
def test_main_refuses_what_is_not_a_preview(tmp_path, content, message):
    source = tmp_path / "preview.json"
    source.write_text(content)
    code, out, err = run_main("--preview-json", str(source), "--markdown",
                              str(tmp_path / "plan.md"))
    assert code == EXIT_BAD_INPUT and out == ""
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "plan.md").exists()


def test_main_reads_a_preview_after_a_line_of_noise(tmp_path, bump):
    source = tmp_path / "preview.json"
    source.write_text("warning: A new version of Pulumi is available.\n" +
                      (FIXTURES / "version-bump.json").read_text())
    code, out, _ = run_main("--preview-json", str(source))
    assert code == EXIT_OK and out == bump


def test_main_exit_codes_for_files(tmp_path):
    assert run_main("--preview-json", str(tmp_path / "missing.json"))[0] == EXIT_BAD_INPUT
    assert run_main("--markdown", "x.md")[0] == EXIT_BAD_INPUT  # --preview-json required
    code, _, err = run_main("--preview-json", str(FIXTURES / "new-stack.json"),
                            "--markdown", str(tmp_path))  # a directory
    assert code == EXIT_FAILED and "cannot write" in err


def test_the_module_runs_as_a_command(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "offline.preview_plan", "--preview-json",
         str(FIXTURES / "new-stack.json"), "--markdown", str(tmp_path / "plan.md")],
        cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "plan.md").read_text().startswith("# vmimage plan: `dev`")


# -- the diagram parses with the real Mermaid --------------------------------------------------


def test_every_plan_diagram_parses(tmp_path, mermaid_check, new_stack, bump, offline_bump):
    files = []
    for name, text in (("new-stack.md", new_stack), ("bump.md", bump),
                       ("offline-bump.md", offline_bump),
                       ("no-sames.md", plan(fixture("version-bump-no-sames.json")))):
        files.append(tmp_path / name)
        files[-1].write_text(text, encoding="utf-8")
    done = mermaid_check(*files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": ok") == len(files)


@pytest.mark.parametrize("breakage", [
    ("  end\n", ""),  # a subgraph never closed
    ('n1["', "n1["),  # a label that lost its opening quote
    ("flowchart TB", "flowchart TB\n  n1 -->"),  # an edge to nowhere
])
def test_a_broken_diagram_fails_the_check(tmp_path, mermaid_check, bump, breakage):
    broken = tmp_path / "broken.md"
    old, new = breakage
    assert old in bump
    broken.write_text(bump.replace(old, new, 1 if old != "  end\n" else -1))
    done = mermaid_check(broken)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "mermaid cannot parse it" in done.stderr


def test_a_file_without_a_diagram_fails_the_check(tmp_path, mermaid_check):
    empty = tmp_path / "empty.md"
    empty.write_text("# no diagram here\n")
    done = mermaid_check(empty)
    assert done.returncode == 1 and "no mermaid block" in done.stderr
    assert mermaid_check(tmp_path / "missing.md").returncode == 2


def test_labels_with_odd_characters_parse(tmp_path, mermaid_check):
    """Names with quotes, brackets, pipes and the like are escaped, not passed through."""
    document = fixture("new-stack.json")
    nsg = step(document, "vmimage-network-nsg")
    nsg["newState"]["inputs"]["networkSecurityGroupName"] = 'nsg "a" [b] {c} (d) <e> | #f; `g`'
    markdown = plan(document)
    assert re.search(r'n\d+\["NetworkSecurityGroup<br/>nsg #34;a#34; #91;b#93;', markdown)
    target = tmp_path / "odd.md"
    target.write_text(markdown)
    done = mermaid_check(target)
    assert done.returncode == 0, done.stderr


# -- dynamic resources: values from their inputs ------------------------------------------------


def test_dynamic_updates_and_replaces_show_their_values():
    """The Python dynamic provider answers Diff without diffReasons or detailedDiff: the
    values come from old inputs against new."""
    changes = section(plan(fixture("dynamic-steps.json")), "Changes")
    assert "| `~` | update | `vmimage:Generalize` | `vmimage-v1-1-0-generalize` " \
           "| `timeoutSeconds`: `3600` → `1800` |" in changes
    assert "| `+-` | replace | `vmimage:Restart` | `vmimage-v1-1-0-scripts-customize-1` " \
           "| **replaced**: `vmId` cannot change in place<br/>`vmId`: " \
           "`…/providers/Microsoft.Compute/virtualMachines/old-vm` → `[unknown]` |" in changes
    assert "__provider" not in changes and "ZGlsbC" not in changes


@pytest.mark.parametrize(("old_code", "new_code", "shown"), [
    ("[secret]", "[secret]", False),  # a provider serialized as a secret: cannot tell
    ("cGlja2xlLTE=", "cGlja2xlLTE=", False),
    ("cGlja2xlLTE=", "cGlja2xlLTI=", True),  # only the provider's code differs
])
def test_the_serialized_provider_is_a_reason_only_when_it_alone_visibly_differs(
        old_code, new_code, shown):
    document = fixture("dynamic-steps.json")
    gen = step(document, "vmimage-v1-1-0-generalize")
    gen["oldState"]["inputs"]["timeoutSeconds"] = gen["newState"]["inputs"]["timeoutSeconds"]
    gen["oldState"]["inputs"]["__provider"] = old_code
    gen["newState"]["inputs"]["__provider"] = new_code
    (row,) = [r for r in section(plan(document), "Changes").splitlines()
              if "`vmimage-v1-1-0-generalize`" in r]
    assert ("`__provider`: `[provider code]` → `[provider code, changed]`" in row) == shown
    assert "cGlja2xl" not in row
    # another input changing: the provider's code is no reason of its own
    gen["oldState"]["inputs"]["timeoutSeconds"] = 60
    (row,) = [r for r in section(plan(document), "Changes").splitlines()
              if "`vmimage-v1-1-0-generalize`" in r]
    assert "`timeoutSeconds`: `60` → `1800` |" in row and "__provider" not in row


def test_objects_with_the_signature_key_are_not_all_secrets():
    document = fixture("version-bump.json")
    nsg = step(document, "vmimage-network-nsg")
    sig = next(iter(SECRET_SIG))
    ref = {sig: "5cf8f73096256a8f31e491e813e4eb8e", "urn": "urn:pulumi:dev::p::t::x",
           "id": "/subscriptions/s/resourceGroups/rg-ref", "packageVersion": ""}
    nsg["oldState"]["inputs"]["tags"] = {"ref": "/subscriptions/s/resourceGroups/rg-old"}
    nsg["newState"]["inputs"]["tags"] = {"ref": ref}
    nsg["detailedDiff"]["tags.ref"] = {"kind": "update", "inputDiff": True}
    changes = section(plan(document), "Changes")
    assert "`tags.ref`: `/subscriptions/s/resourceGroups/rg-old` → " \
           "`/subscriptions/s/resourceGroups/rg-ref`" in changes


# -- policy violations and diagnostics from the event log --------------------------------------


def engine_events(vm_urn: str) -> str:
    """An event log as `pulumi preview --event-log` writes it (apitype.EngineEvent per
    line; PolicyEvent, DiagnosticEvent as sdk/go/common/apitype/events.go declares)."""
    events = [
        {"sequence": 0, "timestamp": 1787662987, "preludeEvent": {"config": {}}},
        {"sequence": 7, "timestamp": 1787662990, "policyEvent": {
            "resourceUrn": vm_urn, "message": "<{%reset%}>Clones take no public IP.\n"
            "Attach a NAT gateway instead.<{%reset%}>\n", "color": "raw",
            "policyName": "no-public-ip-on-clones", "policyPackName": "vmimage",
            "policyPackVersion": "0.1.0", "policyPackVersionTag": "0.1.0",
            "enforcementLevel": "mandatory"}},
        {"sequence": 8, "timestamp": 1787662990, "policyEvent": {
            "resourceUrn": vm_urn, "message": "Caching is ReadWrite.", "color": "never",
            "policyName": "readwrite-caching", "policyPackName": "vmimage",
            "policyPackVersion": "0.1.0", "policyPackVersionTag": "0.1.0",
            "enforcementLevel": "advisory", "severity": "low"}},
        {"sequence": 9, "timestamp": 1787662991, "diagnosticEvent": {
            "prefix": "error: ", "message": "preview failed\n", "color": "never",
            "severity": "error"}},
        {"sequence": 10, "timestamp": 1787662991, "diagnosticEvent": {
            "message": "resolving…", "color": "never", "severity": "info",
            "ephemeral": True}},
        {"sequence": 11, "timestamp": 1787662991, "summaryEvent": {
            "maybeCorrupt": False, "durationSeconds": 4, "resourceChanges": {},
            "PolicyPacks": {"vmimage": "0.1.0"}, "isPreview": True, "result": "failed"}},
    ]
    return "".join(json.dumps(e) + "\n" for e in events)


def test_violations_and_diagnostics_of_the_event_log_are_in_the_plan(tmp_path):
    document = fixture("version-bump.json")
    vm = step(document, "vmimage-clones-web-0")["urn"]
    (tmp_path / "preview.json").write_text(json.dumps(document))
    (tmp_path / "events.jsonl").write_text(engine_events(vm))
    code, out, err = run_main("--preview-json", str(tmp_path / "preview.json"),
                              "--event-log", str(tmp_path / "events.jsonl"))
    assert (code, err) == (EXIT_OK, "")
    assert out.split("\n")[2].startswith("**Failed.** ")
    assert "· policy: 1 mandatory, 1 advisory" in out.split("\n")[2]
    failed = section(out, "Failed")
    assert "- error: preview failed" in failed
    assert "- policy `vmimage/no-public-ip-on-clones` (mandatory) refuses " \
           "`vmimage-clones-web-0`" in failed
    policy = section(out, "Warnings").split("### Policy\n\n", 1)[1]
    assert policy.splitlines()[2:4] == [
        "| `vmimage/no-public-ip-on-clones` | **mandatory** | `vmimage-clones-web-0` "
        "| Clones take no public IP. Attach a NAT gateway instead. |",
        "| `vmimage/readwrite-caching` | advisory | `vmimage-clones-web-0` "
        "| Caching is ReadWrite. |"]
    assert "resolving" not in out and "<{%" not in out
    # without the event log, the same preview has no policy section
    assert "### Policy" not in plan(document)


@pytest.mark.parametrize(("content", "message"), [
    ('{"policyEvent": {"policyName": 7}}\n', "line 1.policyEvent.policyName: expected a string"),
    ("{}\nnot json\n", "line 2: not JSON"),
    ('[1]\n', "line 1: expected an object"),
])
def test_a_bad_event_log_is_refused_in_one_line(tmp_path, content, message):
    (tmp_path / "events.jsonl").write_text(content)
    code, out, err = run_main("--preview-json", str(FIXTURES / "new-stack.json"),
                              "--event-log", str(tmp_path / "events.jsonl"))
    assert code == EXIT_BAD_INPUT and out == "" and err.count("\n") == 1
    assert err.startswith("error: --event-log ") and message in err


# -- a preview that fails before any step -------------------------------------------------------


def test_a_preview_that_failed_before_any_step_is_a_failed_plan(tmp_path):
    """`steps` and `changeSummary` are omitempty (pkg/display/json.go PreviewDigest)."""
    document = {"config": {"azure-native:location": "westeurope"}, "diagnostics": [
        {"message": "error: Program failed with an unhandled exception:\n  boom\n",
         "severity": "error"},
        {"message": "warning: a provider upgrade is available", "severity": "warning"},
        {"message": "printed by the program", "severity": "info"}],
        "duration": 2_512_000_000}
    (tmp_path / "preview.json").write_text(json.dumps(document, indent=4))
    code, out, err = run_main("--preview-json", str(tmp_path / "preview.json"))
    assert (code, err) == (EXIT_OK, "")
    assert out.startswith("# vmimage plan: `preview`\n\n**Failed.** **0 resources** (none)")
    assert section(out, "Failed").splitlines() == [
        "- the preview stopped before it got to any resource",
        "- error: Program failed with an unhandled exception: boom"]
    assert "- warning: a provider upgrade is available" in section(out, "Warnings")
    assert "printed by the program" not in out and "## Changes" not in out


# -- totality: any input, exit 0 or 2 with one line --------------------------------------------


def run_on(tmp_path: Path, text: str, *, events: str | None = None) -> tuple[int, str, str]:
    (tmp_path / "in.json").write_text(text, encoding="utf-8")
    argv = ["--preview-json", str(tmp_path / "in.json"), "--markdown", str(tmp_path / "p.md")]
    if events is not None:
        (tmp_path / "ev.jsonl").write_text(events, encoding="utf-8")
        argv += ["--event-log", str(tmp_path / "ev.jsonl")]
    return run_main(*argv)


def assert_total(result: tuple[int, str, str]) -> None:
    code, _, err = result
    assert code in (EXIT_OK, EXIT_BAD_INPUT), err
    assert "internal error" not in err and "Traceback" not in err
    assert err == "" if code == EXIT_OK else err.count("\n") == 1 and err.endswith("\n")


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 5000 + "]" * 5000, "nested deeper than 64 levels"),
    ('{"steps": ' + "[" * 70 + "]" * 70 + "}", "nested deeper than 64 levels"),
    ('{"steps": [], "duration": ' + "1" * 5000 + "}", "a number longer than 30 digits"),
    ('{"steps": [], "duration": 1e999}', "a number out of range"),
    ('{"steps": [], "duration": NaN}', "NaN is not a JSON number"),
    ('{"steps": [], "duration": -1}', "duration: expected nanoseconds"),
    ('{"steps": [{"op": "update", "urn": "u", "newState": []}]}',
     "steps[0].newState: expected an object"),
    ('{"steps": [{"op": "update", "urn": "u", "detailedDiff": {"a": 1}}]}',
     'steps[0].detailedDiff["a"]: expected an object'),
    ('{"steps": [null, 1, {"op": 1, "urn": []}], "changeSummary": {"same": "x"}}',
     "steps[0]: expected an object; steps[1]: expected an object; steps[2].op: expected "
     "a string; steps[2].urn: expected a string; changeSummary[\"same\"]: expected a count"),
])
def test_hostile_previews_end_in_one_line(tmp_path, text, message):
    result = run_on(tmp_path, text)
    assert_total(result)
    assert result[0] == EXIT_BAD_INPUT and message in result[2]


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr("offline.preview_plan.MAX_BYTES", 1000)
    result = run_on(tmp_path, json.dumps(fixture("new-stack.json")))
    assert_total(result)
    assert result[0] == EXIT_BAD_INPUT and "larger than" in result[2]


def test_a_long_chain_of_steps_plans_without_recursion():
    """A build of 1,500 steps, each depending on the one before: the version is found
    by walking, not recursing."""
    document = fixture("new-stack.json")
    restart = step(document, "vmimage-v1-0-0-generalize")
    chain, previous = [], restart["urn"]
    for i in range(1500):
        s = copy.deepcopy(restart)
        s["urn"] = s["newState"]["urn"] = f"{restart['urn']}-{i}"
        s["newState"]["type"] = "pulumi-python:dynamic/vmimage:Restart"
        s["newState"]["dependencies"] = [previous]
        previous = s["urn"]
        chain.append(s)
    document["steps"] += chain
    assert "| `1.0.0` | **new** |" in section(plan(document), "Image versions")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_mutation_of_a_fixture_ends_in_exit_0_or_2(tmp_path, data):
    """Values replaced at random paths of a real preview by JSON of any type."""
    document = copy.deepcopy(SMALL)
    for _ in range(data.draw(st.integers(1, 4))):
        mutate(document, data)
    assert_total(run_on(tmp_path, json.dumps(document)))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.recursive(st.none() | st.booleans() | st.integers() | st.floats(
    allow_nan=False, allow_infinity=False) | st.text(max_size=20), lambda children:
    st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(
        ["steps", "op", "urn", "newState", "oldState", "inputs", "detailedDiff", "kind",
         "diagnostics", "changeSummary", "policyEvent", "x"]), children, max_size=4)),
    text=st.text(max_size=60))
def test_any_json_or_text_ends_in_exit_0_or_2(tmp_path, value, text):
    assert_total(run_on(tmp_path, json.dumps(value)))
    assert_total(run_on(tmp_path, text))
    assert_total(run_on(tmp_path, json.dumps(fixture("new-stack.json")),
                        events=json.dumps(value) + "\n"))


#: A preview of a few steps of each kind, small enough to mutate quickly.
SMALL = {**fixture("dynamic-steps.json"), "steps": [
    s for s in fixture("dynamic-steps.json")["steps"]
    if s["op"] != "same" or "Stack" in s["urn"]][:12]}
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8)


def mutate(document: Any, data: st.DataObject) -> None:
    """Replaces one value somewhere in `document` by any JSON value."""
    node = document
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and data.draw(st.booleans()):
            node = child
            continue
        node[key] = data.draw(ANY_JSON)
        return
