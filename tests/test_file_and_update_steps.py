"""The `windowsUpdate` and `file` customize steps (vmimage/config/steps/windows_update.py,
vmimage/config/steps/file.py): their problems at their key paths; what they register under plain
mocks, in one dependency chain; the Linux copy-file script run by bash with its tools
stubbed; the PowerShell scripts read back by the tokenizer of tests/test_quoting.py."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import ROOT, load_stack_dict
from powershell_literals import POWERSHELL_HOSTILE, powershell_strings
from program_mocks import Recorded, run_program

import vmimage.config.steps.file as file_kind
from offline.latency import LatencyModel
from offline.runner import StackConfig
from offline.up import up
from vmimage.config.credentials import credential_problem
from vmimage.config.errors import SpecError
from vmimage.config.fingerprint import build_fingerprint
from vmimage.config.limits import MAX_SCRIPT_BYTES
from vmimage.config.steps import KINDS, kind_of
from vmimage.config.steps.windows_update import CATEGORIES, TEMPLATE
from vmimage.config.validate import load_spec
from vmimage.scripts.render import render
from vmimage.vocabulary import RESTART, RUN_COMMAND

FIXTURE = "tests/fixtures/files/motd.txt"
FIXTURE_BYTES = (ROOT / FIXTURE).read_bytes()
FIXTURE_SHA = hashlib.sha256(FIXTURE_BYTES).hexdigest()
SHA = "ab" * 32
IDENTITY = ("/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg-id/"
            "providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-build")
OTHER_IDENTITY = IDENTITY.replace("id-build", "id-other")
BLOB = "https://stvmimage.blob.core.windows.net/artifacts/agent.tar.gz"


def with_steps(stack: str, steps: list[dict[str, Any]], **build: Any) -> dict[str, Any]:
    config = load_stack_dict(stack)
    config["vmimage:pipeline"]["builds"][0]["customize"] = copy.deepcopy(steps)
    config["vmimage:pipeline"]["builds"][0].update(build)
    return config


def problems_of(stack: str, steps: list[dict[str, Any]]) -> list[str]:
    raw = with_steps(stack, steps)["vmimage:pipeline"]
    with pytest.raises(SpecError) as raised:
        load_spec(raw, location="westeurope")
    return raised.value.problems


def test_both_kinds_are_in_the_table() -> None:
    assert KINDS["windowsUpdate"].model.__module__ == "vmimage.config.steps.windows_update"
    assert KINDS["file"].model.__module__ == "vmimage.config.steps.file"


# -- problems, at their key paths -----------------------------------------------------------

AT = "builds[0].customize[0]"


@pytest.mark.parametrize(("stack", "steps", "problem"), [
    ("win", [{"windowsUpdate": {"categories": ["Critical Updates", "Securty Updates"]}}],
     f"{AT}.windowsUpdate.categories[1]: 'Securty Updates' is not a Windows Update category "
     f"(one of: {', '.join(CATEGORIES)}); did you mean 'Security Updates'?"),
    ("win", [{"windowsUpdate": {"categories": ["security updates"]}}],
     f"{AT}.windowsUpdate.categories[0]: 'security updates' is not a Windows Update category "
     f"(one of: {', '.join(CATEGORIES)}); did you mean 'Security Updates'?"),
    ("win", [{"windowsUpdate": {"categories": ["Security Updates", "Security Updates"]}}],
     f"{AT}.windowsUpdate.categories[1]: 'Security Updates' is listed twice"),
    ("dev", [{"windowsUpdate": {"rounds": 2}}],
     f"{AT}.windowsUpdate: Windows Update runs on windows builds only (this is a linux "
     "build)"),
    ("dev", [{"windowsUpdate": None}],
     f"{AT}.windowsUpdate: Windows Update runs on windows builds only (this is a linux "
     "build)"),
    ("win", [{"windowsUpdate": {"exclude": ["KB5034439", "Preview'; Write-Output x"]}}],
     f"{AT}.windowsUpdate.exclude[1]: \"Preview'; Write-Output x\" holds \"'\": give a KB id "
     "(KB5034439) or title text without quotes or line breaks"),
    ("win", [{"windowsUpdate": {"exclude": ["two\nlines"]}}],
     f"{AT}.windowsUpdate.exclude[0]: 'two\\nlines' holds '\\n': give a KB id (KB5034439) "
     "or title text without quotes or line breaks"),
    ("win", [{"windowsUpdate": {"maxUpdates": 501}}],
     f"{AT}.windowsUpdate.maxUpdates: must be at most 500 (got 501)"),
    ("win", [{"windowsUpdate": {"rounds": 0}}],
     f"{AT}.windowsUpdate.rounds: must be at least 1 (got 0)"),
    ("win", [{"windowsUpdate": {"rounds": 11}}],
     f"{AT}.windowsUpdate.rounds: must be at most 10 (got 11)"),
    ("win", [{"windowsUpdate": {"timeoutSeconds": 6000}}],
     f"{AT}.windowsUpdate.timeoutSeconds: must be at most 5400 (got 6000)"),
    ("win", [{"windowsUpdate": {"maxUpdate": 5}}],
     f"{AT}.windowsUpdate.maxUpdate: unknown key; did you mean 'maxUpdates'?"),
    ("dev", [{"file": {"source": FIXTURE, "uri": BLOB, "sha256": SHA,
                       "destination": "/etc/motd"}}],
     f"{AT}.file: give exactly one of source (a file of the project) or uri"),
    ("dev", [{"file": {"destination": "/etc/motd"}}],
     f"{AT}.file: give exactly one of source (a file of the project) or uri"),
    ("dev", [{"file": {"uri": "http://example.com/agent.tgz", "sha256": SHA,
                       "destination": "/opt/agent.tgz"}}],
     f"{AT}.file.uri: 'http://example.com/agent.tgz': only https URLs are allowed (got "
     "'http' scheme)"),
    ("dev", [{"file": {"uri": BLOB + "?sv=2022-11-02&sig=abc", "sha256": SHA,
                       "destination": "/opt/agent.tgz"}}],
     credential_problem(f"{AT}.file.uri", "a signed URL (query parameter 'sig')")),
    ("dev", [{"file": {"uri": BLOB, "sha256": "abc123", "destination": "/opt/agent.tgz"}}],
     f"{AT}.file.sha256: 'abc123' is not a SHA-256 (64 hex digits)"),
    ("dev", [{"file": {"uri": BLOB, "destination": "/opt/agent.tgz"}}],
     f"{AT}.file.sha256: required with uri: the download is checked against it"),
    ("dev", [{"file": {"source": "tests/fixtures/files/missing.txt",
                       "destination": "/etc/motd"}}],
     f"{AT}.file.source: 'tests/fixtures/files/missing.txt' is not a file of the project"),
    ("dev", [{"file": {"source": "../etc/passwd", "destination": "/etc/motd"}}],
     f"{AT}.file.source: '../etc/passwd' must be a path inside the project, relative to "
     "Pulumi.yaml's directory, without '..'"),
    ("dev", [{"file": {"source": FIXTURE, "sha256": SHA, "destination": "/etc/motd"}}],
     f"{AT}.file.sha256: '{FIXTURE}' has SHA-256 {FIXTURE_SHA}, not {SHA}"),
    ("dev", [{"file": {"source": FIXTURE, "destination": "etc/motd"}}],
     f"{AT}.file.destination: 'etc/motd' must be an absolute path (/...)"),
    ("dev", [{"file": {"source": FIXTURE, "destination": "/etc/mo'td"}}],
     f"{AT}.file.destination: \"/etc/mo'td\" holds \"'\": no quotes or line breaks"),
    ("dev", [{"file": {"source": FIXTURE, "destination": "/etc/../motd"}}],
     f"{AT}.file.destination: '/etc/../motd' must name a file, without '.' or '..'"),
    ("win", [{"file": {"source": FIXTURE, "destination": "/etc/motd"}}],
     f"{AT}.file.destination: '/etc/motd' must be an absolute path (C:\\...) without / or "
     "any of <>:\"|?*"),
    ("win", [{"file": {"source": FIXTURE, "destination": "C:\\tools\\"}}],
     f"{AT}.file.destination: 'C:\\\\tools\\\\' must name a file, without '.', '..' or empty "
     "parts"),
    ("win", [{"file": {"source": FIXTURE, "destination": "C:\\tools\\motd.txt",
                       "mode": "0644"}}],
     f"{AT}.file.mode: a Linux file mode; a windows file takes none"),
    ("dev", [{"file": {"uri": "https://example.com/x", "sha256": SHA, "identity": IDENTITY,
                       "destination": "/opt/x"}}],
     f"{AT}.file.identity: only a blob (*.blob.core.windows.net, *.blob.core.usgovcloudapi.net, "
     "*.blob.core.chinacloudapi.cn) is read with an identity"),
])
def test_problems_name_their_key_path(stack: str, steps: list[dict[str, Any]],
                                      problem: str) -> None:
    assert problems_of(stack, steps) == [problem]


def test_the_defaults_load_on_windows() -> None:
    raw = with_steps("win", [{"windowsUpdate": None}])["vmimage:pipeline"]
    (step,) = load_spec(raw, location="westeurope").spec.builds[0].customize
    options = step.windows_update
    assert options.categories == ("Security Updates", "Critical Updates", "Update Rollups")
    assert (options.rounds, options.max_updates, options.timeout_seconds) == (3, 100, 3600)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory of the test's own for `source` files."""
    (tmp_path / "files").mkdir()
    monkeypatch.setattr(file_kind, "PROJECT_DIR", tmp_path)
    return tmp_path


