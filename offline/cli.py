"""`python -m offline up`: run a stack against the simulated Azure.

Exit codes: 0 success; 2 invalid config (the problem lines, nothing else); 1 the
simulated Azure refused an operation (resource, ARM code, message). Never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from components.spec import SpecError, load_spec
from offline.arm import SimulatedArm
from offline.latency import LatencyModel, parse_overrides
from offline.report import report_json, stage_spans, vm_states
from offline.runner import (
    ProgramRun,
    StackConfig,
    StackFileError,
    load_stack,
    run,
    stack_file,
)

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
    return root


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    # Wide enough that resource types and names are never cut in CI logs.
    out = console or Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    try:
        args = parser().parse_args(argv)
        latency = LatencyModel(parse_overrides(args.latency))
        path = args.stack_file or stack_file(args.stack)
        name = args.stack or _stack_name(path)
        stack = load_stack(path, name, args.set)
    except (UsageError, ValueError) as exc:
        out.print(f"error: {exc}", markup=False)
        return EXIT_INVALID
    except StackFileError as exc:
        out.print(str(exc), markup=False)
        return EXIT_INVALID
    problems = config_problems(stack)
    if problems:
        for line in problems:
            out.print(line, markup=False)
        return EXIT_INVALID
    result = run(stack, SimulatedArm(latency))
    if args.report_json:
        args.report_json.write_text(json.dumps(report_json(result), indent=2, default=str) + "\n")
    return print_run(out, stack, result, quiet=args.quiet)


def _stack_name(path: Path) -> str:
    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    return stem.removeprefix("Pulumi.") or "offline"


def config_problems(stack: StackConfig) -> list[str]:
    """The same validation the program runs, before anything is registered."""
    try:
        load_spec(stack.pipeline, location=stack.config.get("azure-native:location"))
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
    customs = sum(1 for r in result.registrations if r.custom)
    out.print(
        f"stack {stack.name}: {customs} resources created in simulated Azure; "
        f"makespan {_duration(max((r.end_s for r in result.registrations), default=0))}",
        markup=False,
    )
    return EXIT_OK


def print_tree(out: Console, result: ProgramRun) -> None:
    nodes: dict[str, Tree] = {}
    root = Tree("[bold]pulumi:pulumi:Stack[/] vmimage")
    for reg in result.registrations:
        label = f"{reg.type}  {reg.name}"
        if reg.azure_name:
            label += f"  [dim]({reg.azure_name})[/]"
        if reg.protect:
            label += "  [yellow]protected[/]"
        parent = nodes.get(reg.parent or "", root)
        nodes[reg.urn] = parent.add(f"[green]+[/] {label}")
    out.print(root)


def print_stages(out: Console, result: ProgramRun) -> None:
    table = Table(title="Stages (simulated time)", title_justify="left")
    for column in ("stage", "start", "end", "resources"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    for span in stage_spans(result):
        table.add_row(span.stage, _duration(span.start_s), _duration(span.end_s),
                      str(span.resources))
    out.print(table)


def print_states(out: Console, result: ProgramRun) -> None:
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


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s"


def entry() -> None:
    sys.exit(main())
