"""Structure of the GitOps workflows in .github/workflows (no GitHub needed)."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
EXPECTED = ("pull-request.yml", "main.yml")
#: Every workflow, the deploying ones and the monthly refresh.
ALL = (*EXPECTED, "refresh.yml")

# Pinned: a full commit SHA, never a tag (tags move) nor a branch such as @main; the release
# it is stays readable in a trailing comment, e.g. `actions/checkout@<sha>  # v7.0.1`.
SHA_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
VERSION_COMMENT = re.compile(r"^\s+#\s+(?P<version>v\d+(\.\d+){0,2})\s*$")
SECRET_REF = re.compile(r"\$\{\{\s*secrets\.(\w+)\s*\}\}")
# Only the Pulumi Cloud token may be a secret; Azure uses OIDC with ids from `vars`.
ALLOWED_SECRETS = {"GITHUB_TOKEN"}  # everything else comes through OIDC
# Inputs declared by pulumi/actions and azure/login (their action.yml), to catch misspellings.
PULUMI_ACTION_INPUTS = {
    "command", "stack-name", "work-dir", "comment-on-pr", "github-token", "cloud-url",
    "secrets-provider", "parallel", "message", "config-map", "expect-no-changes", "diff",
    "replace", "target", "target-dependents", "policyPacks", "policyPackConfigs", "refresh",
    "upsert", "edit-pr-comment", "color", "pulumi-version", "pulumi-version-file",
    "always-include-summary", "suppress-outputs", "suppress-progress", "exclude-protected",
    "plan", "remove", "exclude", "exclude-dependents", "continue-on-error",
}  # fmt: skip
AZURE_LOGIN_INPUTS = {
    "creds", "client-id", "tenant-id", "subscription-id", "enable-AzPSSession", "environment",
    "allow-no-subscriptions", "audience", "auth-type",
}  # fmt: skip


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict[str, Any]]:
    return {p.name: load(p) for p in sorted(WORKFLOWS.glob("*.y*ml"))}


def steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def steps_using(workflow: dict[str, Any], action: str) -> list[tuple[str, dict[str, Any]]]:
    return [(j, s) for j, s in steps(workflow) if str(s.get("uses", "")).split("@")[0] == action]


def run_lines(workflow: dict[str, Any], job_id: str | None = None) -> str:
    return "\n".join(str(s.get("run", "")) for j, s in steps(workflow) if job_id in (None, j))


def permissions(workflow: dict[str, Any], job_id: str) -> dict[str, Any]:
    job_perms = workflow["jobs"][job_id].get("permissions")
    return job_perms if job_perms is not None else workflow.get("permissions", {})


def test_expected_workflows_exist(workflows: dict[str, dict[str, Any]]) -> None:
    assert set(EXPECTED) <= set(workflows)


def test_triggers(workflows: dict[str, dict[str, Any]]) -> None:
    assert "pull_request" in workflows["pull-request.yml"]["on"]
    push = workflows["main.yml"]["on"]["push"]
    assert push["branches"] == ["main"]


@pytest.mark.parametrize("name", EXPECTED)
def test_jobs_have_runner_and_steps(workflows: dict[str, dict[str, Any]], name: str) -> None:
    for job_id, job in workflows[name]["jobs"].items():
        assert job.get("runs-on"), f"{name}:{job_id} has no runs-on"
        assert job.get("steps"), f"{name}:{job_id} has no steps"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{name}:{job_id}: {step}"


def makefile_recipe(target: str) -> list[str]:
    """The recipe lines of one Makefile target (tab-indented, after `target:`)."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{target}\s*:", line))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def uses_lines(name: str) -> list[tuple[int, str, str]]:
    """(line number, ref, what follows it) of every `uses:` in a workflow's text."""
    found = []
    for number, line in enumerate((WORKFLOWS / name).read_text().splitlines(), 1):
        if match := USES_LINE.match(line):
            found.append((number, match["ref"], match["rest"]))
    return found


@pytest.mark.parametrize("name", ALL)
def test_every_action_is_pinned_by_sha(workflows: dict[str, dict[str, Any]], name: str) -> None:
    for job_id, step in steps(workflows[name]):
        if "uses" in step:
            assert SHA_PINNED.match(step["uses"]), f"{name}:{job_id}: {step['uses']} not by SHA"
    lines = uses_lines(name)
    assert len(lines) == sum("uses" in s for _, s in steps(workflows[name]))
    for number, ref, rest in lines:
        assert SHA_PINNED.match(ref), f"{name}:{number}: {ref} is not pinned by a commit SHA"
        assert VERSION_COMMENT.match(rest), f"{name}:{number}: {ref} lacks a `# vX` comment"