def test_a_file_too_big_for_its_script_is_refused_with_both_sizes(project: Path) -> None:
    # 200,000 bytes: under the script limit itself, over it as base64 (4/3, plus lines).
    (project / "files" / "big.bin").write_bytes(os.urandom(200_000))
    (found,) = problems_of("dev", [{"file": {"source": "files/big.bin",
                                             "destination": "/opt/big.bin"}}])
    script = file_kind.render_script(
        file_kind.FileOptions(source="files/big.bin", destination="/opt/big.bin"),
        os="linux", vm_name="validation", identity=None)
    size = len(script.encode())
    assert size > MAX_SCRIPT_BYTES
    assert found == (
        f"{AT}.file.source: 'files/big.bin' is 200,000 bytes; as base64 in its run command "
        f"script it takes {size:,} bytes, and a script holds at most {MAX_SCRIPT_BYTES:,} "
        "(MAX_SCRIPT_BYTES, docs/azure-behaviours.md): put it in a blob and give its uri")
    # bigger than the script limit itself: refused before it is read
    (project / "files" / "huge.bin").write_bytes(b"\0" * (MAX_SCRIPT_BYTES + 1))
    (found,) = problems_of("win", [{"file": {"source": "files/huge.bin",
                                             "destination": "C:\\huge.bin"}}])
    assert found.startswith(f"{AT}.file.source: 'files/huge.bin' is 262,145 bytes; more "
                            "still as base64 in its run command script, and a script holds "
                            "at most 262,144")
    # what fits is taken, on both OSes
    (project / "files" / "fits.bin").write_bytes(os.urandom(180_000))
    for stack, destination in (("dev", "/opt/fits.bin"), ("win", "C:\\fits.bin")):
        raw = with_steps(stack, [{"file": {"source": "files/fits.bin",
                                           "destination": destination}}])
        load_spec(raw["vmimage:pipeline"], location="westeurope")


