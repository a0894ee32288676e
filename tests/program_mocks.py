"""Run the unchanged `__main__.py` under plain Pulumi mocks (no simulator), recording every
registration as the engine would see it: type, name, options and inputs.

Pulumi's runtime is process-global, so each run resets it first (as offline/runner.py
does); runs in one process never overlap. Tests import this module by name (pytest puts
tests/ on sys.path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
from conftest import ROOT
from pulumi.runtime import rpc

from offline.pulumi_host import EngineMonitor
from offline.pulumi_host import run_program as run_on_monitor

PROGRAM = ROOT / "__main__.py"


@dataclass
class Registered:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    protect: bool
    delete_before_replace: bool
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    additional_secret_outputs: list[str]
    deleted_with: str
    retain_on_delete: bool
    inputs: dict[str, Any]  # deserialized: secrets still wrapped in the rpc marker


@dataclass
class Recorded:
    registered: list[Registered] = field(default_factory=list)
    new_resource_calls: int = 0
    invokes: list[str] = field(default_factory=list)  # function tokens the program called
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # urn -> mock state

    @property
    def resources(self) -> list[Registered]:
        """What the program registered (the root Stack is the engine's, not the program's)."""
        return [r for r in self.registered if r.type != "pulumi:pulumi:Stack"]

    def of_type(self, token: str) -> list[Registered]:
        return [r for r in self.registered if r.type == token]

    def by_name(self, name: str) -> Registered:
        return next(r for r in self.registered if r.name == name)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, recorded: Recorded) -> None:
        self.recorded = recorded

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.recorded.new_resource_calls += 1
        state = dict(args.inputs)
        name = (
            state.get("vmName") or state.get("galleryName") or state.get("imageName")
            or args.name
        )
        state.setdefault("name", name)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = "Mock-Generated-Pa55!"
        return f"/mock/{args.typ}/{args.name}", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.recorded.invokes.append(args.token)
        return {}


class RecordingMonitor(EngineMonitor):
    def __init__(self, recorded: Recorded) -> None:
        super().__init__(RecordingMocks(recorded))
        self.recorded = recorded

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        self.recorded.registered.append(Registered(
            urn=urn, type=request.type, name=request.name, custom=bool(request.custom),
            parent=request.parent, protect=request.protect,
            delete_before_replace=request.deleteBeforeReplace,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns)
                                   for k, v in request.propertyDependencies.items()},
            additional_secret_outputs=list(request.additionalSecretOutputs),
            deleted_with=request.deletedWith, retain_on_delete=bool(request.retainOnDelete),
            inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
        ))
        return super().RegisterResource(request)


def run_program(config: dict[str, Any], *, secret_keys: list[str] | None = None,
                stack: str = "test", recorded: Recorded | None = None,
                preview: bool = False) -> Recorded:
    """Run the program once; raises what the program raised (e.g. pulumi.RunError).
    Pass `recorded` to see what was registered even when it raises."""
    recorded = recorded if recorded is not None else Recorded()
    run_on_monitor(PROGRAM, RecordingMonitor(recorded), project="vmimage", stack=stack,
                   config=config, secret_keys=secret_keys, preview=preview)
    return recorded
