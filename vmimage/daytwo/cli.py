"""`vmimage outdated` and `vmimage bump`: the monthly loop's two commands.

Who answers for Azure is given by the caller (offline/daytwo.py: the simulator over a
`--state` file, or Azure itself through the SDK), and so are where a stack's file is and
the terminal escaper (offline/escape/terminal.py `plain`: this side cannot import it):
this module only reads the file, asks, decides and writes.

Exit codes: outdated 0 nothing newer, 1 something is outdated; bump 0 written (or
--dry-run); both 2 on bad usage or an invalid stack file, 3 when Azure could not be asked.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from vmimage.azure.reads import CloudReadError
from vmimage.config.errors import SpecError
from vmimage.config.validate import load_spec
from vmimage.daytwo import bump as bumping
from vmimage.daytwo import lineage, outdated
from vmimage.daytwo.reads import SourceReads

EXIT_OK, EXIT_OUTDATED, EXIT_USAGE, EXIT_AZURE = 0, 1, 2, 3
#: The table's width: a CI log or a PR comment, whatever the terminal.
TABLE_WIDTH = 80


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog="vmimage", description="The day-two loop of a vmimage stack: find "
                   "newer bases, append the next build.")
    commands = root.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = commands.add_parser("outdated", help="is a build's base older than Azure's newest?")
    bump = commands.add_parser("bump", help="append the next build to the stack file")
    tree = commands.add_parser("lineage", help="versions, what each was built on, and the "
                               "clone groups that run it")
    for command in (check, bump, tree):
        source = command.add_mutually_exclusive_group(required=True)
        source.add_argument("--stack", metavar="NAME", help="reads Pulumi.<NAME>.yaml from "
                            "the project's stacks/")
        source.add_argument("--stack-file", type=Path, metavar="PATH")
        command.add_argument("--state", type=Path, metavar="FILE",
                             help="ask the simulated Azure kept in FILE (vmimage-offline up "
                             "--state), not Azure")
    for command in (check, bump):
        command.add_argument("--marketplace-version", action="append", default=[],
                             metavar="PUBLISHER:OFFER:SKU=VERSION",
                             help="with --state: one more marketplace version to assume")
    check.add_argument("--json", action="store_true", help="print JSON, not a table")
    tree.add_argument("--json", action="store_true", help="print JSON, not a tree")
    tree.add_argument("--base", metavar="SOURCE", help="only the versions built on SOURCE "
                      "(a source as lineage shows it, or its start: marketplace:P:O:S, "
                      "or a version of this image) and the clone groups that run them")
    tree.set_defaults(marketplace_version=[])  # the simulated Azure as the state keeps it
    bump.add_argument("--build", metavar="N", help="the build to follow: an index of "
                      "builds[] or a version (default: the newest outdated, else the newest)")
    part = bump.add_mutually_exclusive_group()
    for name in ("patch", "minor", "major"):
        part.add_argument(f"--{name}", dest="part", action="store_const", const=name,
                          help=f"raise the {name} number" + (" (default)" if name == "patch"
                                                             else ""))
    bump.add_argument("--source-latest", action="store_true",
                      help="write a marketplace source as `latest` (resolved at build time "
                      "and recorded on the version) rather than the newest exact version")
    bump.add_argument("--out", type=Path, metavar="FILE",
                      help="write the bumped stack file here (default: in place)")
    bump.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    return root


ReadsFor = Callable[[argparse.Namespace, dict[str, Any]], SourceReads]
#: The terminal escaper: any value as rich Text, control characters shown, never markup.
Escape = Callable[[object], Text]


def main(argv: Sequence[str] | None, *, locate: Callable[[str], Path], reads_for: ReadsFor,
         escape: Escape, out: TextIO | None = None) -> int:
    raw = out or sys.stdout
    stream = _Escaped(raw, escape)
    try:
        args = parser().parse_args(argv)
        if args.marketplace_version and args.state is None:
            raise UsageError("--marketplace-version needs --state (it changes the simulated "
                             "Azure, not Azure)")
        path = args.stack_file or locate(args.stack)
        text = path.read_text(encoding="utf-8")
        document = bumping.load(text)
        config = dict((document or {}).get("config") or {})
        spec = load_spec(config.get(bumping.PIPELINE),
                         location=config.get("azure-native:location")).spec
        reads = reads_for(args, config)
        if args.command == "lineage":
            return _lineage(args, spec, reads, raw, escape)
        found = outdated.findings(spec, reads)
        if args.command == "outdated":
            return _outdated(args, found, stream, raw, escape)
        return _bump(args, path, text, document, spec, reads, found, stream)
    except UsageError as exc:
        print(f"error: {exc}\n(see vmimage --help)", file=stream)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=stream)
    except SpecError as exc:
        print("\n".join(exc.problems), file=stream)
    except bumping.BumpError as exc:
        print(f"error: {exc}", file=stream)
    except CloudReadError as exc:
        print(f"error: {exc}", file=stream)
        return EXIT_AZURE
    return EXIT_USAGE


class _Escaped:
    """A stream whose every write goes through the terminal escaper, line by line."""

    def __init__(self, stream: TextIO, escape: Escape) -> None:
        self.stream, self.escape = stream, escape

    def write(self, text: str) -> int:
        lines = text.split("\n")
        return self.stream.write("\n".join(self.escape(line).plain for line in lines))

    def flush(self) -> None:
        self.stream.flush()


def _outdated(args: argparse.Namespace, found: list[outdated.Finding], stream: Any,
              raw: TextIO, escape: Escape) -> int:
    if args.json:  # JSON escapes what it must itself; written as json.dumps made it
        print(outdated.as_json(args.stack or str(args.stack_file), found), file=raw)
    else:
        print_table(found, raw, escape)
    return EXIT_OUTDATED if outdated.any_outdated(found) else EXIT_OK


def print_table(found: list[outdated.Finding], stream: TextIO, escape: Escape) -> None:
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("build", no_wrap=True)
    table.add_column("source", min_width=20, overflow="fold")
    for column in ("built on", "newest"):
        table.add_column(column, no_wrap=True)
    table.add_column("status", min_width=8, overflow="fold")
    for f in found:
        status = f.status + (f" ({f.note})" if f.note else "")
        table.add_row(*(escape("-" if v is None else v)
                        for v in (f.build, f.source, f.built_on, f.newest, status)))
    Console(file=stream, width=TABLE_WIDTH, highlight=False, markup=False,
            color_system=None).print(table)


def _lineage(args: argparse.Namespace, spec: Any, reads: SourceReads, raw: TextIO,
             escape: Escape) -> int:
    nodes = lineage.lineage(spec, outdated.own_versions(spec, reads))
    if args.base is not None:
        nodes = lineage.built_on(nodes, args.base)
    if args.json:  # JSON escapes what it must itself; written as json.dumps made it
        print(lineage.as_json(args.stack or str(args.stack_file), nodes, args.base),
              file=raw)
        return EXIT_OK
    print_tree(nodes, raw, escape, empty=None if args.base is None
               else f"no version is built on {args.base}")
    if args.base is not None and nodes:
        runs = lineage.clone_list(lineage.clones_of(nodes))
        Console(file=raw, width=TABLE_WIDTH, highlight=False, markup=False,
                color_system=None).print(escape(f"clones on {args.base}: {runs}"))
    return EXIT_OK


def print_tree(nodes: list[lineage.Node], stream: TextIO, escape: Escape,
               empty: str | None = None) -> None:
    """The tree within TABLE_WIDTH: a long source folds under its own indent."""
    console = Console(file=stream, width=TABLE_WIDTH, highlight=False, markup=False,
                      color_system=None)
    if not nodes:
        console.print(escape(empty or "no versions in config or in Azure"))
    for indent, line in lineage.tree_lines(nodes):
        text = escape(line)
        text.overflow = "fold"
        console.print(Padding(text, (0, 0, 0, indent), expand=False))


def shown(path: Path) -> str:
    """A path as a reviewer reads it: relative to here when it is below."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def _bump(args: argparse.Namespace, path: Path, text: str, document: Any,
          spec: Any, reads: SourceReads, found: list[outdated.Finding],
          stream: Any) -> int:
    azure = outdated.own_versions(spec, reads)
    raw_builds = document["config"][bumping.PIPELINE]["builds"]
    plan = bumping.plan_bump(spec, raw_builds, azure.versions, found, wanted=args.build,
                             part=args.part or "patch", source_latest=args.source_latest)
    bumping.apply(document, plan)
    after = bumping.dump(document)
    # What is written must validate: a bump never leaves a stack file that fails.
    config = bumping.load(after)["config"]
    load_spec(config[bumping.PIPELINE], location=config.get("azure-native:location"))
    target = args.out or path
    print(bumping.unified_diff(text, after, shown(path), shown(target)), file=stream, end="")
    moved = f"; clone groups moved: {', '.join(plan.moved)}" if plan.moved else ""
    if args.dry_run:
        print(f"dry run: {target} not written (version {plan.version}{moved})", file=stream)
        return EXIT_OK
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(after, encoding="utf-8")
    print(f"wrote {target}: version {plan.version}{moved}", file=stream)
    return EXIT_OK