def test_a_link_out_of_the_project_is_refused(project: Path) -> None:
    (project / "files" / "passwd").symlink_to("/etc/passwd")
    assert problems_of("dev", [{"file": {"source": "files/passwd",
                                         "destination": "/etc/x"}}]) == [
        f"{AT}.file.source: 'files/passwd' leads outside the project (a link)"]


def test_the_fingerprint_holds_what_the_file_is(project: Path) -> None:
    source = project / "files" / "motd"
    source.write_text("one\n")
    raw = with_steps("dev", [{"file": {"source": "files/motd", "destination": "/etc/motd"}}])
    loaded = load_spec(raw["vmimage:pipeline"], location="westeurope").spec
    first = build_fingerprint(loaded, loaded.builds[0])
    (step,) = loaded.builds[0].customize
    assert kind_of(step).fingerprint(step)["file"]["sha256"] == hashlib.sha256(
        b"one\n").hexdigest()
    source.write_text("two\n")
    assert build_fingerprint(loaded, loaded.builds[0]) != first
    # a downloaded file: its uri and its SHA-256
    fingerprints = set()
    for uri, sha in ((BLOB, SHA), (BLOB, "cd" * 32), (BLOB + "2", SHA)):
        raw = with_steps("dev", [{"file": {"uri": uri, "sha256": sha,
                                           "destination": "/opt/agent.tgz"}}])
        loaded = load_spec(raw["vmimage:pipeline"], location="westeurope").spec
        fingerprints.add(build_fingerprint(loaded, loaded.builds[0]))
    assert len(fingerprints) == 3


