"""`--state` through the CLI: exit codes, the change summary in the report JSON, state
files that cannot be used, and a crash followed by a converging re-run."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from offline.cli import main


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), console=Console(file=out, width=200))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("state") / "dev.json"
    code, output = cli("up", "--stack", "dev", "--state", str(state), "--quiet")
    assert code == 0, output
    return state


def copy_state(state: Path, folder: Path) -> Path:
    target = folder / state.name
    shutil.copy(state, target)
    shutil.copy(f"{state}.key", folder / f"{state.name}.key")  # keeps its mode, 0600
    return target


def test_report_json_carries_the_change_summary(first_run: Path, tmp_path: Path) -> None:
    state = copy_state(first_run, tmp_path)
    report = tmp_path / "report.json"
    code, output = cli("up", "--stack", "dev", "--state", str(state),
                       "--set", "clones[0].count=4", "--report-json", str(report))
    assert code == 0, output
    changes = json.loads(report.read_text())["changes"]
    created = sorted(c["urn"].rsplit("::", 1)[-1] for c in changes if c["action"] == "create")
    assert created == ["vmimage-clones-web-3", "vmimage-clones-web-3-nic"]
    assert {c["action"] for c in changes} == {"create", "same"}
    assert "2 create" in output and "Changes:" in output


def test_a_state_file_of_another_stack_is_refused(first_run: Path, tmp_path: Path) -> None:
    state = copy_state(first_run, tmp_path)
    before = state.read_bytes()
    code, output = cli("up", "--stack", "win", "--state", str(state), "--quiet")
    assert code == 2
    assert "holds stack 'dev', not 'win'" in output and "Traceback" not in output
    assert state.read_bytes() == before


@pytest.mark.parametrize("content", ["", "{}", "[1, 2]", '{"version": 1, "stack": "dev"}',
                                     '{"version": 1, "stack": "dev", "resources": [{}], '
                                     '"arm": {"resources": [], "vms": {}, "leases": {}, '
                                     '"generalizePosts": {}}}'])
def test_a_malformed_state_file_is_refused(content: str, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(content)
    (tmp_path / "state.json.key").write_text("00" * 32)
    code, output = cli("up", "--stack", "dev", "--state", str(state), "--quiet")
    assert code == 2
    assert "not a vmimage offline state file" in output and "Traceback" not in output


def test_a_state_without_its_key_is_refused(first_run: Path, tmp_path: Path) -> None:
    state = tmp_path / "dev.json"
    state.write_bytes(first_run.read_bytes())
    code, output = cli("up", "--stack", "dev", "--state", str(state), "--quiet")
    assert code == 2 and "dev.json.key: missing" in output


def test_deleting_a_protected_image_exits_1_and_saves_nothing(first_run, tmp_path) -> None:
    state = copy_state(first_run, tmp_path)
    before = state.read_bytes()
    # Renaming the only version drops 1.0.0, a protected gallery image version.
    code, output = cli("up", "--stack", "dev", "--state", str(state), "--quiet",
                       "--set", "builds[0].version=1.0.1", "--set", "clones[0].version=1.0.1")
    assert code == 1, output
    assert "refusing to delete protected resource vmimage-v1-0-0-capture-version" in output
    assert state.read_bytes() == before


def test_crash_then_rerun_through_the_cli(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    code, output = cli("up", "--stack", "dev", "--state", str(state), "--quiet",
                       "--faults", "crash-after=9", "--seed", "3")
    assert code == 1
    assert "simulated crash after 9 operations" in output and "Traceback" not in output
    report = tmp_path / "report.json"
    code, output = cli("up", "--stack", "dev", "--state", str(state),
                       "--report-json", str(report))
    assert code == 0, output
    actions = {c["action"] for c in json.loads(report.read_text())["changes"]}
    assert actions <= {"create", "same"} and "same" in actions
    code, output = cli("up", "--stack", "dev", "--state", str(state), "--quiet")
    assert code == 0
    saved = json.loads(state.read_text())
    assert list(saved["arm"]["generalizePosts"].values()) == [1]


def _mock_urn(parent: str | None, type_: str, name: str) -> str:
    """URNs as Pulumi's MockMonitor formed them, and state files of version 1 hold."""
    if parent:
        type_ = parent.split("::")[2].split("$")[-1] + "$" + type_
    return f"urn:pulumi:dev::vmimage::{type_}::{name}"


def test_version_1_state_files_upgrade_to_engine_urns(first_run: Path, tmp_path: Path) -> None:
    """A state written before URNs took the engine's form still plans nothing to do."""
    state = copy_state(first_run, tmp_path)
    data = json.loads(state.read_text())
    records = {r["urn"]: r for r in data["resources"]}
    stack_urn = "urn:pulumi:dev::vmimage::pulumi:pulumi:Stack::vmimage-dev"
    old = {stack_urn: stack_urn}

    def to_old(urn: str) -> str:
        if urn not in old:
            record = records[urn]
            old[urn] = _mock_urn(to_old(record["parent"]), record["type"],
                                 urn.split("::", 3)[3])
        return old[urn]

    for urn in list(records):
        to_old(urn)
    assert any(old[u] != u for u in records)  # the forms do differ
    for record in records.values():
        record["dependencies"] = [old[d] for d in record["dependencies"]]
        record["parent"] = old[record["parent"]]
        record["urn"] = old[record["urn"]]
    state.write_text(json.dumps({**data, "version": 1}))
    report = tmp_path / "report.json"
    code, output = cli("up", "--stack", "dev", "--state", str(state), "--quiet",
                       "--report-json", str(report))
    assert code == 0, output
    changes = json.loads(report.read_text())["changes"]
    assert {c["action"] for c in changes} == {"same"}
    assert json.loads(state.read_text())["version"] == 2


def test_a_windows_stack_updates_against_its_saved_state(tmp_path: Path) -> None:
    """Secrets are sealed in the state; the simulated ARM compares a VM's immutable
    properties under the same seal, so an update is not a PropertyChangeNotAllowed on
    the (secret) osProfile's computerName."""
    state = tmp_path / "win.json"
    code, output = cli("up", "--stack", "win", "--state", str(state), "--quiet")
    assert code == 0, output
    report = tmp_path / "report.json"
    code, output = cli("up", "--stack", "win", "--state", str(state), "--quiet",
                       "--set", "security.bootDiagnostics=false",
                       "--report-json", str(report))
    assert code == 0, output
    changes = {c["urn"].rsplit("::", 1)[-1]: c["action"]
               for c in json.loads(report.read_text())["changes"]}
    assert changes["vmimage-clones-iis-0"] == "update"
    assert changes["vmimage-v1-0-0-build-vm"] == "same"  # captured: frozen
