"""`python -m offline up`: run a stack against the simulated Azure.

Exit codes: 0 success; 2 invalid config (the problem lines, nothing else); 1 the
simulated Azure refused an operation (resource, ARM code, message), or a mandatory policy
of the pack in policy/ was violated (as `pulumi preview --policy-pack policy` fails).
Never a traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from offline.arm import SimulatedArm
from offline.changes import Change, counts
from offline.faults import FaultPlan
from offline.latency import LatencyModel, parse_overrides
from offline.marketplace import parse_entry
from offline.policy_check import check_run, mandatory, violations_json
from offline.report import duration, report_json, stage_spans, vm_states
from offline.runner import (
    ProgramRun,
    StackConfig,
    StackFileError,
    load_stack,
    stack_file,
)
from offline.state import StateError
from offline.tenancy import add_existing, add_existing_subnet, parse_existing
from offline.up import up
from vmimage.policy.rules import Violation
from vmimage.spec.errors import SpecError

EXIT_OK, EXIT_REFUSED, EXIT_INVALID = 0, 1, 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog="python -m offline", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True, parser_class=_Parser)
    up = commands.add_parser("up", help="run the program against the simulated Azure")
    source = up.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="stack name: reads stacks/Pulumi.<NAME>.yaml")
    source.add_argument("--stack-file", type=Path, help="path of a Pulumi.<stack>.yaml")
    up.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                    help="override a value inside vmimage:pipeline, e.g. clones[0].count=50")
    up.add_argument("--report-json", type=Path, metavar="FILE",
                    help="write resources, operations, makespan, critical path, outputs")
    up.add_argument("--latency", action="append", default=[], metavar="KEY=SECONDS",
                    help="override one latency of the model (see offline/latency.py)")
    up.add_argument("--quiet", action="store_true", help="print only the summary line")
    up.add_argument("--faults", default="", metavar="SPEC",
                    help="inject faults: throttle=P,error5xx=P,customize-fail=1,"
                    "sysprep-hang=1,crash-after=K (see offline/faults.py)")
    up.add_argument("--seed", type=int, default=0, metavar="N",
                    help="seed of the fault injection's random draws (default 0)")
    up.add_argument("--state", type=Path, metavar="FILE",
                    help="keep the simulated Azure and this run's resources in FILE; the "
                    "next run against it prints a change summary like a preview")
    up.add_argument("--markdown", type=Path, metavar="FILE",
                    help="write the plan as a PR-comment-ready Markdown report")
    up.add_argument("--marketplace-image", action="append", default=[],
                    metavar="PUBLISHER:OFFER:SKU=V2[/Arm64]",
                    help="a marketplace image the simulated Azure should know, beyond its "
                    "catalog (offline/marketplace.py)")
    up.add_argument("--existing-subnet", action="append", default=[], metavar="ID=PREFIX",
                    help="a subnet that exists before the run (for network.subnetId), "
                    "with its address prefix")
    up.add_argument("--existing", action="append", default=[], metavar="ID[@REGION]",
                    help="a user-assigned identity, disk encryption set, storage account, "
                    "gallery image version or managed image that exists before the run "
                    "(region: the stack's location unless given)")
    up.add_argument("--no-policy", action="store_true",
                    help="skip the policy pack (by default its mandatory violations "
                    "fail the run, as in `pulumi preview --policy-pack`)")
    return root


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    # Wide enough that resource types and names are never cut in CI logs.
    out = console or Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    try:
        return _main(argv, out)
    except KeyboardInterrupt:
        out.print("error: interrupted", markup=False)
        return EXIT_REFUSED
    except Exception as exc:  # the promise is: never a traceback
        out.print(f"error: internal error in the offline runner: {type(exc).__name__}: {exc}",
                  markup=False)
        return EXIT_REFUSED


def _main(argv: list[str] | None, out: Console) -> int:
    try:
        args = parser().parse_args(argv)
        latency = LatencyModel(parse_overrides(args.latency))
        marketplace = dict(parse_entry(item) for item in args.marketplace_image)
        path = args.stack_file or stack_file(args.stack)
        name = args.stack or _stack_name(path)
        stack = load_stack(path, name, args.set)
        args.fault_plan = FaultPlan.parse(args.faults, args.seed) if args.faults else None
        tenant = existing_tenant(args.existing_subnet, args.existing,
                                 str(stack.config.get("azure-native:location") or ""))
    except (UsageError, ValueError) as exc:
        out.print(f"error: {exc}", markup=False)
        return EXIT_INVALID
    except StackFileError as exc:
        out.print(str(exc), markup=False)
        return EXIT_INVALID
    for notice in stack.notices:
        out.print(f"note: {notice}", markup=False, soft_wrap=True)
    problems = config_problems(stack) + unwritable_outputs(args)
    if problems:
        for line in problems:
            out.print(line, markup=False, soft_wrap=True)  # one problem, one line
        return EXIT_INVALID
    try:
        outcome = up(stack, latency=latency, faults=args.fault_plan, state_path=args.state,
                     marketplace=marketplace, policy=None if args.no_policy else check_run,
                     tenant=tenant)
    except StateError as exc:
        out.print(f"error: {exc}", markup=False, soft_wrap=True)
        return EXIT_INVALID
    if outcome.config_problems:
        for line in outcome.config_problems:
            out.print(line, markup=False, soft_wrap=True)
        return EXIT_INVALID
    result = outcome.run
    if args.fault_plan is not None and args.fault_plan.crashed is not None:
        write_reports(args, stack, result, [])
        out.print(f"error: {args.fault_plan.crashed}", markup=False)
        return EXIT_REFUSED
    changes = [c.as_json() for c in outcome.changes] if outcome.changes is not None else None
    if outcome.changes is not None and not args.quiet:
        print_changes(out, outcome.changes)
    if outcome.blocked:
        print_blocked(out, outcome.blocked)
        return EXIT_REFUSED
    violations = outcome.violations
    write_reports(args, stack, result, violations, changes)
    code = print_run(out, stack, result, quiet=args.quiet)
    if args.fault_plan is not None and args.fault_plan.retries:
        # "Absorbed" only when they were: a failed run says what was retried before.
        out.print(args.fault_plan.describe(absorbed=code == EXIT_OK), markup=False)
    if code != EXIT_OK or args.no_policy:
        return code
    code = print_policy(out, violations, quiet=args.quiet)
    if code != EXIT_OK and args.state is not None:
        out.print(f"the state in {args.state} was not changed", markup=False)
    return code


def existing_tenant(subnets: list[str], others: list[str],
                    location: str) -> Callable[[SimulatedArm], None]:
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

    def add(arm: SimulatedArm) -> None:
        for subnet_id, prefix in declared_subnets:
            add_existing_subnet(arm, subnet_id, prefix)
        for resource_id, region in declared:
            add_existing(arm, resource_id, region=region)
    return add


def unwritable_outputs(args: argparse.Namespace) -> list[str]:
    """Output files that could not be written, found before the run rather than after
    it: a run's result must not be lost to a typo in a path."""
    problems = []
    for flag, path in (("--report-json", args.report_json), ("--markdown", args.markdown),
                       ("--state", args.state)):
        # The state is replaced by a rename beside the file a symlink points to.
        if path is not None and (reason := output_path_problem(path, replaced=flag == "--state")):
            problems.append(f"error: {flag} {path}: {reason}")
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
    if not real.parent.is_dir():
        return f"directory {real.parent} does not exist"
    if not os.access(real.parent, os.W_OK | os.X_OK):
        return f"directory {real.parent} is not writable"
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
        from offline.markdown import render_markdown  # only when asked for

        args.markdown.write_text(render_markdown(
            result, stack=stack.name, changes=changes, violations=violations,
            warnings=spec_warnings(stack),
        ), encoding="utf-8")