def test_a_download_without_egress_is_warned_about() -> None:
    raw = with_steps("dev", [{"file": {"uri": BLOB, "sha256": SHA,
                                       "destination": "/opt/agent.tgz"}},
                             {"file": {"source": FIXTURE, "destination": "/etc/motd"}}])
    raw["vmimage:pipeline"]["network"]["egress"] = "none"
    warnings = load_spec(raw["vmimage:pipeline"], location="westeurope").warnings
    egress = [w for w in warnings if "network.egress is none" in w]
    assert egress == [f"{AT}: runs `curl`, but network.egress is none (no way out of the "
                      "subnet): it fails unless it reaches a mirror inside the network"]


# -- registrations under plain mocks ---------------------------------------------------------


def chain(recorded: Recorded) -> list[Any]:
    return [r for r in recorded.resources if r.type in (RUN_COMMAND, RESTART)]


def test_windows_update_registers_its_rounds_in_one_chain() -> None:
    steps = [{"template": "windows/install-features.ps1.j2", "vars": {"features": ["Web-Server"]}},
             {"windowsUpdate": {"rounds": 2, "maxUpdates": 50, "exclude": ["KB5034439"],
                                "categories": ["Security Updates", "Definition Updates"]}},
             {"inline": "Get-WindowsFeature Web-Server"}]
    recorded = run_program(with_steps("win", steps))
    resources = chain(recorded)
    assert [(r.type, r.name) for r in resources] == [
        (RUN_COMMAND, "vmimage-v1-0-0-scripts-customize-0"),
        # install-features' own restart: it runs only if the script asks for one
        (RESTART, "vmimage-v1-0-0-scripts-customize-0-restart"),
        (RUN_COMMAND, "vmimage-v1-0-0-scripts-customize-1-wu1"),
        (RESTART, "vmimage-v1-0-0-scripts-customize-1-wu1-restart"),
        (RUN_COMMAND, "vmimage-v1-0-0-scripts-customize-1-wu2"),
        (RESTART, "vmimage-v1-0-0-scripts-customize-1-wu2-restart"),
        (RUN_COMMAND, "vmimage-v1-0-0-scripts-customize-1-wu-verify"),
        (RUN_COMMAND, "vmimage-v1-0-0-scripts-customize-2"),
        # an inline step on Windows: its exit code 3010 asks for a restart
        (RESTART, "vmimage-v1-0-0-scripts-customize-2-restart"),
    ]
    # each waits for the one before it, and only for it among the steps
    for before, after in zip(resources, resources[1:], strict=False):
        assert before.urn in after.dependencies, after.name
        assert not {r.urn for r in resources if r is not before} & set(after.dependencies)
    commands = [r for r in resources if r.type == RUN_COMMAND]
    assert [c.inputs["runCommandName"] for c in commands] == [
        "customize-00-install-features", "customize-01-windows-update-r1",
        "customize-01-windows-update-r2", "customize-01-windows-update-verify",
        "customize-02-inline"]
    rounds = commands[1:4]
    for command in rounds:
        assert command.inputs["treatFailureAsDeploymentFailure"] is True
        assert command.inputs["timeoutInSeconds"] == 3600
        script = command.inputs["source"]["script"]
        assert "New-Object -ComObject Microsoft.Update.Session" in script
        assert "$categoryIds = @('0fa1201d-4330-4fa8-8ae9-b877473b6441', " \
               "'e0789628-ce08-4437-be74-2495b842f43b')" in script
        assert "$exclude = @('KB5034439')" in script
        assert "$maxUpdates = [int]'50'" in script
        assert "PSWindowsUpdate" not in script and "Install-Module" not in script
    assert "$round = [int]'1'" in rounds[0].inputs["source"]["script"]
    assert "$round = [int]'2'" in rounds[1].inputs["source"]["script"]
    assert "$installer.Install()" not in rounds[2].inputs["source"]["script"]
    assert "still pending" in rounds[2].inputs["source"]["script"]
    for restart in (r for r in resources if r.type == RESTART):
        assert restart.inputs["timeoutSeconds"] == 1800
        before = resources[resources.index(restart) - 1]
        assert restart.inputs["after"] == f"/mock/{RUN_COMMAND}/{before.name}"


