"""`vmimage-offline up` (or `python -m offline up`): run a stack against the simulated Azure.

Exit codes: 0 success; 2 invalid config (the problem lines, nothing else) or usage; 1 the
simulated Azure refused an operation (resource, ARM code, message), or a mandatory policy
of the pack in policy/ was violated (as `pulumi preview --policy-pack policy` fails).
Never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from offline.arm import SimulatedArm
from offline.arm.tenancy import add_existing, add_existing_subnet, parse_existing
from offline.changes import Change, counts
from offline.escape.terminal import plain, styled, visible
from offline.fault_notes import crash_advice, inapplicable
from offline.faults import FaultPlan
from offline.fit import shorten_ids
from offline.latency import LatencyModel, parse_overrides
from offline.marketplace import CATALOG, parse_entry, parse_version_entry, with_versions
from offline.policy_check import PackConfig, check_run, mandatory, pack_config, violations_json
from offline.quota import parse_quota
from offline.report import duration, report_json, stage_spans, vm_states
from offline.runner import (
    PROJECT_DIR,
    PROJECT_NAME,
    ProgramRun,
    StackConfig,
    StackFileError,
    find_project,
    load_stack,
    program_file,
    reporting_progress,
    stack_file,
    stack_names,
)
from offline.state import StateError, key_file, lock_file
from offline.up import up
from offline.urns import urn_name, urn_type
from vmimage.config.errors import SpecError
from vmimage.policy.rules import Violation
from vmimage.suggest import did_you_mean

EXIT_OK, EXIT_REFUSED, EXIT_INVALID = 0, 1, 2


#: Console width when stdout is not a terminal and COLUMNS is not set (CI logs): wide
#: enough that resource types and names are never cut.
LOG_WIDTH = 200


class UsageError(Exception):
    pass


class HelpShown(Exception):
    """`--help` was printed; argparse would exit the process here, main returns instead."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        # A misspelt flag is named first, with the flag meant: argparse would report a
        # missing --stack before it ever says that --stakc is unknown.
        unknown = unknown_flags(self, sys.argv[1:] if args is None else args)
        if unknown:
            raise UsageError("; ".join(unknown))
        return super().parse_args(args, namespace)

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            sys.stderr.write(message)
        raise HelpShown(status)


