"""Structure of the GitOps workflows in .github/workflows (no GitHub needed)."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
EXPECTED = ("pull-request.yml", "main.yml")

# Pinned: a major/minor/patch tag or a full commit SHA (never a branch such as @main).
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")
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


@pytest.mark.parametrize("name", EXPECTED)
def test_every_action_is_pinned(workflows: dict[str, dict[str, Any]], name: str) -> None:
    for job_id, step in steps(workflows[name]):
        if "uses" in step:
            assert PINNED.match(step["uses"]), f"{name}:{job_id} uses unpinned {step['uses']}"


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


def test_pr_offline_plan_reaches_the_summary(workflows: dict[str, dict[str, Any]]) -> None:
    runs = run_lines(workflows["pull-request.yml"], "plan")
    invocation = next(line for line in runs.splitlines() if "-m offline up" in line)
    assert re.search(r"python -m offline up .*--stack \S+", invocation)
    assert "--markdown plan.md" in invocation and "--report-json plan.json" in invocation
    assert re.search(r'plan\.md >> "?\$GITHUB_STEP_SUMMARY', runs)


def test_pr_preview_is_policy_checked_and_commented(workflows: dict[str, dict[str, Any]]) -> None:
    pr = workflows["pull-request.yml"]
    job = pr["jobs"]["preview"]
    assert job["needs"] == "test" or "test" in job["needs"]
    assert permissions(pr, "preview") == {
        "id-token": "write",
        "contents": "read",
        "pull-requests": "write",
    }
    ((job_id, step),) = steps_using(pr, "pulumi/actions")
    assert job_id == "preview"
    assert step["with"]["command"] == "preview"
    assert step["with"]["stack-name"] == "dev"
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["policyPacks"] == "policy"
    # login must come before the Pulumi step that needs it
    names = [str(s.get("uses", "")).split("@")[0] for s in job["steps"]]
    assert names.index("azure/login") < names.index("pulumi/actions")


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


@pytest.mark.parametrize("name", EXPECTED)
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