def _stack_name(path: Path) -> str:
    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    return stem.removeprefix("Pulumi.") or "offline"


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


def print_run(out: Console, stack: StackConfig, result: ProgramRun, *, quiet: bool = False) -> int:
    if result.failures:
        for failure in result.failures:
            out.print(
                f"error: simulated Azure refused {failure.type} '{failure.name}'\n"
                f"  {failure.code}: {failure.message}\n  resource: {failure.urn}",
                markup=False,
            )
        return EXIT_REFUSED
    if result.error:
        out.print(f"error: the program failed: {result.error}", markup=False)
        return EXIT_REFUSED
    if not quiet:
        print_tree(out, result)
        print_stages(out, result)
        print_states(out, result)
        print_outputs(out, result.outputs)
    customs = [r for r in result.registrations if r.custom]
    actions = Counter(r.action for r in customs)
    done = (f"{len(customs)} resources created" if set(actions) == {"create"} else
            f"{len(customs)} resources (" + ", ".join(
                f"{n} {action}" for action, n in sorted(actions.items())) + ")")
    out.print(
        f"stack {stack.name}: {done} in simulated Azure; "
        f"makespan {duration(max((r.end_s for r in result.registrations), default=0))}",
        markup=False,
    )
    return EXIT_OK


def print_policy(out: Console, violations: list[Violation], *, quiet: bool = False) -> int:
    """The pack's findings; mandatory ones fail the run. Quiet: only the mandatory ones."""
    blocking = mandatory(violations)
    shown = blocking if quiet else violations
    if shown:
        from rich.table import Table

        table = Table(title="Policy", title_justify="left")
        for column in ("policy", "enforcement", "resource", "message"):
            table.add_column(column, overflow="fold")
        for v in shown:
            # The logical name reads better than the URN; the report JSON keeps URNs.
            table.add_row(v.policy, v.enforcement, v.urn.rsplit("::", 1)[-1], v.message)
        out.print(table)
    elif not quiet:
        out.print("Policy: no violations", markup=False)
    if blocking:
        out.print(f"error: {len(blocking)} mandatory policy violation(s); fix them, or run "
                  "with --no-policy to see the plan anyway", markup=False)
        return EXIT_REFUSED
    return EXIT_OK