def test_file_registers_one_run_command_with_the_file_in_it() -> None:
    steps = [{"template": "linux/install-packages.sh.j2", "vars": {"packages": ["nginx"]}},
             {"file": {"source": FIXTURE, "destination": "/etc/motd", "mode": "0640"}}]
    recorded = run_program(with_steps("dev", steps))
    first, copy_file = chain(recorded)
    assert copy_file.name == "vmimage-v1-0-0-scripts-customize-1"
    assert copy_file.inputs["runCommandName"] == "customize-01-copy-file"
    assert first.urn in copy_file.dependencies
    script = copy_file.inputs["source"]["script"]
    payload = script.split("<<'VMIMAGE_PAYLOAD'", 1)[1].split("\nVMIMAGE_PAYLOAD\n")[0]
    assert base64.b64decode(payload.split("\n", 1)[1]) == FIXTURE_BYTES
    assert f"expected={FIXTURE_SHA}" in script and "chmod 0640" in script


def blob_script(recorded: Recorded) -> str:
    (command,) = recorded.of_type(RUN_COMMAND)
    return str(command.inputs["source"]["script"])


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_a_blob_is_read_with_the_build_s_identity(stack: str) -> None:
    destination = "/opt/agent.tgz" if stack == "dev" else "C:\\agent\\agent.tgz"
    step = {"file": {"uri": BLOB, "sha256": SHA, "destination": destination}}
    token = ("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
             "&resource=https://storage.azure.com/")
    # the build's only identity
    script = blob_script(run_program(with_steps(stack, [step], identities=[IDENTITY])))
    assert f"{token}&msi_res_id={quote(IDENTITY, safe='')}" in script
    assert "2020-04-08" in script and "Bearer" in script
    # one of several, named
    named = copy.deepcopy(step)
    named["file"]["identity"] = OTHER_IDENTITY
    script = blob_script(run_program(with_steps(stack, [named],
                                                identities=[IDENTITY, OTHER_IDENTITY])))
    assert f"msi_res_id={quote(OTHER_IDENTITY, safe='')}" in script
    # none: anonymously (a public container), no token asked for
    script = blob_script(run_program(with_steps(stack, [step])))
    assert "169.254.169.254" not in script and "Bearer" not in script


def test_a_build_with_several_identities_must_name_one() -> None:
    """Checked with the spec: refused before anything is registered."""
    step = {"file": {"uri": BLOB, "sha256": SHA, "destination": "/opt/agent.tgz"}}
    recorded = Recorded()
    with pytest.raises(Exception, match=r"builds\[0\]\.customize\[0\]\.file\.identity: the "
                       "build has 2 identities: name the one that reads the blob with "
                       "identity"):
        run_program(with_steps("dev", [step], identities=[IDENTITY, OTHER_IDENTITY]),
                    recorded=recorded)
    assert not recorded.resources
    step["file"]["identity"] = OTHER_IDENTITY
    with pytest.raises(Exception, match=r"file\.identity: '/subscriptions/.*/id-other' is "
                       "not one of the build's identities"):
        run_program(with_steps("dev", [step], identities=[IDENTITY]), recorded=recorded)
    assert not recorded.resources


