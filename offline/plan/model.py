"""The plan's data, wherever it was read from: one `PlanItem` per resource (what it is,
what happens to it, its values as shown), built here from an offline run's registrations
and changes (offline/preview_plan.py builds them from `pulumi preview --json`), and the
`PlanView` every section reads them through (dependencies resolved through components,
each resource's image version and stage)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from offline.changes import (
    UNKNOWN_SHOWN,
    PathPart,
    ValueDiff,
    parse_path,
    plain,
    pulumi_path,
    value_at,
)
from offline.engine import Registration
from offline.report import stage_of
from offline.runner import ProgramRun
from offline.secrets import redact
from offline.urns import urn_type
from vmimage.vocabulary import (
    DISK_ENCRYPTION_SET,
    GALLERY,
    GALLERY_IMAGE,
    GALLERY_IMAGE_VERSION,
    MANAGED_IMAGE,
    NAT_GATEWAY,
    NIC,
    NSG,
    PUBLIC_IP,
    RESOURCE_GROUP,
    RESTART,
    RESUME,
    ROLE_TAG,
    RUN_COMMAND,
    SCALE_SET,
    SECURITY_RULE,
    STORAGE_ACCOUNT,
    SUBNET,
    USER_ASSIGNED_IDENTITY,
    VERSION_TAG,
    VIRTUAL_MACHINE,
    VIRTUAL_NETWORK,
)

ACTION_ORDER = ("create", "update", "replace", "delete", "same")
#: The input that holds a resource's Azure name, per type (azure-native's argument names).
NAME_INPUTS = {
    RESOURCE_GROUP: "resourceGroupName", VIRTUAL_NETWORK: "virtualNetworkName",
    SUBNET: "subnetName", NSG: "networkSecurityGroupName", SECURITY_RULE: "securityRuleName",
    PUBLIC_IP: "publicIpAddressName", NIC: "networkInterfaceName", VIRTUAL_MACHINE: "vmName",
    SCALE_SET: "vmScaleSetName", RUN_COMMAND: "runCommandName", GALLERY: "galleryName",
    GALLERY_IMAGE: "galleryImageName", GALLERY_IMAGE_VERSION: "galleryImageVersionName",
    MANAGED_IMAGE: "imageName", NAT_GATEWAY: "natGatewayName",
    USER_ASSIGNED_IDENTITY: "resourceName", DISK_ENCRYPTION_SET: "diskEncryptionSetName",
    STORAGE_ACCOUNT: "accountName",
}
#: What a build's steps register, besides run commands: the VM actions.
STEP_TYPES = (RUN_COMMAND, RESTART, RESUME)


@dataclass(frozen=True)
class PlanItem:
    """One resource of the plan: what it is, what happens to it, and its values as shown
    (secrets `[secret]`, unknowns `[unknown]`)."""

    urn: str
    type: str
    action: str  # create | update | replace | delete | same
    custom: bool = True
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    inputs: Mapping[str, Any] | None = None  # this plan's; None for a delete
    old: Mapping[str, Any] | None = None  # the last run's, where known
    diff: tuple[ValueDiff, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    properties: tuple[str, ...] = ()  # changed paths, when no values are known
    azure_name: str | None = None

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def props(self) -> Mapping[str, Any]:
        """The values that describe it: this plan's, or a deleted resource's last ones."""
        if self.inputs is not None:
            return self.inputs
        return self.old or {}

    def tag(self, key: str) -> str | None:
        tags = self.props.get("tags")
        value = tags.get(key) if isinstance(tags, Mapping) else None
        return value if isinstance(value, str) else None

    def before(self, parts: Sequence[PathPart]) -> Any:
        """A value as it was before this plan: from the old inputs, else from the value
        diff that covers it, else (unchanged there) as it is now."""
        if self.old is not None:
            return value_at(self.old, parts)
        for d in self.diff:
            prefix = parse_path(d.path)
            if list(parts[:len(prefix)]) == prefix:
                return value_at(d.old, parts[len(prefix):])
        return value_at(self.props, parts)


def plan_items(run: ProgramRun, changes: Sequence[Mapping[str, Any]] | None) -> list[PlanItem]:
    """The items of an offline run: its registrations, with the change each one is (from
    `Change.as_json()`, or as simple as `{"urn", "action", "properties"}`), and the
    resources the last run had that this one deletes."""
    by_urn = {str(c.get("urn")): c for c in changes or []}
    items = [_registered(r, by_urn.get(r.urn)) for r in run.registrations]
    seen = {r.urn for r in run.registrations}
    items += [_unregistered(c) for urn, c in sorted(by_urn.items()) if urn not in seen]
    return items


def _registered(reg: Registration, change: Mapping[str, Any] | None) -> PlanItem:
    action = str(change.get("action", reg.action)) if change else reg.action
    properties = tuple(str(p) for p in (change or {}).get("properties") or ())
    diff = tuple(_value_diff(d) for d in (change or {}).get("diff") or ())
    reasons = _replace_reasons(action, properties, diff)
    return PlanItem(
        urn=reg.urn, type=reg.type, action=action if reg.custom else "same",
        custom=reg.custom, parent=reg.parent, dependencies=tuple(reg.dependencies),
        inputs=redact(reg.inputs), diff=diff, replace_reasons=reasons,
        properties=properties, azure_name=reg.azure_name,
    )


def _unregistered(change: Mapping[str, Any]) -> PlanItem:
    """A change of a resource this run did not register: a delete (with its last inputs,
    when the change carries them), or a change known only by its URN and paths."""
    urn, action = str(change.get("urn")), str(change.get("action"))
    old = change.get("old")
    properties = tuple(str(p) for p in change.get("properties") or ())
    diff = tuple(_value_diff(d) for d in change.get("diff") or ())
    return PlanItem(
        urn=urn, type=urn_type(urn), action=action, parent=change.get("parent"),
        dependencies=tuple(change.get("dependencies") or ()),
        old=old if isinstance(old, Mapping) else None, diff=diff,
        replace_reasons=_replace_reasons(action, properties, diff), properties=properties,
    )


def _value_diff(data: Mapping[str, Any]) -> ValueDiff:
    return ValueDiff(str(data.get("path")), data.get("old"), data.get("new"),
                     bool(data.get("replaces")))


def _replace_reasons(action: str, properties: Sequence[str],
                     diff: Sequence[ValueDiff]) -> tuple[str, ...]:
    if action != "replace":
        return ()
    forcing = [d.path for d in diff if d.replaces]
    return tuple(forcing or (pulumi_path(parse_path(p)) for p in properties))


class PlanView:
    """The items with what every section asks of them: dependencies resolved through
    components, each resource's image version and stage."""

    def __init__(self, items: Iterable[PlanItem], *, complete: bool = True) -> None:
        self.items = sorted(items, key=lambda i: i.urn)
        self.complete = complete  # False: unchanged resources were not listed
        self.by_urn = {i.urn: i for i in self.items}
        self.children: dict[str, list[PlanItem]] = {}
        for item in self.items:
            if item.parent:
                self.children.setdefault(item.parent, []).append(item)
        self.customs = [i for i in self.items if i.custom]
        self._versions: dict[str, str | None] = {}

    def leaves(self, urn: str) -> list[PlanItem]:
        """The custom resources a dependency on `urn` stands for (a component: its own),
        found without recursion: a preview may nest components arbitrarily deep."""
        found, pending, seen = [], [urn], set()
        while pending:
            current = pending.pop()
            item = self.by_urn.get(current)
            if item is None or current in seen:
                continue
            seen.add(current)
            if item.custom:
                found.append(item)
            else:
                pending.extend(reversed([c.urn for c in self.children.get(current, [])]))
        return found

    def deps(self, item: PlanItem) -> list[PlanItem]:
        found = {leaf.urn: leaf for urn in item.dependencies for leaf in self.leaves(urn)}
        return [found[urn] for urn in sorted(found)]

    def version(self, item: PlanItem) -> str | None:
        """The image version a resource belongs to: its `vmimage-version` tag, or (a VM
        action, which has no tags) the version of the build VM or step it depends on.
        Walked with a stack, not recursion: a build may chain a thousand steps."""
        memo = self._versions
        if item.urn in memo:
            return memo[item.urn]
        memo[item.urn] = None  # a cycle cannot happen; be safe anyway
        stack = [(item, self._version_sources(item))]
        while stack:
            current, sources = stack[-1]
            if memo[current.urn] is not None:
                stack.pop()
                if stack:
                    memo[stack[-1][0].urn] = memo[current.urn]
                continue
            source = next(sources, None)
            if source is None:
                stack.pop()
            elif source.urn in memo:
                memo[current.urn] = memo[source.urn]
            else:
                memo[source.urn] = None
                stack.append((source, self._version_sources(source)))
        return memo[item.urn]

    def _version_sources(self, item: PlanItem) -> Iterator[PlanItem]:
        """Where a resource's version comes from: its own tag (recorded here), or the
        build VMs and steps it depends on."""
        own = item.tag(VERSION_TAG)
        if own is not None or item.type.startswith("azure-native:"):
            self._versions[item.urn] = own
            return iter(())
        return (dep for dep in self.deps(item)
                if dep.tag(ROLE_TAG) == "build" or dep.type in STEP_TYPES)

    def stage(self, item: PlanItem) -> str:
        return stage_of(Registration(item.urn, item.type, item.name, item.parent, item.custom,
                                     list(item.dependencies), False, dict(item.props)))

    @cached_property
    def galleries(self) -> set[tuple[str, str]]:
        """(gallery, image definition) of this plan's gallery images."""
        found = set()
        for item in self.customs:
            if item.type in (GALLERY_IMAGE, GALLERY_IMAGE_VERSION):
                gallery, image = item.props.get("galleryName"), item.props.get("galleryImageName")
                if isinstance(gallery, str) and isinstance(image, str):
                    found.add((gallery.lower(), image.lower()))
        return found


def azure_name(item: PlanItem) -> str | None:
    """The Azure name: the input that holds it, else what the run reported."""
    value = plain(item.props.get(NAME_INPUTS.get(item.type, "")))
    if isinstance(value, str) and value != UNKNOWN_SHOWN:
        return value
    return item.azure_name


def stack_of(urns: Iterable[str]) -> str | None:
    for urn in urns:
        if urn.startswith("urn:pulumi:"):
            return urn.split("::", 1)[0].removeprefix("urn:pulumi:")
    return None