def test_one_sha_per_action_and_release() -> None:
    """Every workflow runs the same release of an action, and a SHA names one release."""
    releases: dict[str, set[tuple[str, str]]] = {}
    for name in ALL:
        for _, ref, rest in uses_lines(name):
            action, sha = ref.split("@")
            match = VERSION_COMMENT.match(rest)
            assert match
            releases.setdefault(action, set()).add((sha, match["version"]))
    for action, pins in releases.items():
        assert len(pins) == 1, f"{action} is pinned to several releases: {sorted(pins)}"


@pytest.mark.parametrize("name", ALL)
def test_checkout_does_not_persist_credentials(
    workflows: dict[str, dict[str, Any]], name: str
) -> None:
    """No job leaves the token in the work tree for a later step (or an artifact) to read."""
    checkouts = steps_using(workflows[name], "actions/checkout")
    assert checkouts
    for job_id, step in checkouts:
        assert (step.get("with") or {}).get("persist-credentials") is False, f"{name}:{job_id}"


def test_lint_audits_the_workflows() -> None:
    """`make lint` runs zizmor and actionlint on the workflows after ruff and mypy, and CI
    runs `make lint` (the linters come from the dev extras, so a clean checkout has them)."""
    recipe = makefile_recipe("lint")
    # the program each line runs: `python -m ruff` is ruff, `.venv/bin/zizmor` is zizmor
    tools = [(argv[2] if argv[1:2] == ["-m"] else argv[0].rsplit("/", 1)[-1])
             for argv in map(shlex.split, recipe)]
    assert tools[:2] == ["ruff", "mypy"], tools
    assert {"zizmor", "actionlint"} <= set(tools[2:]), tools
    zizmor = recipe[tools.index("zizmor")]
    actionlint = recipe[tools.index("actionlint")]
    assert ".github/workflows" in zizmor and ".github/workflows" in actionlint
    # A finding fails lint: no flag that turns the exit code off.
    assert "--no-exit-codes" not in zizmor
    assert "--offline" in zizmor  # no GitHub API: the same result with or without a token
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["dev"]
    names = {re.split(r"[<>=!~\[ ]", item, maxsplit=1)[0] for item in dev}
    assert "zizmor" in names
    assert any(n.startswith("actionlint") for n in names)
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make lint\b", ci, re.M), ".ci/run does not run make lint"


def test_console_scripts_the_workflows_call() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["vmimage-plan"] == "offline.preview_plan:main"
    assert scripts["vmimage-offline"] == "offline.cli:entry"
    assert scripts["vmimage"] == "offline.daytwo:entry"


def test_refresh_bumps_only_when_outdated_and_opens_a_pr_with_least_permissions(
        workflows: dict[str, dict[str, Any]]) -> None:
    refresh = workflows["refresh.yml"]
    assert set(refresh["on"]) == {"schedule", "workflow_dispatch"}
    assert refresh["on"]["schedule"][0]["cron"].split()[2:] == ["2", "*", "*"]  # monthly
    assert refresh["permissions"] == {}  # nothing by default
    [(job_id, job)] = refresh["jobs"].items()
    assert job["permissions"] == {"contents": "write", "pull-requests": "write",
                                  "id-token": "write"}
    named = {s.get("name"): s for s in job["steps"]}
    assert "vmimage outdated" in named["Outdated"]["run"]
    # Only exit 1 means "outdated": any other failure fails the job, never a PR.
    assert '1) echo "outdated=true"' in named["Outdated"]["run"]
    assert "*) exit" in named["Outdated"]["run"]
    for later in ("Bump and plan", "Open the pull request"):
        assert named[later]["if"] == "steps.outdated.outputs.outdated == 'true'"
    assert "vmimage bump --stack" in named["Bump and plan"]["run"]
    assert "vmimage-offline up --stack" in named["Bump and plan"]["run"]
    assert "--markdown plan.md" in named["Bump and plan"]["run"]
    pr = named["Open the pull request"]
    assert "gh pr create" in pr["run"] and "--body-file body.md" in pr["run"]
    assert pr["env"]["GH_TOKEN"] == "${{ github.token }}"
    # No expression is expanded inside a script (template injection): env only.
    assert all("${{" not in str(s.get("run", "")) for s in job["steps"])