CHANGE_SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}


def print_changes(out: Console, changes: list[Change]) -> None:
    """The change summary against the state file, like `pulumi preview`."""
    out.print("[bold]Changes:[/]")
    for change in changes:
        if change.action == "same":
            continue
        why = f"  [{', '.join(change.properties)}]" if change.properties else ""
        out.print(f"  {CHANGE_SYMBOLS[change.action]:>2} {change.action:<8}"
                  f"{change.urn.rsplit('::', 1)[-1]}{why}", markup=False)
    tally = counts(changes)
    out.print("  " + ", ".join(f"{n} {action}" for action, n in tally.items() if n)
              if any(tally.values()) else "  no resources", markup=False)


def print_blocked(out: Console, blocked: list[Change]) -> None:
    for change in blocked:
        out.print(
            f"error: refusing to {change.action} protected resource "
            f"{change.urn.rsplit('::', 1)[-1]} ({change.urn}); nothing was changed. "
            "Images are protected: restore the config that keeps it, or unprotect it "
            "deliberately (protectImages: false) first.",
            markup=False,
        )


def print_tree(out: Console, result: ProgramRun) -> None:
    from rich.tree import Tree  # the printed views only: --quiet needs none

    nodes: dict[str, Tree] = {}
    root = Tree("[bold]pulumi:pulumi:Stack[/] vmimage")
    for reg in result.registrations:
        label = f"{reg.type}  {reg.name}"
        if reg.azure_name:
            label += f"  [dim]({reg.azure_name})[/]"
        if reg.protect:
            label += "  [yellow]protected[/]"
        parent = nodes.get(reg.parent or "", root)
        symbol = CHANGE_SYMBOLS.get(reg.action, "+") if reg.custom else " "
        nodes[reg.urn] = parent.add(f"{symbol} {label}", highlight=False)
    out.print(root)


def print_stages(out: Console, result: ProgramRun) -> None:
    from rich.table import Table

    table = Table(title="Stages (simulated time)", title_justify="left")
    for column in ("stage", "start", "end", "resources"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    for span in stage_spans(result):
        table.add_row(span.stage, duration(span.start_s), duration(span.end_s),
                      str(span.resources))
    out.print(table)


def print_states(out: Console, result: ProgramRun) -> None:
    from rich.table import Table

    table = Table(title="VM states", title_justify="left")
    for column in ("vm", "PowerState", "OSState"):
        table.add_column(column)
    for name, power, os_state in vm_states(result):
        table.add_row(name, power, os_state)
    out.print(table)


def print_outputs(out: Console, outputs: dict[str, Any]) -> None:
    out.print("[bold]Outputs:[/]")
    for key in sorted(outputs):
        out.print(f"  {key}: {json.dumps(outputs[key], indent=None, default=str)}",
                  markup=False)


def entry() -> None:
    sys.exit(main())