def test_the_rounds_run_one_after_another_on_the_simulated_azure() -> None:
    config = with_steps("win", [{"windowsUpdate": {"rounds": 2}},
                                {"file": {"source": FIXTURE, "destination": "C:\\motd.txt"}}])
    run = up(StackConfig("win", config), latency=LatencyModel()).run
    assert not (run.failures or run.error or run.config_problems), run.error or run.failures
    steps = sorted((r for r in run.registrations if r.type in (RUN_COMMAND, RESTART)),
                   key=lambda r: r.start_s)
    assert [r.type for r in steps] == [RUN_COMMAND, RESTART, RUN_COMMAND, RESTART,
                                       RUN_COMMAND, RUN_COMMAND]
    for before, after in zip(steps, steps[1:], strict=False):
        assert after.start_s >= before.end_s and before.urn in after.dependencies
    assert all(r.outputs["agentStatus"] == "Ready" for r in steps if r.type == RESTART)


# -- the Linux script, run by bash -------------------------------------------------------

#: Everything the script may run; nothing else of this machine is on PATH.
TOOLS = ("bash", "base64", "chmod", "mkdir", "mktemp", "mv", "rm", "sed", "sha256sum")
CURL_STUB = f"""#!{sys.executable}
# curl, as the script calls it: the IMDS token, or a download to -o (headers from -H and,
# with --config -, from stdin). Logs each call as one line of JSON.
import json, os, sys
args = sys.argv[1:]
config = sys.stdin.read() if "--config" in args else ""
call = {{"args": args, "config": config}}
with open(os.environ["CURL_LOG"], "a") as log:
    log.write(json.dumps(call) + "\\n")
url = args[-1]
if url.startswith("http://169.254.169.254/"):
    print(json.dumps({{"access_token": "tok.en-1", "expires_in": "86399"}}))
    sys.exit(0)
with open(args[args.index("-o") + 1], "wb") as out:
    out.write(open(os.environ["CURL_BODY"], "rb").read())
"""


@pytest.fixture
def guest(tmp_path: Path) -> dict[str, Any]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    curl = bin_dir / "curl"
    curl.write_text(CURL_STUB)
    curl.chmod(0o755)
    root = tmp_path / "root"
    root.mkdir()
    body = tmp_path / "body"
    body.write_bytes(FIXTURE_BYTES)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "CURL_LOG": str(tmp_path / "curl.log"),
           "CURL_BODY": str(body)}
    return {"root": root, "env": env, "log": tmp_path / "curl.log", "tmp": tmp_path}


def run_linux(guest: dict[str, Any], options: dict[str, Any], *, identity: str | None = None,
              sha256: str | None = None) -> subprocess.CompletedProcess[str]:
    variables = file_kind.variables(file_kind.FileOptions(**options), os="linux",
                                    identity=identity)
    if sha256 is not None:
        variables["sha256"] = sha256  # as if the file changed under its checksum
    script = guest["tmp"] / "copy.sh"
    script.write_text(render(file_kind.TEMPLATES["linux"], variables, os="linux",
                             vm_name="vm-build-1"))
    return subprocess.run(["bash", str(script)], env=guest["env"], capture_output=True,
                          text=True, timeout=60, cwd=guest["tmp"])


needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@needs_bash
def test_the_embedded_file_lands_with_its_content_and_mode(guest: dict[str, Any]) -> None:
    destination = guest["root"] / "etc" / "motd.d" / "10-vmimage"
    done = run_linux(guest, {"source": FIXTURE, "destination": str(destination),
                             "mode": "0640"})
    assert done.returncode == 0, done.stderr
    assert destination.read_bytes() == FIXTURE_BYTES
    assert stat.S_IMODE(destination.stat().st_mode) == 0o640
    assert os.listdir(destination.parent) == ["10-vmimage"]  # no temporary file left
    assert f"SHA-256 {FIXTURE_SHA}" in done.stdout
    assert not guest["log"].exists()  # nothing downloaded