@pytest.mark.parametrize("name", EXPECTED)
def test_azure_login_uses_oidc(workflows: dict[str, dict[str, Any]], name: str) -> None:
    logins = steps_using(workflows[name], "azure/login")
    assert logins, f"{name} never logs in to Azure"
    for job_id, step in logins:
        assert permissions(workflows[name], job_id).get("id-token") == "write", job_id
        inputs = step["with"]
        assert "creds" not in inputs  # a client secret in JSON: exactly what OIDC replaces
        assert set(inputs) <= AZURE_LOGIN_INPUTS
        for key in ("client-id", "tenant-id", "subscription-id"):
            assert re.fullmatch(r"\$\{\{\s*vars\.\w+\s*\}\}", str(inputs[key])), (key, inputs[key])
        env = workflows[name]["jobs"][job_id].get("env", {})
        assert str(env.get("ARM_USE_OIDC")).lower() == "true"
        for key in ("ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID"):
            assert "vars." in str(env.get(key)), key


@pytest.mark.parametrize("name", EXPECTED)
def test_pulumi_cloud_login_uses_oidc(workflows: dict[str, dict[str, Any]], name: str) -> None:
    """Every job that runs pulumi/actions first trades the OIDC token for a Pulumi one."""
    for job_id, _ in steps_using(workflows[name], "pulumi/actions"):
        steps = [str(s.get("uses", "")) for s in workflows[name]["jobs"][job_id]["steps"]]
        auth = next(i for i, uses in enumerate(steps) if uses.startswith("pulumi/auth-actions"))
        assert auth < next(i for i, u in enumerate(steps) if u.startswith("pulumi/actions"))
        step = workflows[name]["jobs"][job_id]["steps"][auth]
        assert step["with"]["requested-token-type"].startswith("urn:pulumi:token-type:")
        assert permissions(workflows[name], job_id).get("id-token") == "write", job_id


