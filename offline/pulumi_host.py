"""The one adapter around Pulumi's runtime internals.

Running a Pulumi program without the CLI means calling pieces of the SDK that are not
public API (`run_pulumi_func`, `_sync_await`, the mock monitor). They live here and only
here: the offline runner, the tests and the benchmarks all go through this module, so an
SDK upgrade that moves them breaks one file.

`EngineMonitor` also fixes what Pulumi's `MockMonitor` gets wrong about the engine: URNs.
The engine qualifies a resource's type with its parent's *whole* type chain, leaving out
the root Stack type (pulumi/pulumi `sdk/go/common/resource/urn.go`, `NewURN`); the mock
keeps only the immediate parent's type and does include the Stack's. Reports, the printed
tree and state files key on URNs, so ours are the engine's.
"""

from __future__ import annotations

import json
import runpy
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import pulumi
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor, Mocks, set_mocks
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from vmimage.vocabulary import STACK


def qualified_type(urn: str) -> str:
    """The `$`-joined type chain of a URN ('a$b$c')."""
    return urn.split("::")[2]


def engine_urn(stack: str, project: str, parent_urn: str | None, type_: str, name: str) -> str:
    """A URN exactly as the Pulumi engine forms it."""
    if parent_urn:
        parent_type = qualified_type(parent_urn)
        if parent_type != STACK:
            type_ = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def type_depth(urn: str) -> int:
    """How deep a resource sits under the stack: 0 for a child of the stack itself."""
    chain = qualified_type(urn)
    return 0 if chain == STACK else chain.count("$")


def with_ignored_changes(new: dict[str, Any], old: dict[str, Any],
                         paths: Sequence[str]) -> dict[str, Any]:
    """The inputs the engine goes on with: for each ignored property the old value (or
    none, if it had none), as pulumi/pulumi `processIgnoreChanges` does before Check and
    Diff; the state then records the old value, not the program's."""
    result = json.loads(json.dumps(new, default=str)) if paths else new
    for path in paths:
        keys = path.split(".")
        source: Any = old
        for key in keys:
            source = source.get(key) if isinstance(source, dict) else None
        target = result
        for key in keys[:-1]:
            target = target.setdefault(key, {}) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue
        if source is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = source
    return result


class Aliases:
    """Which resource of the previous run a registration is, as the engine decides it
    (pulumi/pulumi pkg/resource/deploy/step_generator.go: `generateAliases`,
    `collapseAliasToUrn`, `inheritedChildAlias`): its own URN first, then its aliases; a
    child inherits the alias its parent was matched by, with a name that began with the
    parent's name renamed alike. `olds`: the URNs the previous run left."""

    def __init__(self, stack: str, project: str, olds: Collection[str]) -> None:
        self.stack, self.project, self.olds = stack, project, set(olds)
        self.matched: dict[str, str] = {}  # new URN -> the old URN it was found under

    def old_urn(self, urn: str, type_: str, name: str, parent: str | None,
                aliases: Sequence[Any]) -> str | None:
        """The previous run's URN of this resource, or None if it is new."""
        for candidate in (urn, *self._generate(type_, name, parent, aliases)):
            if candidate in self.olds:
                if candidate != urn:
                    self.matched[urn] = candidate
                return candidate
        return None

    def _generate(self, type_: str, name: str, parent: str | None,
                  aliases: Sequence[Any]) -> list[str]:
        found: list[str] = []
        own = [self._collapse(a, type_, name, parent) for a in aliases]
        found += own
        parent_alias = self.matched.get(parent or "")
        if parent is not None and parent_alias is not None:
            found.append(self._inherited(type_, name, parent, parent_alias))
            for alias in own:
                found.append(self._inherited(alias.split("::")[2].split("$")[-1],
                                             alias.rsplit("::", 1)[-1], parent, parent_alias))
        return list(dict.fromkeys(found))

    def _collapse(self, alias: Any, type_: str, name: str, parent: str | None) -> str:
        if alias.urn:
            return str(alias.urn)
        spec = alias.spec
        alias_parent = spec.parentUrn or parent
        if spec.parentUrn and spec.parentUrn in self.matched:
            alias_parent = self.matched[spec.parentUrn]  # the parent's old URN
        if spec.noParent or (alias_parent and qualified_type(alias_parent) == STACK):
            alias_parent = None
        return engine_urn(spec.stack or self.stack, spec.project or self.project,
                          alias_parent, spec.type or type_, spec.name or name)

    def _inherited(self, type_: str, name: str, parent: str, parent_alias: str) -> str:
        parent_name = parent.rsplit("::", 1)[-1]
        if name.startswith(parent_name):
            name = parent_alias.rsplit("::", 1)[-1] + name[len(parent_name):]
        return engine_urn(self.stack, self.project, parent_alias, type_, name)


class EngineMonitor(MockMonitor):
    """Pulumi's MockMonitor, with the engine's URNs."""

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return engine_urn(pulumi.get_stack(), pulumi.get_project(), parent or None, type_, name)


def config_strings(config: Mapping[str, Any]) -> dict[str, str]:
    """Config as Pulumi hands it to a program: strings, structured values as JSON."""
    return {
        key: value if isinstance(value, str) else json.dumps(value, default=str)
        for key, value in config.items()
    }


def run_program(
    body: Callable[[], Any] | Path,
    monitor: MockMonitor,
    *,
    project: str,
    stack: str,
    config: Mapping[str, Any] | None = None,
    secret_keys: list[str] | None = None,
    preview: bool = False,
) -> None:
    """Run one program (a callable, or a `__main__.py` run as a script) against `monitor`.

    Pulumi's runtime is process-global, so it is reset first: runs in one process do not
    see each other (but must never overlap). Raises whatever the program raised."""
    if isinstance(body, Path):
        program = body  # its imports resolve to the installed vmimage package

        def body() -> Any:
            return runpy.run_path(str(program), run_name="__main__")

    pulumi_settings.reset_options(project=project, stack=stack)
    pulumi.runtime.set_all_config(config_strings(config or {}), secret_keys or [])
    set_mocks(monitor.mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    _sync_await(run_pulumi_func(body))


def resolve(awaitable: Any) -> Any:
    """Wait for an SDK coroutine or future from synchronous code (after a run)."""
    return _sync_await(awaitable)


def stack_outputs(redacted: str) -> dict[str, Any]:
    """The root stack's outputs after a run, with every secret replaced by `redacted`."""
    root = pulumi_settings.get_root_resource()
    outputs = getattr(root, "outputs", {}) or {}

    def plain(value: Any) -> Any:
        if isinstance(value, pulumi.Output):
            return redacted if resolve(value.is_secret()) else plain(resolve(value.future()))
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return {name: plain(pulumi.Output.from_input(value)) for name, value in outputs.items()}


class NoMocks(Mocks):
    """`set_mocks` wants a Mocks even when the monitor answers everything itself."""

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        raise AssertionError("unreachable: the monitor handles registrations")

    def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise AssertionError("unreachable: the monitor handles invokes")


class InvokeFailure(grpc.RpcError):
    """An invoke the provider refused, as the engine reports it to the SDK: a gRPC error
    with the provider's text as its details. The SDK turns it into
    `Exception("invoke of <token> failed: <details>")` for the program, as under
    `pulumi up`; any other exception from a mock would also be recorded as an unhandled
    RPC failure and fail the whole run."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self._details = details

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNKNOWN

    def details(self) -> str:
        return self._details