@needs_bash
def test_an_empty_file_is_embedded_not_downloaded(guest: dict[str, Any], project: Path,
                                                  ) -> None:
    (project / "files" / "empty").write_bytes(b"")
    destination = guest["root"] / "etc" / "vmimage-built"
    done = run_linux(guest, {"source": "files/empty", "destination": str(destination)})
    assert done.returncode == 0, done.stderr
    assert destination.read_bytes() == b"" and not guest["log"].exists()


@needs_bash
def test_a_wrong_checksum_fails_and_writes_nothing(guest: dict[str, Any]) -> None:
    destination = guest["root"] / "etc" / "motd"
    done = run_linux(guest, {"source": FIXTURE, "destination": str(destination)}, sha256=SHA)
    assert done.returncode == 1
    assert f"SHA-256 is {FIXTURE_SHA}, expected {SHA}; not written" in done.stderr
    assert os.listdir(destination.parent) == []
    # an existing destination stays as it was
    destination.write_text("before\n")
    done = run_linux(guest, {"source": FIXTURE, "destination": str(destination)}, sha256=SHA)
    assert done.returncode == 1
    assert destination.read_text() == "before\n"
    assert os.listdir(destination.parent) == ["motd"]


@needs_bash
def test_a_blob_is_fetched_with_a_token_that_never_is_an_argument(
        guest: dict[str, Any]) -> None:
    destination = guest["root"] / "opt" / "agent.tgz"
    done = run_linux(guest, {"uri": BLOB, "sha256": FIXTURE_SHA,
                             "destination": str(destination)}, identity=IDENTITY)
    assert done.returncode == 0, done.stderr
    assert destination.read_bytes() == FIXTURE_BYTES
    imds, download = (json.loads(line) for line in guest["log"].read_text().splitlines())
    assert imds["args"][-1] == file_kind.token_url(IDENTITY)
    assert "Metadata: true" in imds["args"] and "--noproxy" in imds["args"]
    assert download["args"][-1] == BLOB
    assert "x-ms-version: 2020-04-08" in download["args"]
    assert download["config"] == 'header = "Authorization: Bearer tok.en-1"\n'
    assert not any("tok.en-1" in a for a in download["args"])
    assert "--proto" in download["args"]


@needs_bash
def test_a_download_with_another_checksum_is_not_written(guest: dict[str, Any]) -> None:
    destination = guest["root"] / "opt" / "tool"
    done = run_linux(guest, {"uri": "https://example.com/tool", "sha256": SHA,
                             "destination": str(destination)})
    assert done.returncode == 1
    assert "not written" in done.stderr
    assert os.listdir(destination.parent) == []
    (download,) = (json.loads(line) for line in guest["log"].read_text().splitlines())
    assert "--config" not in download["args"]  # no token for what is not a blob


@needs_bash
def test_hostile_destinations_stay_one_path(guest: dict[str, Any]) -> None:
    """Bypassing validation: a destination with shell syntax is still one path."""
    mark = guest["tmp"] / "pwned"
    destination = guest["root"] / f"$(touch {mark}) ; `touch {mark}`"
    done = run_linux(guest, {"source": FIXTURE, "destination": str(destination)})
    assert done.returncode == 0, done.stderr
    assert destination.read_bytes() == FIXTURE_BYTES and not mark.exists()


# -- the PowerShell scripts, read back as PowerShell reads them ------------------------------

MARK = "Harmless-Value"


def literal_slots(template: str, variables: dict[str, Any], vm_name: str = "vm1",
                  ) -> tuple[list[str], str]:
    return powershell_strings(render(template, variables, os="windows", vm_name=vm_name))


def assert_one_literal(template: str, build: Any, value: str) -> None:
    """`build(v)` gives (vars, vm_name) with `v` where one config value goes: rendered with
    the hostile value, the code is the harmless one's and the value is exactly the one
    literal the harmless value was."""
    harmless_literals, harmless_code = literal_slots(template, *build(MARK))
    hostile_literals, hostile_code = literal_slots(template, *build(value))
    assert hostile_code == harmless_code
    assert harmless_literals.count(MARK) == 1
    assert hostile_literals == [value if lit == MARK else lit for lit in harmless_literals]