def unknown_flags(root: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """`unknown flag --stakc; did you mean --stack?` for each flag no command knows."""
    known = {flag for parser in _parsers(root) for action in parser._actions
             for flag in action.option_strings}
    flags = [arg.partition("=")[0] for arg in argv[:_end_of_flags(argv)]
             if arg.startswith("--") and arg != "--"]
    return [f"unknown flag {flag}" + did_you_mean(flag, known)
            for flag in dict.fromkeys(flags) if flag not in known]


def _end_of_flags(argv: Sequence[str]) -> int:
    return argv.index("--") if "--" in argv else len(argv)


def _parsers(root: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and its subcommands' parsers. (argparse lists a parser's actions only
    in `_actions`; it has kept that name and `_SubParsersAction` since Python 3.2.)"""
    subcommands = [action for action in root._actions
                   if isinstance(action, argparse._SubParsersAction)]
    return [root, *(p for action in subcommands for p in action.choices.values())]

def prog_name(argv0: str | None = None) -> str:
    """How the user ran us: `vmimage-offline` (the console script) or `python -m offline`."""
    name = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    return name if name.startswith("vmimage-offline") else "python -m offline"


DESCRIPTION = """\
Run the vmimage program of a stack against a simulated Azure (no cloud, no
credentials): print its resource tree, stages, VM states, outputs and policy
findings, as `pulumi up` would create them."""


def epilog(prog: str) -> str:
    """Examples, where stacks are found, exit codes (lines within 80 columns)."""
    return f"""\
examples:
  # the dev stack: resource tree, stages, VM states, outputs, policy findings
  {prog} up --stack dev
  # keep the simulated Azure between runs (the next run prints a change
  # summary first, like a preview) and write the plan as a PR comment
  {prog} up --stack dev \\
      --state out/dev.state.json --markdown out/plan.md
  # a flaky Azure, reproducibly
  {prog} up --stack dev --faults throttle=0.2,error5xx=0.1 --seed 7
  # a bigger fleet: only the summary line, and the report as JSON
  {prog} up --stack dev --set 'clones[0].count=100' --quiet \\
      --report-json out/run.json
  # a stack that uses a subnet and resources made outside it (IDs shortened:
  # the whole command is in the README, "Fitting into a tenant")
  {prog} up --stack corp \\
      --existing-subnet /subscriptions/<sub>/.../snet-images=10.60.8.0/24 \\
      --existing /subscriptions/<sub>/.../id-image-builder \\
      --existing /subscriptions/<sub>/.../des-weu \\
      --existing /subscriptions/<sub>/.../des-neu@northeurope

--stack NAME reads Pulumi.NAME.yaml from the stacks directory of the vmimage
project: the nearest directory at or above the current one whose Pulumi.yaml
is project '{PROJECT_NAME}', else the project the package was installed from.
--stack-file takes any path. Output files are checked before anything runs.

exit codes:
  {EXIT_OK}  the run succeeded
  {EXIT_REFUSED}  the run failed or was refused: the simulated Azure refused an
     operation, the program failed, a fault stopped it, a mandatory policy was
     violated, it would delete or replace a protected resource, or it was
     interrupted
  {EXIT_INVALID}  invalid usage or config: a bad flag, stack file, --set or --state,
     or an output file that cannot be written (nothing was run)
"""


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    prog = prog or prog_name()
    root = _Parser(prog=prog, description=DESCRIPTION, epilog=epilog(prog),
                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True, parser_class=_Parser)
    up = commands.add_parser(
        "up", help="run the program against the simulated Azure",
        description=DESCRIPTION, epilog=epilog(prog),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    source = up.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", metavar="NAME", help="stack name: reads "
                        "Pulumi.<NAME>.yaml from the project's stacks/ (see below)")
    source.add_argument("--stack-file", type=Path, metavar="PATH",
                        help="path of a Pulumi.<stack>.yaml")
    up.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                    help="override a value inside vmimage:pipeline, e.g. clones[0].count=50")
    up.add_argument("--report-json", type=Path, metavar="FILE",
                    help="write resources, operations, makespan, critical path, outputs")
    up.add_argument("--latency", action="append", default=[], metavar="KEY=SECONDS",
                    help="override one latency of the model (see offline/latency.py)")
    up.add_argument("--quiet", action="store_true", help="print only the summary line")
    up.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                    help="progress lines on stderr while the program runs (default: only "
                    "when stderr is a terminal and not --quiet)")
    up.add_argument("--faults", default="", metavar="SPEC",
                    help="inject faults: throttle=P,error5xx=P,customize-fail=1,"
                    "sysprep-hang=1,crash-after=K (see offline/faults.py)")
    up.add_argument("--seed", type=int, default=0, metavar="N",
                    help="seed of the fault injection's random draws (default 0)")
    up.add_argument("--state", type=Path, metavar="FILE",
                    help="keep the simulated Azure and this run's resources in FILE; the "
                    "next run against it prints a change summary like a preview")
    up.add_argument("--refresh", action="store_true",
                    help="with --state: first drop from the state what the simulated Azure "
                    "no longer has, as `pulumi up --refresh` does (e.g. a build VM "
                    "onFailure: delete deleted)")
    up.add_argument("--markdown", type=Path, metavar="FILE",
                    help="write the plan as a PR-comment-ready Markdown report")
    up.add_argument("--marketplace-image", action="append", default=[],
                    metavar="PUBLISHER:OFFER:SKU=V2[/Arm64]",
                    help="a marketplace image the simulated Azure should know, beyond its "
                    "catalog (offline/marketplace.py)")
    up.add_argument("--marketplace-version", action="append", default=[],
                    metavar="PUBLISHER:OFFER:SKU=VERSION",
                    help="publish one more version of a marketplace image (e.g. this "
                    "month's); a --state file keeps it")
    up.add_argument("--existing-subnet", action="append", default=[], metavar="ID=PREFIX",
                    help="a subnet that exists before the run (for network.subnetId), "
                    "with its address prefix")
    up.add_argument("--existing", action="append", default=[],
                    metavar="ID[@REGION][;KEY=VALUE...]",
                    help="a user-assigned identity, disk encryption set, storage account, "
                    "gallery image definition or version or managed image that exists "
                    "before the run (region: the stack's location unless given); "
                    ";access=read: the credentials may not write under it; a definition "
                    "takes ;osType=Linux|Windows ;osState=Generalized|Specialized "
                    ";hyperVGeneration=V1|V2 ;architecture=x64|Arm64 ;SecurityType=... "
                    ";DiskControllerTypes=... ;plan=PUBLISHER:PRODUCT:NAME (default: "
                    "Linux, Generalized, V2, x64, no features, no plan)")
    up.add_argument("--quota", action="append", default=[], metavar="NAME=LIMIT",
                    help="a vCPU quota of the simulated subscription: cores (the "
                    "regional total) or a family, e.g. standardDSv5Family=16")
    up.add_argument("--policy-config", type=Path, metavar="FILE",
                    help="the policy pack's config, as `pulumi preview "
                    "--policy-pack-config FILE` takes it: {\"<policy>\": \"mandatory\"}, "
                    "{\"required-tags\": {\"requiredTags\": [...]}}")
    up.add_argument("--no-policy", action="store_true",
                    help="skip the policy pack (by default its mandatory violations "
                    "fail the run, as in `pulumi preview --policy-pack`)")
    return root


def console_width(environ: dict[str, str] | None = None, *,
                  tty: bool | None = None) -> int | None:
    """COLUMNS when set; else the terminal's width (None: rich asks the terminal); else,
    for a log, LOG_WIDTH."""
    env = os.environ if environ is None else environ
    columns = env.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if (sys.stdout.isatty() if tty is None else tty) else LOG_WIDTH


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    out = console or Console(highlight=False, width=console_width())
    try:
        return _main(argv, out)
    except KeyboardInterrupt:
        out.print("error: interrupted", markup=False)
        return EXIT_REFUSED
    except Exception as exc:  # the promise is: never a traceback
        out.print(visible(f"error: internal error in the offline runner: "
                          f"{type(exc).__name__}: {exc}"), markup=False)
        return EXIT_REFUSED


class Progress:
    """Progress lines on a stream (stderr, so stdout keeps only the tree and tables) while
    the program runs: one every PROGRESS_INTERVAL_S (offline/runner.py, a second), then a
    final line. Called from the runner's progress thread: whole lines, never raises."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.1f}s"

    def write(self, line: str) -> None:
        with self._lock:
            try:
                self.stream.write(f"{line}\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stderr must not end the run

    def __call__(self, registered: int) -> None:
        self.write(f"running the program: {registered} resources registered so far "
                   f"({self.elapsed()})")

    def done(self, result: ProgramRun) -> None:
        customs = sum(1 for r in result.registrations if r.custom)
        self.write(f"registered {len(result.registrations)} resources ({customs} in the "
                   f"simulated Azure) in {self.elapsed()}")


def wants_progress(args: argparse.Namespace, stream: TextIO) -> bool:
    """--progress / --no-progress decide; by default, only for a person watching."""
    if args.progress is not None:
        return bool(args.progress)
    try:
        return not args.quiet and stream.isatty()
    except (AttributeError, ValueError):
        return False


def read_policy_config(path: Path | None) -> PackConfig:
    if path is None:
        return PackConfig()
    try:
        return pack_config(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"--policy-config {path}: {exc.strerror}") from None


def locate(args: argparse.Namespace) -> tuple[Path, Path, list[str]]:
    """(program, stack file, notes), whatever the current directory is (it only decides
    which vmimage project is meant); StackFileError says what is missing and where."""
    project = find_project()
    notes = []
    if os.path.realpath(project) != os.path.realpath(PROJECT_DIR):
        # vmimage/ reads script:, file: and template: sources beside its own package.
        notes.append(f"project {project} runs with the vmimage package installed from "
                     f"{PROJECT_DIR}: script:, file: and template: sources are read there")
    program = program_file(project)
    if not program.is_file():
        raise StackFileError(
            f"error: no vmimage project: no Pulumi.yaml of project '{PROJECT_NAME}' in "
            f"{Path.cwd()} or above, and no {program.name} where the vmimage package was "
            f"installed from ({PROJECT_DIR}); run it from the project's checkout, or install "
            "that checkout editable (pip install -e)")
    if args.stack_file is not None:
        return program, args.stack_file, notes
    path = stack_file(args.stack, project)
    if not path.is_file():
        known = stack_names(project)
        raise StackFileError(f"error: stack {args.stack!r}: no {path}"
                             + (f" (stacks there: {', '.join(known)})" if known else ""))
    return program, path, notes


def _main(argv: list[str] | None, out: Console) -> int:
    try:
        args = parser().parse_args(argv)
    except HelpShown as shown:
        return int(shown.args[0] or 0)
    except UsageError as exc:
        out.print(visible(f"error: {exc}"), markup=False, soft_wrap=True)
        out.print(f"(see {prog_name()} up --help)", markup=False)
        return EXIT_INVALID
    try:
        latency = LatencyModel(parse_overrides(args.latency))
        marketplace = dict(parse_entry(item) for item in args.marketplace_image)
        if args.marketplace_version:
            marketplace = with_versions(
                {**CATALOG, **marketplace},
                [parse_version_entry(item) for item in args.marketplace_version])
        program, path, notes = locate(args)
        name = args.stack or stack_name(path)
        stack = load_stack(path, name, args.set)
        args.fault_plan = FaultPlan.parse(args.faults, args.seed) if args.faults else None
        policy_config = read_policy_config(args.policy_config)
        tenant = existing_tenant(args.existing_subnet, args.existing,
                                 str(stack.config.get("azure-native:location") or ""),
                                 quotas=args.quota)
    except (UsageError, ValueError) as exc:
        out.print(visible(f"error: {exc}"), markup=False, soft_wrap=True)  # one problem, one line
        return EXIT_INVALID
    except StackFileError as exc:
        out.print(visible(str(exc)), markup=False, soft_wrap=True)
        return EXIT_INVALID
    for notice in notes + stack.notices + fault_notes(args.fault_plan, stack):
        out.print(visible(f"note: {notice}"), markup=False, soft_wrap=True)
    problems = config_problems(stack) + unwritable_outputs(args, stack_path=path)
    if problems:
        for line in problems:
            out.print(visible(line), markup=False, soft_wrap=True)  # one problem, one line
        return EXIT_INVALID
    progress = Progress(sys.stderr) if wants_progress(args, sys.stderr) else None
    try:
        with reporting_progress(progress):
            outcome = up(stack, latency=latency, faults=args.fault_plan,
                         state_path=args.state, program=program, marketplace=marketplace,
                         policy=None if args.no_policy
                         else functools.partial(check_run, config=policy_config),
                         tenant=tenant, refresh=args.refresh)
    except StateError as exc:
        out.print(visible(f"error: {exc}"), markup=False, soft_wrap=True)
        return EXIT_INVALID
    if progress is not None:
        progress.done(outcome.run)
    if outcome.config_problems:
        for line in outcome.config_problems:
            out.print(visible(line), markup=False, soft_wrap=True)
        return EXIT_INVALID
    result = outcome.run
    if args.fault_plan is not None and args.fault_plan.crashed is not None:
        write_reports(args, stack, result, [])
        advice = crash_advice(args.fault_plan.crashed.after, kept_state=args.state is not None)
        out.print(visible(f"error: {advice}"), markup=False, soft_wrap=True)
        return EXIT_REFUSED
    changes = [c.as_json() for c in outcome.changes] if outcome.changes is not None else None
    if outcome.changes is not None and not args.quiet:
        print_changes(out, outcome.changes)
    if outcome.blocked:
        print_blocked(out, outcome.blocked)
        return EXIT_REFUSED
    violations = outcome.violations
    write_reports(args, stack, result, violations, changes)
    code = print_run(out, stack, result, quiet=args.quiet, changes=outcome.changes or ())
    if args.fault_plan is not None and args.fault_plan.retries:
        # "Absorbed" only when they were: a failed run says what was retried before.
        out.print(args.fault_plan.describe(absorbed=code == EXIT_OK), markup=False)
    if code != EXIT_OK or args.no_policy:
        return code
    code = print_policy(out, violations, quiet=args.quiet)
    if code != EXIT_OK and args.state is not None:
        out.print(visible(f"the state in {args.state} was not changed"), markup=False)
    return code


def existing_tenant(subnets: list[str], others: list[str], location: str, *,
                    quotas: Sequence[str] = ()) -> Callable[[SimulatedArm], None]:
    """What `--existing-subnet` and `--existing` declare, checked now (ValueError names
    the bad item), added to the simulated Azure of the run."""
    declared_subnets = []
    for item in subnets:
        subnet_id, sep, prefix = item.rpartition("=")
        if not sep:
            raise ValueError(f"--existing-subnet {item!r}: expected ID=PREFIX")
        ipaddress.ip_network(prefix)
        declared_subnets.append((subnet_id, prefix))
    declared = [parse_existing(item, location) for item in others]
    limits = dict(parse_quota(item) for item in quotas)

    def add(arm: SimulatedArm) -> None:
        for subnet_id, prefix in declared_subnets:
            add_existing_subnet(arm, subnet_id, prefix)
        for item in declared:
            add_existing(arm, item.resource_id, region=item.region, props=item.props,
                         read_only=item.read_only)
        arm.quotas.update(limits)
    return add


def unwritable_outputs(args: argparse.Namespace, stack_path: Path | None = None) -> list[str]:
    """Output files that could not be written, found before the run rather than after
    it: a run's result must not be lost to a typo in a path. Nor may one output overwrite
    another, the state's key or lock, or the stack file being read."""
    problems = []
    taken: dict[str, str] = {}
    if stack_path is not None:
        taken[os.path.realpath(stack_path)] = "the stack file"
    outputs = [("--report-json", args.report_json), ("--markdown", args.markdown),
               ("--state", args.state)]
    if args.state is not None:  # its companions, beside the file a symlink points to
        real_state = Path(os.path.realpath(args.state))
        taken[str(key_file(real_state))] = "the key of --state"
        taken[str(lock_file(real_state))] = "the lock of --state"
    for flag, path in outputs:
        if path is None:
            continue
        # The state is replaced by a rename beside the file a symlink points to.
        reason = output_path_problem(path, replaced=flag == "--state")
        real = os.path.realpath(path)
        if reason is None and real in taken:
            reason = f"is also {taken[real]}"
        if reason is not None:
            problems.append(f"error: {flag} {path}: {reason}")
        taken.setdefault(real, flag)
    return problems


def output_path_problem(path: Path, *, replaced: bool = False) -> str | None:
    """Why `path` cannot be written, or None. An existing file must be writable; a new
    one (or one `replaced` by a rename) needs an existing, writable directory."""
    real = Path(os.path.realpath(path))
    if real.is_dir():
        return "is a directory"
    if real.exists() and not os.access(real, os.W_OK):
        return "is not writable"
    if real.exists() and not replaced:
        return None
    parent = real.parent
    if not parent.exists():
        missing = next(p for p in (parent, *parent.parents) if p.parent.exists())
        return f"directory {parent} does not exist (no {missing})"
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"directory {parent} is not writable"
    return None


def write_reports(
    args: argparse.Namespace,
    stack: StackConfig,
    result: ProgramRun,
    violations: list[Violation],
    changes: list[dict[str, Any]] | None = None,
) -> None:
    """--report-json and --markdown; `changes` come from a state file, when one is used."""
    if args.report_json:
        extra = {} if args.no_policy else {"policyViolations": violations_json(violations)}
        if getattr(args, "fault_plan", None) is not None:
            extra["faults"] = args.fault_plan.summary()
        if changes is not None:
            extra["changes"] = changes
        args.report_json.write_text(
            json.dumps(report_json(result, extra), indent=2, default=str) + "\n"
        )
    if args.markdown:
        from offline.plan.render import render_markdown  # lazy: only when asked for

        args.markdown.write_text(render_markdown(
            result, stack=stack.name, changes=changes, violations=violations,
            # The spec's, then what the program's reads of Azure found (kept replicas,
            # quotas, evictions), each once.
            warnings=list(dict.fromkeys([*spec_warnings(stack), *result.warnings])),
        ), encoding="utf-8")


def stack_name(path: Path) -> str:
    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    return stem.removeprefix("Pulumi.") or "offline"


def fault_notes(plan: FaultPlan | None, stack: StackConfig) -> list[str]:
    """Faults asked for that this stack cannot meet (none when its config is invalid:
    its problems are reported instead)."""
    try:
        return inapplicable(plan, stack.loaded().spec) if plan is not None else []
    except SpecError:
        return []


def spec_warnings(stack: StackConfig) -> list[str]:
    try:
        return stack.loaded().warnings
    except SpecError:
        return []


def config_problems(stack: StackConfig) -> list[str]:
    """The same validation the program runs, before anything is registered."""
    try:
        stack.loaded()
    except SpecError as exc:
        return exc.problems
    return []


def print_run(out: Console, stack: StackConfig, result: ProgramRun, *, quiet: bool = False,
              changes: Sequence[Change] = ()) -> int:
    """The run: tree, stages, VM states, outputs, and the summary line. `changes` (a run
    on a state) adds what the run deleted, which the program no longer registers."""
    deleted = [c for c in changes if c.action == "delete"]
    if result.failures:
        for failure in result.failures:
            # One line each: a line break in a message must not make a line of its own.
            out.print(visible(f"error: simulated Azure refused {failure.type} "
                              f"'{failure.name}'"), markup=False)
            out.print(visible(f"  {failure.code}: {failure.message}"), markup=False)
            out.print(visible(f"  resource: {failure.urn}"), markup=False)
        # What the program said about it (a failed build's onFailure policy, applied).
        for warning in result.warnings:
            for i, line in enumerate(warning.splitlines()):
                out.print(visible(f"{'warning: ' if i == 0 else '  '}{line}"), markup=False)
        return EXIT_REFUSED
    if result.error:
        out.print(visible(f"error: the program failed: {result.error}"), markup=False,
                  soft_wrap=True)
        return EXIT_REFUSED
    if not quiet:
        print_tree(out, result, deleted)
        print_stages(out, result)
        print_states(out, result)
        print_versions(out, result, changes)
        print_outputs(out, result.outputs)
    actions = Counter(r.action for r in result.registrations if r.custom)
    actions.update(c.action for c in deleted)
    total = sum(actions.values())
    done = (f"{total} resources created" if set(actions) == {"create"} else
            f"{total} resources (" + ", ".join(
                f"{n} {action}" for action, n in sorted(actions.items())) + ")")
    out.print(
        visible(f"stack {stack.name}: {done} in simulated Azure; ")
        + f"makespan {duration(max((r.end_s for r in result.registrations), default=0))}",
        markup=False,
    )
    return EXIT_OK


def print_policy(out: Console, violations: list[Violation], *, quiet: bool = False) -> int:
    """The pack's findings; mandatory ones fail the run. Quiet: only the mandatory ones."""
    blocking = mandatory(violations)
    shown = blocking if quiet else violations
    if shown and out.width < WIDE_POLICY_TABLE:
        print_policy_list(out, shown)
    elif shown:
        from rich.table import Table

        table = Table(title="Policy", title_justify="left")
        for column in ("policy", "enforcement", "resource"):
            table.add_column(column, no_wrap=True)
        table.add_column("message", overflow="fold", ratio=1)
        for v in shown:
            # The logical name reads better than the URN; the report JSON keeps URNs.
            table.add_row(plain(v.policy), plain(v.enforcement), plain(urn_name(v.urn)),
                          plain(v.message))
        out.print(table)
    elif not quiet:
        out.print("Policy: no violations", markup=False)
    if blocking:
        out.print(f"error: {len(blocking)} mandatory policy violation(s); fix them, or run "
                  "with --no-policy to see the plan anyway", markup=False)
        return EXIT_REFUSED
    return EXIT_OK


#: Below this width the policy findings are a list, not a table: four columns would
#: leave the message a few words a line and cut rule names mid-word.
WIDE_POLICY_TABLE = 120


def print_policy_list(out: Console, shown: list[Violation]) -> None:
    """One finding a paragraph: its enforcement, rule and resource on a line, then its
    message indented, wrapped at words."""
    from rich.padding import Padding

    out.print("Policy", markup=False)
    for v in shown:
        out.print(styled("  ", (v.enforcement, "bold"), "  ", (v.policy, ""), "  ",
                         (urn_name(v.urn), "dim")))
        out.print(Padding(plain(v.message), (0, 0, 0, 4)))


CHANGE_SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}


def print_changes(out: Console, changes: list[Change]) -> None:
    """The change summary against the state file, like `pulumi preview`."""
    out.print("[bold]Changes:[/]")
    for change in changes:
        if change.action == "same":
            continue
        why = f"  [{', '.join(change.properties)}]" if change.properties else ""
        out.print(f"  {CHANGE_SYMBOLS[change.action]:>2} {change.action:<8}"
                  + visible(f"{change.urn.rsplit('::', 1)[-1]}{why}"), markup=False)
    tally = counts(changes)
    out.print("  " + ", ".join(f"{n} {action}" for action, n in tally.items() if n)
              if any(tally.values()) else "  no resources", markup=False)


def print_blocked(out: Console, blocked: list[Change]) -> None:
    for change in blocked:
        out.print(
            visible(f"error: refusing to {change.action} protected resource "
                    f"{change.urn.rsplit('::', 1)[-1]} ({change.urn}); nothing was changed. ")
            + "Images are protected: restore the config that keeps it, or unprotect it "
            "deliberately (protectImages: false) first.",
            markup=False,
        )


def print_tree(out: Console, result: ProgramRun, deleted: Sequence[Change] = ()) -> None:
    """The resources as `pulumi preview` shows them; deleted ones under their old
    parent, marked so (they are gone from the program, not from the run)."""
    from rich.tree import Tree  # the printed views only: --quiet needs none

    nodes: dict[str, Tree] = {}
    root = Tree("[bold]pulumi:pulumi:Stack[/] vmimage")
    for reg in result.registrations:
        symbol = CHANGE_SYMBOLS.get(reg.action, "+") if reg.custom else " "
        label = styled(f"{symbol} ", (reg.type, ""), "  ", (reg.name, ""))
        if reg.azure_name:
            label.append_text(styled("  ", (f"({reg.azure_name})", "dim")))
        if reg.protect:
            label.append("  protected", style="yellow")
        parent = nodes.get(reg.parent or "", root)
        nodes[reg.urn] = parent.add(label, highlight=False)
    for change in deleted:
        parent = nodes.get(change.parent or "", root)
        parent.add(styled(f"{CHANGE_SYMBOLS['delete']} ", (urn_type(change.urn), ""), "  ",
                          (urn_name(change.urn), ""), ("  deleted", "red")), highlight=False)
    out.print(root)


def print_stages(out: Console, result: ProgramRun) -> None:
    from rich.table import Table

    table = Table(title="Stages (simulated time)", title_justify="left")
    for column in ("stage", "start", "end", "resources"):
        table.add_column(column, justify="right" if column != "stage" else "left",
                         overflow="fold")
    for span in stage_spans(result):
        table.add_row(span.stage, duration(span.start_s), duration(span.end_s),
                      str(span.resources or "—"))
    out.print(table)


def print_states(out: Console, result: ProgramRun) -> None:
    from rich.table import Table

    table = Table(title="VM states", title_justify="left")
    for column in ("vm", "PowerState", "OSState"):
        table.add_column(column, overflow="fold")  # VM names: up to 64 characters
    for name, power, os_state in vm_states(result):
        table.add_row(plain(name), plain(power), plain(os_state))
    out.print(table)


def print_versions(out: Console, result: ProgramRun, changes: Sequence[Change] = ()) -> None:
    """Each image version with its status, as the plan's table has them: a revocation and
    who must move off it, and retention's lines (out of latest, end of life, build VM
    retired, deleted), each on a line of its own under the version."""
    from rich.padding import Padding  # the printed views only: --quiet needs none

    from offline.plan.model import PlanView, plan_items  # lazy: the printed views only
    from offline.plan.summaries import image_versions  # lazy: the printed views only

    versions = image_versions(PlanView(plan_items(result, [c.as_json() for c in changes])))
    if not versions:
        return
    out.print("[bold]Image versions:[/]")
    for v in versions:
        out.print(styled("  ", (v.version, "bold"), "  ",
                         (v.status, "bold" if v.changed else "")), highlight=False)
        lines = [*([f"revoked: {v.revoked}"] if v.revoked is not None else []),
                 *([f"clone groups to move: {', '.join(v.must_move)}"] if v.must_move else []),
                 *v.lifecycle]
        for line in lines:
            # Wrapped at words, each wrapped line indented under its version.
            out.print(Padding(plain(line), (0, 0, 0, 4), expand=False), highlight=False)


def print_outputs(out: Console, outputs: dict[str, Any]) -> None:
    """Each output as JSON, wrapped at its spaces; an ARM id too long for the line is
    shortened in the middle (offline/fit.py), never broken mid-word: the full ids are in
    --report-json."""
    out.print("[bold]Outputs:[/]")
    for key in sorted(outputs):
        value = shorten_ids(outputs[key], out.width - 8)  # quotes and brackets beside it
        out.print(visible(f"  {key}: {json.dumps(value, default=str, ensure_ascii=False)}"),
                  markup=False)


def entry() -> None:
    sys.exit(main())
