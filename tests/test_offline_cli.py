"""`python -m offline up`: both example stacks run offline; the report's contract; stage
order from the operations' simulated times; exit codes and output for bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from conftest import ROOT
from rich.console import Console

from offline.cli import main

VM = "azure-native:compute:VirtualMachine"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
GENERALIZE = "pulumi-python:dynamic/vmimage:Generalize"
CAPTURE = ("azure-native:compute:GalleryImageVersion", "azure-native:compute:Image")
RESOURCE_KEYS = {"urn", "type", "name", "azureName", "parent", "dependsOn", "state"}
OPERATION_KEYS = {"resource", "op", "start_s", "end_s"}


def cli(*argv):
    out = io.StringIO()
    code = main(list(argv), console=Console(file=out, width=200, highlight=False))
    return code, out.getvalue()


def up_with_report(tmp_path_factory, *argv):
    path = tmp_path_factory.mktemp("report") / "report.json"
    code, text = cli("up", *argv, "--report-json", str(path))
    assert code == 0, text
    return json.loads(path.read_text()), text


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    return up_with_report(tmp_path_factory, "--stack", "dev")


@pytest.fixture(scope="module")
def win(tmp_path_factory):
    return up_with_report(tmp_path_factory, "--stack", "win")


class Run:
    """The report, indexed for stage-order assertions."""

    def __init__(self, report):
        self.report = report
        self.resources = {r["urn"]: r for r in report["resources"]}
        self.ops = report["operations"]

    def of_type(self, type_, parent_type=None):
        return [r for r in self.report["resources"] if r["type"] == type_
                and (parent_type is None or f"{parent_type}${type_}" in r["urn"])]

    def ops_of(self, resource, *names):
        found = [o for o in self.ops if o["resource"] == resource["urn"]
                 and (not names or o["op"] in names)]
        assert found, f"no {names or 'operations'} for {resource['name']}"
        return found

    def start(self, resource, *names):
        return min(o["start_s"] for o in self.ops_of(resource, *names))

    def end(self, resource, *names):
        return max(o["end_s"] for o in self.ops_of(resource, *names))

    def build_vm(self):
        (vm,) = self.of_type(VM, "vmimage:index:BuildVm")
        return vm

    def clone_vms(self):
        return self.of_type(VM, "vmimage:index:CloneSet")

    def customize(self):
        return [r for r in self.of_type(RUN_COMMAND) if "-customize-" in r["name"]]


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_report_has_the_contract_keys(stack, request):
    report, text = request.getfixturevalue(stack)
    assert {"resources", "operations", "makespan_s", "criticalPath", "outputs"} <= set(report)
    for resource in report["resources"]:
        assert RESOURCE_KEYS <= set(resource), resource
        assert isinstance(resource["dependsOn"], list)
    urns = {r["urn"] for r in report["resources"]}
    for resource in report["resources"]:
        assert set(resource["dependsOn"]) <= urns
        assert resource["parent"] is None or resource["parent"] in urns or (
            "pulumi:pulumi:Stack" in resource["parent"])
    for op in report["operations"]:
        assert set(op) == OPERATION_KEYS
        assert op["resource"] in urns
        assert 0 <= op["start_s"] <= op["end_s"]
    assert report["makespan_s"] == max(o["end_s"] for o in report["operations"])
    assert f"stack {stack}:" in text


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_stage_order_from_operation_times(stack, request):
    run = Run(request.getfixturevalue(stack)[0])
    vm = run.build_vm()
    customize = run.customize()
    (generalize,) = run.of_type(GENERALIZE)
    captures = [r for r in run.report["resources"] if r["type"] in CAPTURE]
    clones = run.clone_vms()
    assert customize and captures and clones

    vm_created = run.end(vm, "create")
    assert all(vm_created <= run.start(c) for c in customize)
    customized = max(run.end(c) for c in customize)
    steps = ["seal", "wait-for-guest-power-off", "deallocate", "generalize"]
    if stack == "win":
        steps.insert(0, "seal-checks")
    ops = sorted(run.ops_of(generalize), key=lambda o: o["start_s"])
    assert [o["op"] for o in ops] == steps
    assert customized <= ops[0]["start_s"]
    for before, after in zip(ops, ops[1:], strict=False):
        assert before["end_s"] <= after["start_s"]
    generalized = run.end(generalize, "generalize")
    assert all(generalized <= run.start(c) for c in captures)
    captured = max(run.end(c) for c in captures)
    assert all(captured <= run.start(c) for c in clones)


def test_customize_steps_run_one_after_another(dev):
    run = Run(dev[0])
    ordered = sorted(run.customize(), key=lambda c: c["name"])
    for before, after in zip(ordered, ordered[1:], strict=False):
        assert run.end(before) <= run.start(after)


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_generalize_waits_for_the_sealed_guest_to_power_off(stack, request):
    """Both OSes: the seal ends with the guest powering itself off, and only then does
    ARM deallocate (Linux's deprovision is detached from the agent that reports)."""
    run = Run(request.getfixturevalue(stack)[0])
    (generalize,) = run.of_type(GENERALIZE)
    (wait,) = run.ops_of(generalize, "wait-for-guest-power-off")
    assert run.end(generalize, "seal") <= wait["start_s"] < wait["end_s"]
    assert wait["end_s"] <= run.start(generalize, "deallocate")


@pytest.mark.parametrize(("stack", "clones"), [("dev", 3), ("win", 2)])
def test_final_vm_states(stack, clones, request):
    report, text = request.getfixturevalue(stack)
    run = Run(report)
    assert run.build_vm()["state"] == "PowerState/deallocated, OSState/generalized"
    states = [c["state"] for c in run.clone_vms()]
    assert len(states) == clones
    assert all(s.startswith("PowerState/running") for s in states)
    assert report["outputs"]["buildVmStates"] == {
        "1.0.0": {"powerState": "deallocated", "osState": "generalized"}
    }
    assert "VM states" in text and "generalized" in text


def test_outputs(dev, win):
    dev_out, win_out = dev[0]["outputs"], win[0]["outputs"]
    assert set(dev_out["imageVersionIds"]) == {"1.0.0"}
    assert dev_out["imageVersionIds"]["1.0.0"].endswith(
        "/galleries/galvmimagedev/images/web-ubuntu/versions/1.0.0")
    assert [c["name"] for c in dev_out["clones"]["web"]["vms"]] == [
        "web-1-0-0-000", "web-1-0-0-001", "web-1-0-0-002"]
    assert "adminPassword" not in dev_out
    assert win_out["adminPassword"] == "[secret]"
    assert len(win_out["clones"]["iis"]["vms"]) == 2


def test_printed_run_shows_tree_stages_and_outputs(dev):
    report, text = dev
    assert "protected" in text
    # The stages table: one row per stage, in pipeline order, each with its times.
    table = text[text.index("Stages (simulated time)"):text.index("VM states")]
    rows = [line.split("│")[1].strip() for line in table.splitlines()
            if line.startswith("│")]
    assert rows == ["foundation", "build", "customize", "deprovision", "generalize",
                    "capture", "clone"]
    assert "Outputs:" in text and "imageVersionIds" in text
    assert "Traceback" not in text


def _tree_lines(text):
    """(depth, logical name) of each line of the printed resource tree."""
    tree = text[:text.index("Stages (simulated time)")].splitlines()[1:]
    found = []
    for line in tree:
        body = line.lstrip("│├└─ ")
        depth = (len(line) - len(body)) // 4
        found.append((depth, body.split()[-1] if "(" not in body else body.split("  ")[1]))
    return found


def test_printed_tree_nests_every_resource_under_its_parent(dev):
    """Each line sits one level below its parent's line, as in `pulumi preview`."""
    report, text = dev
    by_name = {r["name"]: r for r in report["resources"]}
    by_urn = {r["urn"]: r for r in report["resources"]}
    lines = _tree_lines(text)
    assert {name for _, name in lines} == set(by_name)
    stack_depth = 0
    for index, (depth, name) in enumerate(lines):
        parent = by_urn.get(by_name[name]["parent"])
        if parent is None:  # a child of the stack
            assert depth == stack_depth + 1, name
            continue
        # The nearest line above at one level less is the parent.
        above = next(n for d, n in reversed(lines[:index]) if d == depth - 1)
        assert above == parent["name"], (name, above, parent["name"])
    # stack > pipeline > image build > component > resource
    assert max(depth for depth, _ in lines) == 4


# -- critical path ----------------------------------------------------------------------------

def _ancestors(resources, urn):
    found = []
    while urn in resources:
        urn = resources[urn]["parent"]
        found.append(urn)
    return found


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_critical_path(stack, request):
    report = request.getfixturevalue(stack)[0]
    run = Run(report)
    path = report["criticalPath"]
    assert len(path) >= 5
    first, last = run.resources[path[0]], run.resources[path[-1]]
    # Starts at a foundation resource: nothing custom before it.
    assert first["type"] == "azure-native:resources:ResourceGroup"
    assert [d for d in first["dependsOn"] if run.resources[d]["state"] != "component"] == []
    # Ends at the resource that finishes last.
    assert run.end(last) == report["makespan_s"]
    # Each element waits on the one before it (directly, or on a component holding it).
    for before, after in zip(path, path[1:], strict=False):
        deps = set(run.resources[after]["dependsOn"])
        assert before in deps or deps & set(_ancestors(run.resources, before)), (before, after)
        assert run.end(run.resources[before]) <= run.start(run.resources[after])
    names = [run.resources[u]["type"] for u in path]
    for type_ in (VM, RUN_COMMAND, GENERALIZE, "azure-native:compute:GalleryImageVersion"):
        assert type_ in names


# -- overrides and bad input ------------------------------------------------------------------

def test_set_clone_count(tmp_path_factory):
    report, _ = up_with_report(tmp_path_factory, "--stack", "dev", "--set", "clones[0].count=5")
    run = Run(report)
    clones = run.clone_vms()
    assert len(clones) == 5
    assert sorted(c["azureName"] for c in clones) == [f"web-1-0-0-{i:03d}" for i in range(5)]
    assert len(report["outputs"]["clones"]["web"]["vms"]) == 5


def test_invalid_config_prints_only_the_problem_lines():
    code, text = cli("up", "--stack", "dev", "--set", "builds[0].dataDisks[1].lun=0",
                     "--set", "clones[0].version=9.9.9")
    assert code == 2
    assert text.splitlines() == [
        "builds[0].dataDisks[1].lun: LUN 0 is used twice",
        "clones[0].version: 9.9.9 is not built here (versions: 1.0.0)",
    ]


def test_invalid_config_writes_no_report(tmp_path):
    path = tmp_path / "report.json"
    code, _ = cli("up", "--stack", "dev", "--set", "clones[0].cont=1", "--report-json", str(path))
    assert code == 2
    assert not path.exists()


@pytest.mark.parametrize("bad", ["clones[7].count=1", "clones[x].count=1", "clones[0].count",
                                 "network.addressSpace.x=1"])
def test_bad_set_path_exits_2(bad):
    code, text = cli("up", "--stack", "dev", "--set", bad)
    assert code == 2
    assert "--set" in text
    assert "Traceback" not in text


def test_nonexistent_stack_exits_2(tmp_path):
    code, text = cli("up", "--stack", "nope")
    assert code == 2 and "Pulumi.nope.yaml" in text and "Traceback" not in text
    code, text = cli("up", "--stack-file", str(tmp_path / "Pulumi.x.yaml"))
    assert code == 2 and "Traceback" not in text


def test_stack_file_that_is_not_a_stack_exits_2(tmp_path):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text("config: [1, 2\n")
    code, text = cli("up", "--stack-file", str(path))
    assert code == 2 and "invalid YAML" in text
    path.write_text("just: text\n")
    code, text = cli("up", "--stack-file", str(path))
    assert code == 2 and "config:" in text


@pytest.mark.parametrize("argv", [[], ["up"], ["up", "--stack", "dev", "--stack-file", "x"],
                                  ["down", "--stack", "dev"]])
def test_usage_errors_exit_2(argv):
    code, text = cli(*argv)
    assert code == 2 and text.startswith("error:")


def test_module_entry_point_runs_the_dev_stack():
    done = subprocess.run(
        [sys.executable, "-m", "offline", "up", "--stack", "dev"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "stack dev:" in done.stdout
    assert "vm-build-web-ubuntu-1-0-0" in done.stdout


# -- the command: help, any directory, output paths, progress, widths --------------------------

MAX_OK_WIDTH = 80


def _run_module(*argv, cwd, env=None, timeout=120):
    """`python -m offline ...` in a fresh process, from `cwd` (not the project)."""
    import os

    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "offline", *argv], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("argv", [["--help"], ["up", "--help"], ["up", "-h"]])
def test_help_shows_examples_and_exit_codes(argv, capsys, monkeypatch):
    from offline.cli import EXIT_INVALID, EXIT_OK, EXIT_REFUSED

    monkeypatch.setenv("COLUMNS", "80")
    code, text = cli(*argv)
    shown = capsys.readouterr().out
    assert code == EXIT_OK and text == ""
    assert "examples:" in shown and "exit codes:" in shown
    for example in ("up --stack dev\n", "--state out/dev.state.json --markdown out/plan.md",
                    "--faults throttle=", "--existing-subnet", "--existing /subscriptions"):
        assert example in shown, example
    codes = shown[shown.index("exit codes:"):]
    for value, words in ((EXIT_OK, "succeeded"), (EXIT_REFUSED, "mandatory policy"),
                         (EXIT_INVALID, "invalid usage or config")):
        assert f"\n  {value}  " in codes and words in codes
    assert max(len(line) for line in shown.splitlines()) <= MAX_OK_WIDTH
    if argv[0] == "up":
        assert "--progress" in shown and "--stack NAME" in shown


def test_prog_name_follows_how_it_was_run():
    from offline.cli import parser, prog_name

    assert prog_name("/venv/bin/vmimage-offline") == "vmimage-offline"
    assert prog_name("/work/main/offline/__main__.py") == "python -m offline"
    assert "vmimage-offline up --stack dev" in parser("vmimage-offline").format_help()


def test_usage_error_points_to_help():
    code, text = cli("up", "--stack", "dev", "--bogus")
    assert code == 2
    assert text.splitlines()[0] == "error: unknown flag --bogus"
    assert "up --help" in text


@pytest.mark.parametrize(("argv", "expected"), [(["--help"], 0), (["up"], 2),
                                                (["up", "--stack", "nope"], 2)])
def test_console_entry_point_exits_with_mains_code(argv, expected, monkeypatch, capsys):
    """`vmimage-offline` ([project.scripts] -> offline.cli:entry)."""
    import offline.cli

    monkeypatch.setattr(sys, "argv", ["vmimage-offline", *argv])
    with pytest.raises(SystemExit) as exited:
        offline.cli.entry()
    assert exited.value.code == expected
    assert "Traceback" not in capsys.readouterr().out


def test_unknown_stack_names_the_file_and_the_stacks_there():
    code, text = cli("up", "--stack", "nope")
    assert code == 2
    assert f"no {ROOT / 'stacks' / 'Pulumi.nope.yaml'}" in text
    assert "stacks there: confidential, corp, dev, estate, import, win" in text


def test_runs_from_any_directory_with_relative_sources(tmp_path):
    """--stack finds the project's stacks/ and __main__.py from elsewhere, and script:
    and file: sources resolve against the project, not the current directory; COLUMNS
    narrows every printed line."""
    done = _run_module(
        "up", "--stack", "dev",
        "--set", "builds[0].customize[1]={script: scripts/linux/harden-ssh.sh}",
        "--set", "builds[0].customize[2]={file: {source: scripts/linux/harden-ssh.sh, "
        "destination: /opt/harden-ssh.sh}}",
        cwd=tmp_path, env={"COLUMNS": str(MAX_OK_WIDTH)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stack dev:" in done.stdout and "customize-2" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert "running the program" not in done.stderr  # not a terminal: no progress
    wide = [line for line in done.stdout.splitlines() if len(line) > MAX_OK_WIDTH]
    assert wide == []
    assert "Policy" in done.stdout and "VM states" in done.stdout


def test_a_log_without_columns_is_wide(tmp_path):
    """Not a terminal and no COLUMNS (a CI log): 200 columns, the tree is not wrapped."""
    done = _run_module("up", "--stack", "dev", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if "vmimage-v1-0-0-build-nic" in x)
    assert line.rstrip().endswith("(nic-vm-build-web-ubuntu-1-0-0)")
    assert max(len(x) for x in done.stdout.splitlines()) <= 200


def test_stack_file_relative_to_the_current_directory(tmp_path):
    (tmp_path / "Pulumi.mine.yaml").write_text(
        (ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    done = _run_module("up", "--stack-file", "Pulumi.mine.yaml", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("stack mine:")


def test_console_width():
    from offline.cli import LOG_WIDTH, console_width

    assert console_width({"COLUMNS": "80"}, tty=False) == 80
    assert console_width({"COLUMNS": "80"}, tty=True) == 80
    assert console_width({}, tty=False) == LOG_WIDTH
    assert console_width({}, tty=True) is None  # rich asks the terminal
    assert console_width({"COLUMNS": "wide"}, tty=False) == LOG_WIDTH
    assert console_width({"COLUMNS": "0"}, tty=False) == LOG_WIDTH


def test_main_without_a_console_honours_columns(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["up", "--stack", "dev", "--set", "clones[0].count=2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("stack dev:" in line for line in lines)
    assert max(len(line) for line in lines) <= 60


# -- finding the project -------------------------------------------------------------------------

def _project(folder, *, name="vmimage", stack_dir="stacks"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text(
        f"name: {name}\nruntime: python\n" + (f"stackConfigDir: {stack_dir}\n" if stack_dir
                                              else ""))
    return folder


def test_find_project_searches_upward_then_falls_back(tmp_path):
    from offline.runner import PROJECT_DIR, find_project, stack_file, stacks_dir

    project = _project(tmp_path / "checkout")
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project(deep) == project
    assert stack_file("dev", project) == project / "stacks" / "Pulumi.dev.yaml"
    # Another Pulumi project (examples/consumer) is not the vmimage project.
    assert find_project(ROOT / "examples" / "consumer") == ROOT
    _project(tmp_path / "other", name="vmimage-consumer")
    assert find_project(tmp_path / "other") == PROJECT_DIR
    assert find_project(tmp_path) == PROJECT_DIR
    # Without stackConfigDir, stack files sit beside Pulumi.yaml (as for the Pulumi CLI).
    plain = _project(tmp_path / "plain", stack_dir=None)
    assert stacks_dir(plain) == plain
    assert stack_file("dev") == ROOT / "stacks" / "Pulumi.dev.yaml"


def test_the_project_found_from_the_current_directory_is_run(tmp_path, monkeypatch):
    """Its stacks and its __main__.py (here a copy that exports one more output)."""
    project = _project(tmp_path / "checkout")
    (project / "stacks").mkdir()
    (project / "stacks" / "Pulumi.mine.yaml").write_text(
        (ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    (project / "__main__.py").write_text(
        (ROOT / "__main__.py").read_text() + '\npulumi.export("fromTheCopy", True)\n')
    (project / "sub").mkdir()
    monkeypatch.chdir(project / "sub")
    code, text = cli("up", "--stack", "mine")
    assert code == 0, text
    assert "fromTheCopy: true" in text
    assert f"note: project {project} runs with the vmimage package installed from" in text
    code, text = cli("up", "--stack", "dev")
    assert code == 2 and f"no {project / 'stacks' / 'Pulumi.dev.yaml'}" in text
    assert "stacks there: mine" in text


def test_no_project_anywhere_exits_2(tmp_path, monkeypatch):
    import offline.cli
    import offline.runner

    monkeypatch.setattr(offline.runner, "PROJECT_DIR", tmp_path / "site-packages")
    monkeypatch.setattr(offline.cli, "PROJECT_DIR", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    code, text = cli("up", "--stack", "dev")
    assert code == 2
    assert text.startswith("error: no vmimage project: no Pulumi.yaml of project 'vmimage'")
    assert "Traceback" not in text


# -- output paths, checked before the run --------------------------------------------------------

def _refused_before_the_run(tmp_path, *argv):
    state = tmp_path / "dev.json"
    code, text = cli("up", "--stack", "dev", "--quiet", *argv)
    assert code == 2, text
    assert not state.exists(), "the run went ahead"
    assert "stack dev:" not in text
    return text


@pytest.mark.parametrize("flag", ["--report-json", "--markdown", "--state"])
def test_an_output_under_a_file_is_refused(tmp_path, flag):
    blocker = tmp_path / "report.json"
    blocker.write_text("{}")
    target = blocker / "out"
    extra = ["--state", str(tmp_path / "dev.json")] if flag != "--state" else []
    text = _refused_before_the_run(tmp_path, flag, str(target), *extra)
    assert f"error: {flag} {target}: {blocker} is not a directory" in text


@pytest.mark.parametrize("flag", ["--report-json", "--markdown", "--state"])
def test_an_output_in_a_missing_directory_names_what_is_missing(tmp_path, flag):
    target = tmp_path / "no" / "such" / "out"
    text = _refused_before_the_run(tmp_path, flag, str(target))
    assert (f"error: {flag} {target}: directory {target.parent} does not exist "
            f"(no {tmp_path / 'no'})") in text


@pytest.mark.parametrize("flag", ["--report-json", "--markdown", "--state"])
def test_an_output_that_is_not_writable_is_refused(tmp_path, flag, monkeypatch):
    """(Checked with os.access; faked here, since root may write anything.)"""
    import os

    import offline.cli

    locked = tmp_path / "locked"
    locked.mkdir()
    existing = tmp_path / "existing.out"
    existing.write_text("")

    def access(path, mode):
        return str(path) not in (str(locked), str(existing)) and os.access(path, mode)

    monkeypatch.setattr(offline.cli.os, "access", access)
    text = _refused_before_the_run(tmp_path, flag, str(locked / "out"))
    assert f"error: {flag} {locked / 'out'}: directory {locked} is not writable" in text
    text = _refused_before_the_run(tmp_path, flag, str(existing))
    assert f"error: {flag} {existing}: is not writable" in text


@pytest.mark.parametrize(("first", "second"), [("--report-json", "--markdown"),
                                               ("--markdown", "--state"),
                                               ("--report-json", "--state")])
def test_one_file_for_two_outputs_is_refused(tmp_path, first, second):
    same = tmp_path / "out.txt"
    text = _refused_before_the_run(tmp_path, first, str(same), second, str(same))
    assert f"error: {second} {same}: is also {first}" in text


def test_an_output_may_not_overwrite_the_stack_file_or_the_states_key(tmp_path):
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    code, text = cli("up", "--stack-file", str(stack), "--markdown", str(stack))
    assert code == 2 and f"error: --markdown {stack}: is also the stack file" in text
    state = tmp_path / "dev.json"
    key = tmp_path / "dev.json.key"
    text = _refused_before_the_run(tmp_path, "--state", str(state), "--report-json", str(key))
    assert f"error: --report-json {key}: is also the key of --state" in text


# -- progress --------------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def fast_progress(monkeypatch):
    import offline.runner

    monkeypatch.setattr(offline.runner, "PROGRESS_INTERVAL_S", 0.01)


def test_progress_goes_to_stderr_and_ends_with_a_final_line(fast_progress, capsys):
    code, text = cli("up", "--stack", "dev", "--progress")
    err = capsys.readouterr().err.splitlines()
    assert code == 0, text
    assert any(line.startswith("running the program: ") and "registered so far" in line
               for line in err), err
    assert err[-1].startswith("registered ") and "(19 in the simulated Azure) in " in err[-1]
    assert "registered so far" not in text and "in the simulated Azure) in" not in text


@pytest.mark.parametrize(("argv", "terminal", "shown"), [
    ([], True, True),                          # a person watching
    ([], False, False),                        # a log: only when asked
    (["--progress"], False, True),
    (["--quiet"], True, False),
    (["--quiet", "--progress"], False, True),  # asked for: even with --quiet
    (["--no-progress"], True, False),
])
def test_when_progress_is_shown(argv, terminal, shown, fast_progress, monkeypatch):
    stream = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    code, _ = cli("up", "--stack", "dev", *argv)
    assert code == 0
    assert ("registered 27 resources" in stream.getvalue()) is shown, stream.getvalue()


def test_progress_stops_quietly_when_its_callback_fails(fast_progress):
    import time

    from offline.runner import ticking

    calls = []

    def broken(count):
        calls.append(count)
        raise RuntimeError("stderr is gone")

    with ticking(broken, lambda: 7):
        time.sleep(0.1)
    assert calls == [7]


def test_progress_is_not_reported_outside_reporting_progress(fast_progress):
    from offline.runner import PROGRESS, reporting_progress

    seen = []
    with reporting_progress(seen.append):
        assert PROGRESS.get() is not None
    assert PROGRESS.get() is None