def update_vars(**changed: Any) -> dict[str, Any]:
    variables: dict[str, Any] = {
        "categories": ["Security Updates"], "category_ids": [CATEGORIES["Security Updates"]],
        "exclude": ["KB5034439", "Preview"], "max_updates": 100, "round": 1, "rounds": 3,
        "verify": False}
    return {**variables, **changed}


@pytest.mark.parametrize("verify", [False, True])
@pytest.mark.parametrize("value", POWERSHELL_HOSTILE)
def test_windows_update_keeps_every_config_value_one_literal(value: str, verify: bool) -> None:
    slots = {
        "exclude": lambda v: (update_vars(exclude=["KB5034439", v], verify=verify), "vm1"),
        "categories": lambda v: (update_vars(categories=[v], verify=verify), "vm1"),
        "category_ids": lambda v: (update_vars(category_ids=[v], verify=verify), "vm1"),
        "vm_name": lambda v: (update_vars(verify=verify), v),
    }
    for build in slots.values():
        assert_one_literal(TEMPLATE, build, value)


def test_windows_update_numbers_are_literals_too() -> None:
    literals, code = literal_slots(TEMPLATE, update_vars(max_updates=7, round=2, rounds=4))
    assert "$maxUpdates = [int]<literal>" in code and "$round = [int]<literal>" in code
    assert {"7", "2", "4"} <= set(literals)
    assert "$ErrorActionPreference = <literal>" in code and "Stop" in literals
    assert "exit 1" in code


def copy_vars(**changed: Any) -> dict[str, Any]:
    variables: dict[str, Any] = {
        "destination": "C:\\tools\\agent.tgz", "sha256": SHA, "embedded": False, "payload": "",
        "uri": BLOB, "token_url": file_kind.token_url(IDENTITY),
        "blob_api_version": file_kind.BLOB_API_VERSION,
        "blob_host_suffixes": list(file_kind.BLOB_HOST_SUFFIXES)}
    return {**variables, **changed}


@pytest.mark.parametrize("value", POWERSHELL_HOSTILE)
def test_copy_file_keeps_every_config_value_one_literal(value: str) -> None:
    template = file_kind.TEMPLATES["windows"]
    embedded = {"embedded": True, "payload": base64.b64encode(FIXTURE_BYTES).decode(),
                "uri": "", "token_url": ""}
    slots = [
        lambda v: (copy_vars(destination=v), "vm1"),
        lambda v: (copy_vars(destination=v, **embedded), "vm1"),
        lambda v: (copy_vars(uri=v), "vm1"),
        lambda v: (copy_vars(uri=v, token_url=""), "vm1"),
        lambda v: (copy_vars(sha256=v), "vm1"),
    ]
    if value:  # an empty token_url means: no token (another branch of the script)
        slots.append(lambda v: (copy_vars(token_url=v), "vm1"))
    for build in slots:
        assert_one_literal(template, build, value)


def test_the_windows_scripts_check_before_they_move() -> None:
    options = file_kind.FileOptions(source=FIXTURE, destination="C:\\ProgramData\\motd.txt")
    script = file_kind.render_script(options, os="windows", vm_name="vm1", identity=None)
    literals, code = powershell_strings(script)
    assert "[Convert]::FromBase64String($payload)" in code
    wrapped = base64.b64encode(FIXTURE_BYTES).decode()
    assert [lit for lit in literals if "".join(lit.split()) == wrapped]  # the file, as one
    assert FIXTURE_SHA in literals and "C:\\ProgramData\\motd.txt" in literals
    assert code.index("Get-FileHash") < code.index("[IO.File]::Move")
    assert "exit 1" in code and "Invoke-WebRequest" not in code
    blob = file_kind.render_script(
        file_kind.FileOptions(uri=BLOB, sha256=SHA.upper(), destination="C:\\a\\b.tgz"),
        os="windows", vm_name="vm1", identity=IDENTITY)
    literals, code = powershell_strings(blob)
    assert file_kind.token_url(IDENTITY) in literals and SHA in literals
    assert "x-ms-version" in literals and file_kind.BLOB_API_VERSION in literals
    assert code.index("Invoke-RestMethod") < code.index("Invoke-WebRequest") < \
        code.index("Get-FileHash")
