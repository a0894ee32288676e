"""Run the unchanged `__main__.py` under plain Pulumi mocks (no simulator), recording every
registration as the engine would see it: type, name, options and inputs.

Pulumi's runtime is process-global, so each run resets it first (as offline/runner.py
does); runs in one process never overlap. Tests import this module by name (pytest puts
tests/ on sys.path).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pulumi
from conftest import ROOT
from pulumi.runtime import rpc

from offline.pulumi_host import EngineMonitor, InvokeFailure
from offline.pulumi_host import run_program as run_on_monitor
from vmimage.vocabulary import FINGERPRINT_TAG, GET_RUN_COMMAND

PROGRAM = ROOT / "__main__.py"
SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
VIRTUAL_MACHINE = "azure-native:compute:VirtualMachine"
ARM_PATHS = {
    VIRTUAL_MACHINE: "Microsoft.Compute/virtualMachines/{vmName}",
    "azure-native:compute:GalleryImageVersion": "Microsoft.Compute/galleries/{galleryName}/"
    "images/{galleryImageName}/versions/{galleryImageVersionName}",
    "azure-native:compute:Image": "Microsoft.Compute/images/{imageName}",
}


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
    request: Any = None  # the RegisterResourceRequest itself, as the engine receives it
    response: Any = None  # and what the monitor answered (the outputs, for stack policies)


@dataclass
class Recorded:
    registered: list[Registered] = field(default_factory=list)
    new_resource_calls: int = 0
    invokes: list[str] = field(default_factory=list)  # function tokens the program called
    # for each invoke, the types registered before it (the Stack, if nothing else)
    registered_before_invoke: list[list[str]] = field(default_factory=list)

    @property
    def resources(self) -> list[Registered]:
        """What the program registered (the root Stack is the engine's, not the program's)."""
        return [r for r in self.registered if r.type != "pulumi:pulumi:Stack"]

    def of_type(self, token: str) -> list[Registered]:
        return [r for r in self.registered if r.type == token]

    def by_name(self, name: str) -> Registered:
        return next(r for r in self.registered if r.name == name)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, recorded: Recorded, captured: dict[str, Any] | None = None,
                 evicted: set[str] | None = None,
                 replicas: dict[str, dict[str, int]] | None = None) -> None:
        self.recorded = recorded
        # version -> the fingerprint its image was captured with: what the program's
        # lookups (getGalleryImageVersion, getImage) find in Azure.
        self.captured = captured or {}
        # build VM names Azure evicted (Spot): deallocated, never sealed
        self.evicted = evicted or set()
        # version -> region -> the replicas Azure holds of it (a captured gallery version)
        self.replicas = replicas or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.recorded.new_resource_calls += 1
        if pulumi.runtime.is_dry_run():
            # A preview of a new stack: nothing exists, so ids, names and every other
            # computed output are unknown (an empty id is how the engine says so).
            computed = ("name", "vmId", "uniqueId", "ipConfigurations", "result")
            return "", {**args.inputs, **{k: rpc.UNKNOWN for k in computed}}
        state = dict(args.inputs)
        # The `name` output is the Azure name the resource was given.
        keys = ("resourceGroupName",) if args.typ == RESOURCE_GROUP else (
            "vmName", "galleryName", "imageName")
        state.setdefault("name", next((state[k] for k in keys if state.get(k)), args.name))
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = "Mock-Generated-Pa55!"
        if args.typ == VIRTUAL_MACHINE:
            state["vmId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, args.name))
            identity = state.get("identity")
            if identity:  # ARM answers the identities as a map id -> principal
                state["identity"] = {**identity, "userAssignedIdentities": {
                    i: {} for i in identity.get("userAssignedIdentities") or []}}
        # What Azure answers for the resources others refer to by id: their ARM id.
        group_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{state.get('resourceGroupName')}"
        if args.typ == RESOURCE_GROUP:
            return group_id, state
        path = ARM_PATHS.get(args.typ)
        if path is not None:
            return f"{group_id}/providers/{path.format(**state)}", state
        return f"/mock/{args.typ}/{args.name}", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.recorded.invokes.append(args.token)
        self.recorded.registered_before_invoke.append([r.type for r in self.recorded.registered])
        if args.args.get("vmName") in self.evicted:
            if args.token == GET_RUN_COMMAND:
                raise InvokeFailure("RESPONSE 404: 404 Not Found\nERROR CODE: ResourceNotFound")
            return {"id": args.args["vmName"], "instanceView": {
                "statuses": [{"code": "PowerState/deallocated"}]}}
        version = args.args.get("galleryImageVersionName") or next(
            (v for v in self.captured if args.args.get("imageName", "").endswith(
                v.replace(".", "-"))), None)
        if version in self.captured:
            held = self.captured[version]  # its fingerprint, or all its tags
            tags = held if isinstance(held, dict) else (
                {FINGERPRINT_TAG: held} if held else {})
            regions = [{"name": r, "regionalReplicaCount": n}
                       for r, n in self.replicas.get(version, {}).items()]
            return {"id": f"/captured/{version}",
                    **({"publishingProfile": {"targetRegions": regions}} if regions else {}),
                    "tags": tags}
        return {}  # no id: not captured


class RecordingMonitor(EngineMonitor):
    def __init__(self, recorded: Recorded, captured: dict[str, Any] | None = None,
                 evicted: set[str] | None = None,
                 replicas: dict[str, dict[str, int]] | None = None) -> None:
        super().__init__(RecordingMocks(recorded, captured, evicted, replicas))
        self.recorded = recorded

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        registered = Registered(
            urn=urn, type=request.type, name=request.name, custom=bool(request.custom),
            parent=request.parent, protect=request.protect,
            delete_before_replace=request.deleteBeforeReplace,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns)
                                   for k, v in request.propertyDependencies.items()},
            additional_secret_outputs=list(request.additionalSecretOutputs),
            deleted_with=request.deletedWith, retain_on_delete=bool(request.retainOnDelete),
            inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
            request=request,
        )
        self.recorded.registered.append(registered)
        registered.response = super().RegisterResource(request)
        return registered.response


def run_program(config: dict[str, Any], *, secret_keys: list[str] | None = None,
                stack: str = "test", recorded: Recorded | None = None,
                preview: bool = False, captured: dict[str, Any] | None = None,
                evicted: set[str] | None = None,
                replicas: dict[str, dict[str, int]] | None = None) -> Recorded:
    """Run the program once; raises what the program raised (e.g. pulumi.RunError).
    Pass `recorded` to see what was registered even when it raises, and `captured` for
    the versions Azure already holds an image of (version -> fingerprint tag), and
    `evicted` for the Spot build VMs (by name) Azure evicted, and `replicas` for what
    Azure holds of each captured version (version -> region -> replicas)."""
    recorded = recorded if recorded is not None else Recorded()
    run_on_monitor(PROGRAM, RecordingMonitor(recorded, captured, evicted, replicas),
                   project="vmimage",
                   stack=stack, config=config, secret_keys=secret_keys, preview=preview)
    return recorded