@pytest.mark.parametrize("name", EXPECTED)
def test_no_stored_secrets(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    used = set(SECRET_REF.findall(text))
    assert used <= ALLOWED_SECRETS, used - ALLOWED_SECRETS
    assert not re.search(r"ARM_CLIENT_SECRET|AZURE_CREDENTIALS", text)


@pytest.mark.parametrize("name", EXPECTED)
def test_pulumi_action_inputs_are_known(workflows: dict[str, dict[str, Any]], name: str) -> None:
    for _, step in steps_using(workflows[name], "pulumi/actions"):
        if "with" not in step:
            continue  # no command: it only installs the Pulumi CLI
        assert set(step["with"]) <= PULUMI_ACTION_INPUTS, set(step["with"]) - PULUMI_ACTION_INPUTS
        assert step["with"].get("stack-name")
        pack = ROOT / str(step["with"]["policyPacks"])
        assert (pack / "PulumiPolicy.yaml").is_file() and (pack / "__main__.py").is_file()


def test_pr_test_job_runs_tests_and_lint(workflows: dict[str, dict[str, Any]]) -> None:
    pr = workflows["pull-request.yml"]
    runs = run_lines(pr, "test")
    assert "make test" in runs and "make lint" in runs
    (setup,) = [s for _, s in steps_using(pr, "actions/setup-python") if _ == "test"]
    assert str(setup["with"]["python-version"]) == "3.11"


def test_pr_offline_plan_starts_from_mains_state(workflows: dict[str, dict[str, Any]]) -> None:
    """Without credentials the PR still gets a plan: offline, against the state main saved."""
    pr, main = workflows["pull-request.yml"], workflows["main.yml"]
    runs = run_lines(pr, "plan")
    invocation = next(line for line in runs.splitlines() if "vmimage-offline up" in line)
    assert re.search(r"vmimage-offline up .*--stack dev\b", invocation)
    assert "--markdown plan.md" in invocation and "--report-json plan.json" in invocation
    assert re.search(r'plan\.md >> "?\$GITHUB_STEP_SUMMARY', runs)
    # main.yml saves the state (and the key that seals it) as an artifact on each push...
    ((saver, upload),) = [(j, s) for j, s in steps_using(main, "actions/upload-artifact")
                          if s["with"]["name"] == "offline-state-dev"]
    saved = upload["with"]["path"].split()
    assert len(saved) == 2 and saved[1] == saved[0] + ".key"
    assert re.search(rf"vmimage-offline up --stack dev --state {re.escape(saved[0])}\b",
                     run_lines(main, saver))
    assert "test" in str(main["jobs"][saver]["needs"])
    # ...and the PR job fetches the newest one from a push to main, or plans without one.
    ((_, fetch),) = steps_using(pr, "dawidd6/action-download-artifact")
    inputs = fetch["with"]
    assert (inputs["workflow"], inputs["branch"], inputs["event"]) == ("main.yml", "main", "push")
    assert inputs["name"] == "offline-state-dev"
    assert inputs["if_no_artifact_found"] in ("warn", "ignore")
    state = f"{inputs['path']}/{Path(saved[0]).name}"
    assert f"--state {state}" in runs and f"chmod 600 {state}.key" in runs
    assert permissions(pr, "plan") == {"contents": "read", "actions": "read"}


def test_pr_comments_the_plan_of_the_real_preview(workflows: dict[str, dict[str, Any]]) -> None:
    """With credentials: `pulumi preview --json` (policy pack included), rendered by
    vmimage-plan from preview.json into plan.md, and plan.md commented on the PR."""
    pr = workflows["pull-request.yml"]
    job = pr["jobs"]["preview"]
    assert job["needs"] == "test" or "test" in job["needs"]
    # credentials: never a fork's PR (no OIDC token), and the repository variables set
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    assert permissions(pr, "preview") == {
        "id-token": "write",
        "contents": "read",
        "pull-requests": "write",
    }
    commands = [str(s.get("run", "")) for s in job["steps"]]
    preview = next(i for i, c in enumerate(commands) if "pulumi preview" in c)
    assert re.search(r"pulumi preview .*--stack dev\b.*--json\b.* > preview\.json",
                     commands[preview])
    assert "--policy-pack policy" in commands[preview]
    # policy violations reach the plan only through the engine's event log, a flag the
    # CLI has only with PULUMI_DEBUG_COMMANDS (pkg/cmd/pulumi/operations/preview.go)
    assert "--event-log events.jsonl" in commands[preview]
    assert job["steps"][preview]["env"]["PULUMI_DEBUG_COMMANDS"] == "true"
    render = next(i for i, c in enumerate(commands) if "vmimage-plan" in c)
    assert render > preview
    assert re.search(r"vmimage-plan --preview-json preview\.json .*--markdown plan\.md",
                     commands[render])
    assert "--event-log events.jsonl" in commands[render]
    # rendered and commented even when the preview fails on a policy violation
    assert "!cancelled()" in str(job["steps"][render].get("if"))
    comment = next(i for i, c in enumerate(commands) if "/comments" in c)
    assert comment > render and "plan.md" in commands[comment]
    assert "!cancelled()" in str(job["steps"][comment].get("if"))
    assert job["steps"][comment]["env"]["GH_TOKEN"] == "${{ github.token }}"
    # the CLI comes from pulumi/actions (no command: install only), after both logins
    uses = [str(s.get("uses", "")).split("@")[0] for s in job["steps"]]
    assert uses.index("azure/login") < uses.index("pulumi/actions") < preview
    assert uses.index("pulumi/auth-actions") < preview
    assert "with" not in job["steps"][uses.index("pulumi/actions")]


def test_main_up_is_serialized_and_gated(workflows: dict[str, dict[str, Any]]) -> None:
    main = workflows["main.yml"]
    ((job_id, step),) = steps_using(main, "pulumi/actions")
    job = main["jobs"][job_id]
    assert step["with"]["command"] == "up"
    assert step["with"]["policyPacks"] == "policy"
    assert job["environment"] == "production"
    concurrency = job.get("concurrency") or main.get("concurrency")
    assert concurrency and "${{" not in str(concurrency["group"])  # one fixed group: never two ups
    assert concurrency.get("cancel-in-progress") is False
    assert "test" in (job["needs"] if isinstance(job["needs"], list) else [job["needs"]])
    assert permissions(main, job_id).get("id-token") == "write"


def _workflow_schema() -> dict[str, Any] | None:
    """SchemaStore's github-workflow schema, as vendored by check-jsonschema (if installed)."""
    # find_spec locates the package without importing it (its CLI pulls in click, ruamel.yaml).
    spec = importlib.util.find_spec("check_jsonschema")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    path = package / "builtin_schemas" / "vendor" / "github-workflows.json"
    return json.loads(path.read_text()) if path.is_file() else None


@pytest.mark.parametrize("name", ALL)
def test_matches_schemastore_schema(name: str) -> None:
    schema = _workflow_schema()
    if schema is None:
        pytest.skip("check-jsonschema (vendors the github-workflow schema) is not installed")
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(load(WORKFLOWS / name))
    ]
    assert not errors, errors
