"""The plan as a pull-request comment: `python -m offline up ... --markdown FILE`, and the
same plan from a real `pulumi preview --json` (offline/preview_plan.py).

What a reviewer needs to say yes or no, in GitHub-flavoured Markdown: per image version
its source, regions, disks, steps and whether it is new, unchanged or retired; per clone
group its kind, size, count, version (old -> new) and rollout batches; every change with
its values (old -> new, secrets `[secret]`), creates with their key values, replacements
with the property that forces them; and a Mermaid diagram grouped by image version and
stage, coloured by change. The offline runner adds its simulated stages, critical path
and policy findings.

Everything is read from the resources as registered (types, tags, inputs, dependencies),
never from the spec, so a preview's JSON gives the same plan. Everything is sorted by
stable keys (never by registration order, which follows thread timing), so the same
config always gives the same bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
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
    shown,
    value_at,
)
from offline.engine import Registration
from offline.report import (
    STAGES,
    critical_path,
    duration,
    makespan,
    stage_of,
    stage_spans,
)
from offline.runner import ProgramRun
from offline.secrets import redact
from vmimage.azure.naming import parse_version
from vmimage.policy.rules import Violation
from vmimage.steps.format_disks import COMMAND as FORMAT_DISKS_COMMAND
from vmimage.vocabulary import (
    CAPTURED_IMAGE_TYPES,
    DISK_ENCRYPTION_SET,
    DYNAMIC_PREFIX,
    GALLERY,
    GALLERY_IMAGE,
    GALLERY_IMAGE_VERSION,
    GROUP_TAG,
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
    STEP_DEPROVISION,
    STEP_TAG,
    STORAGE_ACCOUNT,
    SUBNET,
    USER_ASSIGNED_IDENTITY,
    VERSION_TAG,
    VIRTUAL_MACHINE,
    VIRTUAL_NETWORK,
)

ACTION_ORDER = ("create", "update", "replace", "delete", "same")
ACTION_SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}
FOLD_ROWS = 20  # tables longer than this are folded into <details>
DIFF_LINES = 8  # value changes shown per resource; the rest are counted

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
#: Stages of one image version, in the order they run.
VERSION_STAGES = ("build", "customize", "deprovision", "generalize", "capture")


# -- the plan, wherever it was read from -----------------------------------------------------


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
        """The custom resources a dependency on `urn` stands for (a component: its own)."""
        item = self.by_urn.get(urn)
        if item is None:
            return []
        if item.custom:
            return [item]
        return [leaf for child in self.children.get(urn, []) for leaf in self.leaves(child.urn)]

    def deps(self, item: PlanItem) -> list[PlanItem]:
        found = {leaf.urn: leaf for urn in item.dependencies for leaf in self.leaves(urn)}
        return [found[urn] for urn in sorted(found)]

    def version(self, item: PlanItem) -> str | None:
        """The image version a resource belongs to: its `vmimage-version` tag, or (a VM
        action, which has no tags) the version of the build VM it acts on."""
        if item.urn not in self._versions:
            self._versions[item.urn] = None  # a cycle cannot happen; be safe anyway
            self._versions[item.urn] = self._version(item)
        return self._versions[item.urn]

    def _version(self, item: PlanItem) -> str | None:
        own = item.tag(VERSION_TAG)
        if own is not None or item.type.startswith("azure-native:"):
            return own
        for dep in self.deps(item):
            if dep.tag(ROLE_TAG) == "build" or dep.type in STEP_TYPES:
                found = self.version(dep)
                if found is not None:
                    return found
        return None

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


# -- rendering --------------------------------------------------------------------------------


def render_markdown(
    run: ProgramRun,
    *,
    changes: Sequence[Mapping[str, Any]] | None = None,
    violations: Sequence[Violation] = (),
    warnings: Sequence[str] = (),
    stack: str | None = None,
) -> str:
    """The whole report of an offline run. `changes` are `Change.as_json()` (at least
    `{"urn", "action", "properties"}`) from a state file (None: no prior state); `warnings`
    are the spec's (vmimage.spec.models.warnings)."""
    view = PlanView(plan_items(run, changes))
    customs = sorted((r for r in run.registrations if r.custom), key=_order)
    parts = [
        f"# vmimage plan: `{stack or _stack_of(run)}`",
        "",
        _summary(run, customs, view if changes is not None else None, violations),
        "",
    ]
    if run.failures or run.error:
        parts += _failures(run)
    parts += plan_sections(view, changes_known=changes is not None)
    parts += _stages(run, customs)
    parts += _critical_path(run)
    parts += _warnings(warnings, violations)
    parts += diagram(view)
    return "\n".join(parts).rstrip("\n") + "\n"


def plan_sections(view: PlanView, *, changes_known: bool = True) -> list[str]:
    """What every plan shows, whatever it was read from: the image versions, the clone
    groups and the changes with their values."""
    return [*_image_versions(view), *_clone_groups(view), *_changes(view, changes_known)]


# -- sections ---------------------------------------------------------------------------------


def _summary(
    run: ProgramRun,
    customs: list[Registration],
    view: PlanView | None,
    violations: Sequence[Violation],
) -> str:
    per_stage = {s.stage: s.resources for s in stage_spans(run)}
    counts = " · ".join(f"{n} {stage}" for stage, n in per_stage.items())
    line = f"**{len(customs)} resources** ({counts}) · estimated wall time on Azure " \
           f"**{duration(makespan(run))}**"
    if view is not None:
        line += " · " + action_counts(i.action for i in view.customs)
    mandatory = sum(1 for v in violations if v.enforcement == "mandatory")
    advisory = len(violations) - mandatory
    line += f" · policy: {mandatory} mandatory, {advisory} advisory"
    if run.failures or run.error:
        line = "**Failed.** " + line
    return line


def _failures(run: ProgramRun) -> list[str]:
    out = ["## Failed", ""]
    for f in sorted(run.failures, key=lambda f: f.urn):
        out.append(f"- simulated Azure refused `{f.type}` `{f.name}`: "
                   f"**{_cell(f.code)}** {_cell(f.message)}")
    if run.error and not run.failures:
        out.append(f"- the program failed: {_cell(run.error)}")
    return [*out, ""]


def _stages(run: ProgramRun, customs: list[Registration]) -> list[str]:
    out = ["## Stages", ""]
    spans = {s.stage: s for s in stage_spans(run)}
    out += ["| stage | start | end | resources |", "|---|--:|--:|--:|"]
    for stage in STAGES:
        if stage in spans:
            span = spans[stage]
            out.append(f"| {stage} | {duration(span.start_s)} | {duration(span.end_s)} "
                       f"| {span.resources} |")
    out.append("")
    for stage in STAGES:
        regs = [r for r in customs if stage_of(r) == stage]
        if not regs:
            continue
        span = spans[stage]
        heading = f"{stage} · {duration(span.start_s)} → {duration(span.end_s)} · {len(regs)}"
        table = ["| type | name | Azure name | start | end |", "|---|---|---|--:|--:|"]
        table += [
            f"| `{_short_type(r.type)}` | `{r.name}` | {_code(r.azure_name)} "
            f"| {duration(r.start_s)} | {duration(r.end_s)} |"
            for r in regs
        ]
        out += _folded(heading, table, heading_level=3)
    return out


def action_counts(actions: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for action in actions:
        counts[action] = counts.get(action, 0) + 1
    keys = sorted(counts, key=lambda a: (ACTION_ORDER.index(a) if a in ACTION_ORDER
                                         else len(ACTION_ORDER), a))
    return ", ".join(f"{counts[a]} to {a}" if a != "same" else f"{counts[a]} unchanged"
                     for a in keys) or "no changes"


def _critical_path(run: ProgramRun) -> list[str]:
    by_urn = {r.urn: r for r in run.registrations}
    out = ["## Critical path", "",
           f"Estimated wall time on Azure: **{duration(makespan(run))}**, along:", ""]
    for i, urn in enumerate(critical_path(run), start=1):
        r = by_urn[urn]
        who = f" ({_code(r.azure_name)})" if r.azure_name else ""
        out.append(f"{i}. {stage_of(r)}: `{_short_type(r.type)}` `{r.name}`{who} — "
                   f"{duration(r.end_s - r.start_s)} ({duration(r.start_s)} → "
                   f"{duration(r.end_s)})")
    return [*out, ""]


def _warnings(warnings: Sequence[str], violations: Sequence[Violation]) -> list[str]:
    out = ["## Warnings", ""]
    if not warnings and not violations:
        return [*out, "None.", ""]
    out += [f"- {_cell(w)}" for w in warnings]
    if warnings:
        out.append("")
    if violations:
        out += ["### Policy", "",
                "| policy | enforcement | resource | message |", "|---|---|---|---|"]
        for v in sorted(violations, key=lambda v: (v.enforcement != "mandatory", v.policy,
                                                   v.urn, v.message)):
            level = "**mandatory**" if v.enforcement == "mandatory" else "advisory"
            out.append(f"| `{v.policy}` | {level} | {_code(v.urn.rsplit('::', 1)[-1])} "
                       f"| {_cell(v.message)} |")
        out.append("")
    return out


# -- image versions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionSummary:
    version: str
    status: str  # new | unchanged | updated | retired | recaptured | deleted
    changed: bool  # this plan changes it (the status is news)
    source: str  # Markdown
    regions: str
    disks: tuple[str, ...]
    steps: tuple[str, ...]


def image_versions(view: PlanView) -> list[VersionSummary]:
    """Every image version the plan knows of: those it has resources of, and those its
    clones ran or run."""
    members: dict[str, list[PlanItem]] = {}
    for item in view.customs:
        version = view.version(item)
        if version not in (None, UNKNOWN_SHOWN) and item.tag(ROLE_TAG) != "clone":
            members.setdefault(str(version), []).append(item)
    for item in view.customs:
        if item.tag(ROLE_TAG) == "clone":
            for version in _values(item, (("tags", VERSION_TAG),), before=True, after=True):
                if version != UNKNOWN_SHOWN:
                    members.setdefault(version, [])
    return [_version_summary(view, v, members[v]) for v in sorted(members, key=_version_key)]


def _version_summary(view: PlanView, version: str, items: list[PlanItem]) -> VersionSummary:
    build_vm = next((i for i in items if i.type == VIRTUAL_MACHINE), None)
    captures = [i for i in items if i.type in CAPTURED_IMAGE_TYPES]
    status = _version_status(view, build_vm, captures, items)
    return VersionSummary(
        version=version, status=status,
        changed=status not in ("unchanged", "retired") or
        (build_vm is not None and build_vm.action == "delete"),
        source=_source(view, build_vm, captures), regions=_regions(captures),
        disks=tuple(_disks(build_vm, items, captures)), steps=tuple(_steps(view, items)),
    )


def _version_status(view: PlanView, build_vm: PlanItem | None, captures: list[PlanItem],
                    items: list[PlanItem]) -> str:
    actions = {c.action for c in captures}
    if "create" in actions:
        return "new"
    if actions == {"delete"}:
        return "deleted"
    if "replace" in actions:
        return "recaptured"
    if build_vm is not None and build_vm.action == "delete":
        return "retired"
    if any(i.action != "same" for i in items):
        return "updated"
    imported = any(value_at(c.props, ("storageProfile", "osDiskImage")) for c in captures)
    if captures and build_vm is None and view.complete and not imported:
        return "retired"
    return "unchanged"


def _source(view: PlanView, build_vm: PlanItem | None, captures: list[PlanItem]) -> str:
    if build_vm is None:
        for capture in captures:
            uri = value_at(capture.props, ("storageProfile", "osDiskImage", "source", "uri"))
            if uri is not None:
                return f"vhd {_code(shown(uri, 100))}"
        return "—"
    ref = value_at(build_vm.props, ("storageProfile", "imageReference"))
    if isinstance(ref, Mapping) and ref.get("publisher"):
        return "marketplace " + _code(_marketplace(ref))
    parent = next((d for d in view.deps(build_vm) if d.type in CAPTURED_IMAGE_TYPES), None)
    if parent is not None and view.version(parent) is not None:
        return f"version {_code(view.version(parent))}"
    image_id = ref.get("id") if isinstance(ref, Mapping) else ref
    return _image_id_source(view, image_id)


def _image_id_source(view: PlanView, image_id: Any) -> str:
    if not isinstance(image_id, str) or plain(image_id) == UNKNOWN_SHOWN:
        return f"image {_code(shown(image_id))}"
    own = re.search(r"/galleries/([^/]+)/images/([^/]+)/versions/([^/]+)$", image_id, re.I)
    if own and (own[1].lower(), own[2].lower()) in view.galleries:
        return f"version {_code(own[3])}"
    if "/galleries/" in image_id.lower():
        return f"imageVersionId {_code(shown(image_id))}"
    return f"managedImageId {_code(shown(image_id))}"


def _marketplace(ref: Mapping[str, Any]) -> str:
    return ":".join(shown(ref.get(k)) for k in ("publisher", "offer", "sku", "version"))


def _regions(captures: list[PlanItem]) -> str:
    found: list[str] = []
    for capture in sorted(captures, key=lambda c: c.type):
        if capture.type == GALLERY_IMAGE_VERSION:
            found.append(_target_regions(
                value_at(capture.props, ("publishingProfile", "targetRegions"))))
        elif capture.type == MANAGED_IMAGE:
            found.append(f"managed image in {shown(capture.props.get('location'))}")
    return ", ".join(found) or "—"


def _target_regions(regions: Any) -> str:
    if not isinstance(regions, list):
        return shown(regions)
    return ", ".join(f"{shown(r.get('name'))} ×{shown(r.get('regionalReplicaCount'))}"
                     for r in regions if isinstance(r, Mapping)) or "—"


#: One disk of the format-disks script: `LUN:FS:TARGET:LABEL` (vmimage/steps/format_disks.py).
_DISK_ITEM = re.compile(r"""^\s*['"]?(\d{1,2}):(ext4|xfs|ntfs):([^:'"\s]*):([\w-]*)['"]?,?\s*$""",
                        re.MULTILINE)


def _disks(build_vm: PlanItem | None, items: list[PlanItem],
           captures: list[PlanItem]) -> list[str]:
    formats = {int(lun): f"{fs} {target}".strip() + (f" ({label})" if label else "")
               for item in items if item.props.get("runCommandName") == FORMAT_DISKS_COMMAND
               for lun, fs, target, label in _DISK_ITEM.findall(
                   str(value_at(item.props, ("source", "script")) or ""))}
    if build_vm is None:
        return [f"LUN {shown(d.get('lun'))}: vhd"
                for c in captures for d in _dicts(value_at(c.props, (
                    "storageProfile", "dataDiskImages")))]
    disks = _dicts(value_at(build_vm.props, ("storageProfile", "dataDisks")))
    return [_disk(d, formats) for d in sorted(disks, key=lambda d: _number(d.get("lun")))]


def _disk(disk: Mapping[str, Any], formats: Mapping[int, str]) -> str:
    lun = _number(disk.get("lun"))
    size = "from image" if disk.get("createOption") == "FromImage" \
        else f"{shown(disk.get('diskSizeGB'))} GiB"
    sku = shown(value_at(disk, ("managedDisk", "storageAccountType")))
    text = f"LUN {shown(disk.get('lun'))}: {size} {sku}"
    return f"{text}, {formats[lun]}" if lun in formats else text


def _steps(view: PlanView, items: list[PlanItem]) -> list[str]:
    steps = [i for i in items if i.type in STEP_TYPES
             and view.stage(i) in ("customize", "deprovision")]
    labels = [_step_label(s) for s in _in_order(view, steps)]
    return _merge_windows_update(labels)


def _in_order(view: PlanView, steps: list[PlanItem]) -> list[PlanItem]:
    """Steps in the order they run: each waits for the one before (its dependency)."""
    wanted = {s.urn for s in steps}
    before = {s.urn: {d.urn for d in view.deps(s)} & wanted for s in steps}
    ordered: list[PlanItem] = []
    while before:
        ready = sorted(urn for urn, deps in before.items() if not deps) or sorted(before)
        ordered.append(view.by_urn[ready[0]])
        del before[ready[0]]
        for deps in before.values():
            deps.discard(ready[0])
    return ordered


def _step_label(step: PlanItem) -> str:
    if step.type == RESTART:
        return "restart"
    if step.type == RESUME:
        return "resume (Spot)"
    name = str(plain(step.props.get("runCommandName")) or step.name)
    if name == FORMAT_DISKS_COMMAND:
        return "format disks"
    if step.tag(STEP_TAG) == STEP_DEPROVISION:
        return "deprovision (legacy)"
    stem = re.sub(r"^customize-\d+-", "", name)
    if stem == "inline":
        return "inline"
    if stem == "copy-file":
        return "file"
    if re.fullmatch(r"windows-update-(r\d+|verify)", stem):
        return "windowsUpdate" if stem == "windows-update-verify" else "windowsUpdate round"
    return f"script {_code(stem)}"  # a script or a template: both run as a script


def _merge_windows_update(labels: list[str]) -> list[str]:
    """A windowsUpdate step registers rounds with restarts between, then a check: one."""
    merged: list[str] = []
    rounds = 0
    for i, label in enumerate(labels):
        after_round = i > 0 and labels[i - 1] == "windowsUpdate round"
        if label == "windowsUpdate round" or (label == "restart" and after_round):
            rounds += label == "windowsUpdate round"
            continue
        if label == "windowsUpdate":
            label = f"windowsUpdate ({rounds} rounds)"
            rounds = 0
        merged.append(label)
    return merged


def _image_versions(view: PlanView) -> list[str]:
    versions = image_versions(view)
    out = ["## Image versions", ""]
    if not versions:
        return [*out, "None.", ""]
    out += ["| version | status | source | regions × replicas | data disks | steps |",
            "|---|---|---|---|---|---|"]
    for v in versions:
        status = f"**{v.status}**" if v.changed else v.status
        steps = "<br/>".join(f"{i}. {s}" for i, s in enumerate(v.steps, start=1)) or "—"
        out.append(f"| `{v.version}` | {status} | {v.source} | {_cell(v.regions)} "
                   f"| {'<br/>'.join(_cell(d) for d in v.disks) or '—'} | {steps} |")
    if not view.complete:
        out += ["", "Unchanged resources are not in this preview: what they hold shows as "
                "—; `pulumi preview --json --show-sames` lists them."]
    return [*out, ""]


# -- clone groups -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CloneGroupSummary:
    group: str
    kind: str
    size: str
    count: str
    version: str
    rollout: str
    status: str


def clone_groups(view: PlanView) -> list[CloneGroupSummary]:
    groups: dict[str, list[PlanItem]] = {}
    for item in view.customs:
        group = item.tag(GROUP_TAG)
        if group and item.type in (VIRTUAL_MACHINE, SCALE_SET):
            groups.setdefault(group, []).append(item)
    return [_group_summary(view, g, groups[g]) for g in sorted(groups)]


def _group_summary(view: PlanView, group: str, items: list[PlanItem]) -> CloneGroupSummary:
    scale_set = any(i.type == SCALE_SET for i in items)
    size = (("sku", "name"),) if scale_set else (("hardwareProfile", "vmSize"),)
    return CloneGroupSummary(
        group=group, kind="scaleSet" if scale_set else "vm",
        size=_old_new(items, size), count=_count(items, scale_set),
        version=_old_new(items, (("tags", VERSION_TAG),)),
        rollout=_scale_set_rollout(items) if scale_set else _vm_rollout(view, items),
        status=_group_status(items),
    )


def _values(item: PlanItem, paths: Sequence[Sequence[PathPart]], *, before: bool,
            after: bool) -> set[str]:
    found = set()
    for path in paths:
        if before and item.action != "create":
            found.add(shown(item.before(path)))
        if after and item.action != "delete":
            found.add(shown(value_at(item.props, path)))
    return found - {"—"}


def _old_new(items: list[PlanItem], paths: Sequence[Sequence[PathPart]]) -> str:
    old = set().union(*(_values(i, paths, before=True, after=False) for i in items))
    new = set().union(*(_values(i, paths, before=False, after=True) for i in items))
    old_text, new_text = _code(", ".join(sorted(old))), _code(", ".join(sorted(new)))
    if not old or old == new:
        return new_text if new else old_text
    return f"{old_text} → **{new_text}**" if new else f"{old_text} → —"


def _count(items: list[PlanItem], scale_set: bool) -> str:
    if scale_set:
        return _old_new(items, (("sku", "capacity"),)).replace("`", "")
    old = sum(1 for i in items if i.action != "create")
    new = sum(1 for i in items if i.action != "delete")
    return f"{old} → **{new}**" if old and old != new else str(new)


def _vm_rollout(view: PlanView, items: list[PlanItem]) -> str:
    """Batches of clones, each waiting for the one before (its VMs' dependencies)."""
    current = {i.urn: i for i in items if i.action != "delete"}
    level: dict[str, int] = {}

    def depth(item: PlanItem) -> int:
        if item.urn not in level:
            level[item.urn] = 0
            level[item.urn] = 1 + max((depth(d) for d in view.deps(item) if d.urn in current),
                                      default=-1)
        return level[item.urn]

    levels = [depth(i) for i in current.values()]
    if not levels:
        return "—"
    batches = max(levels) + 1
    if batches == 1:
        return f"one batch of {len(levels)}"
    return f"batchSize {levels.count(0)} → {batches} batches"


def _scale_set_rollout(items: list[PlanItem]) -> str:
    vmss = next(i for i in items if i.type == SCALE_SET)
    policy = value_at(vmss.props, ("upgradePolicy",))
    mode = shown(value_at(policy, ("mode",)))
    percent = plain(value_at(policy, ("rollingUpgradePolicy", "maxBatchInstancePercent")))
    count = plain(value_at(vmss.props, ("sku", "capacity")))
    if not isinstance(percent, int) or not isinstance(count, int) or count <= 0:
        return mode
    per_batch = max(1, math.ceil(count * percent / 100))
    return f"{mode}, {percent}% per batch → {math.ceil(count / per_batch)} batches"


def _group_status(items: list[PlanItem]) -> str:
    actions = {i.action for i in items}
    if actions == {"create"}:
        return "**new**"
    if actions == {"delete"}:
        return "**removed**"
    if actions == {"same"}:
        return "unchanged"
    return action_counts(i.action for i in items if i.action != "same")


def _clone_groups(view: PlanView) -> list[str]:
    groups = clone_groups(view)
    out = ["## Clone groups", ""]
    if not groups:
        return [*out, "None.", ""]
    out += ["| group | kind | size | count | version | rollout | change |",
            "|---|---|---|--:|---|---|---|"]
    out += [f"| `{g.group}` | {g.kind} | {g.size} | {g.count} | {g.version} "
            f"| {_cell(g.rollout)} | {g.status} |" for g in groups]
    return [*out, ""]


# -- changes, with their values ---------------------------------------------------------------


def _changes(view: PlanView, known: bool) -> list[str]:
    out = ["## Changes", ""]
    rows = [i for i in view.customs if i.action != "same"]
    if not known:
        out += ["No prior state: every resource is created (run with `--state FILE` "
                "to see the changes against a previous run).", ""]
        return out + _folded(f"{len(rows)} to create", _change_table(view, rows),
                             heading_level=3)
    out += [action_counts(i.action for i in view.customs), ""]
    if not rows:
        return [*out, "Nothing to change.", ""]
    others = [i for i in rows if i.action != "create"]
    creates = [i for i in rows if i.action == "create"]
    if others:
        out += [*_change_table(view, others), ""]
    if creates:
        out += _folded(f"{len(creates)} to create", _change_table(view, creates),
                       heading_level=3)
    return out


def _change_table(view: PlanView, items: list[PlanItem]) -> list[str]:
    """One row per resource: by action, then in pipeline order."""
    def order(item: PlanItem) -> tuple[int, int, str]:
        stage = view.stage(item)
        return _action_rank(item.action), STAGES.index(stage) if stage in STAGES else 0, \
            item.urn

    table = ["| | action | type | name | what changes |", "|---|---|---|---|---|"]
    for item in sorted(items, key=order):
        table.append(f"| `{ACTION_SYMBOL.get(item.action, '?')}` | {item.action} "
                     f"| {_code(_short_type(item.type))} | {_code(item.name)} "
                     f"| {_details(item)} |")
    return table


def _details(item: PlanItem) -> str:
    if item.action in ("create", "delete"):
        values = " · ".join(f"{label} {_code(value)}" for label, value in key_values(item))
        return ("was: " + values if item.action == "delete" and values else values) or "—"
    lines = []
    if item.action == "replace":
        reasons = ", ".join(_code(r) for r in item.replace_reasons)
        lines.append(f"**replaced**: {reasons} cannot change in place" if reasons
                     else "**replaced**")
    lines += [f"{_code(d.path)}: {_code(shown(d.old))} → {_code(shown(d.new))}"
              for d in item.diff[:DIFF_LINES]]
    if len(item.diff) > DIFF_LINES:
        lines.append(f"… and {len(item.diff) - DIFF_LINES} more")
    if not item.diff and item.properties and not item.replace_reasons:
        lines.append(", ".join(_code(pulumi_path(parse_path(p))) for p in item.properties))
    return "<br/>".join(lines) or "—"


def key_values(item: PlanItem) -> list[tuple[str, str]]:
    """What identifies a resource to a reviewer: its Azure name, and per type its size,
    count, image, version, regions and the like."""
    props = item.props
    found: list[tuple[str, Any]] = [("Azure name", azure_name(item))]
    if item.type == VIRTUAL_MACHINE:
        found += [("size", value_at(props, ("hardwareProfile", "vmSize"))),
                  ("image", _image(value_at(props, ("storageProfile", "imageReference")))),
                  ("version", item.tag(VERSION_TAG)), ("role", item.tag(ROLE_TAG))]
    elif item.type == SCALE_SET:
        found += [("size", value_at(props, ("sku", "name"))),
                  ("count", value_at(props, ("sku", "capacity"))),
                  ("image", _image(value_at(props, ("virtualMachineProfile", "storageProfile",
                                                    "imageReference")))),
                  ("version", item.tag(VERSION_TAG))]
    elif item.type == GALLERY_IMAGE_VERSION:
        found += [("regions", _target_regions(
            value_at(props, ("publishingProfile", "targetRegions"))))]
    elif item.type == NSG:
        found += [("rules", _rules(props.get("securityRules")))]
    elif item.type == GALLERY_IMAGE:
        found += [("identifier", ":".join(shown(value_at(props, ("identifier", k)))
                                          for k in ("publisher", "offer", "sku"))),
                  ("OS", props.get("osType")), ("generation", props.get("hyperVGeneration"))]
    else:
        found += [(label, value_at(props, path)) for label, path in _KEY_PATHS.get(item.type, ())]
    if item.type.startswith(DYNAMIC_PREFIX):
        found += [("VM", props.get("vmName"))]
    return [(label, shown(value, 100)) for label, value in found if value is not None]


_KEY_PATHS: dict[str, tuple[tuple[str, tuple[PathPart, ...]], ...]] = {
    RESOURCE_GROUP: (("location", ("location",)),),
    VIRTUAL_NETWORK: (("address space", ("addressSpace", "addressPrefixes")),),
    SUBNET: (("prefix", ("addressPrefix",)),),
    NIC: (("role", ("tags", ROLE_TAG)),),
    MANAGED_IMAGE: (("source VM", ("sourceVirtualMachine", "id")),),
    RUN_COMMAND: (("timeout (s)", ("timeoutInSeconds",)),),
    PUBLIC_IP: (("sku", ("sku", "name")),),
    NAT_GATEWAY: (("sku", ("sku", "name")),),
}


def _rules(rules: Any) -> Any:
    """An NSG's rules, one short phrase each: `ssh: Allow 22 from VirtualNetwork`."""
    if not isinstance(rules, list):
        return rules
    return "; ".join(
        f"{shown(r.get('name'))}: {shown(r.get('access'))} {shown(r.get('destinationPortRange'))}"
        f" from {shown(r.get('sourceAddressPrefix'))}" for r in _dicts(rules))


def _image(ref: Any) -> Any:
    if isinstance(ref, Mapping) and ref.get("publisher"):
        return _marketplace(ref)
    return ref.get("id") if isinstance(ref, Mapping) else ref


def _action_rank(action: str) -> int:
    return ACTION_ORDER.index(action) if action in ACTION_ORDER else len(ACTION_ORDER)


# -- the Mermaid diagram ----------------------------------------------------------------------

CLASS_STYLES = {
    "create": "fill:#dafbe1,stroke:#1a7f37,color:#0d1117",
    "update": "fill:#fff8c5,stroke:#9a6700,color:#0d1117",
    "replace": "fill:#ffe2cc,stroke:#bc4c00,color:#0d1117",
    "delete": "fill:#ffebe9,stroke:#cf222e,color:#0d1117,stroke-dasharray:4 3",
    "same": "fill:#f6f8fa,stroke:#8c959f,color:#57606a",
}
FOUNDATION, CLONES = "foundation", "clones"
LEGEND = ("Green: create · yellow: update · orange: replace · red, dashed: delete · grey: "
          "unchanged. Resources of one clone group are one node. Edges from the resource "
          "group are left out, and one arrow from *foundation* stands for every dependency "
          "on the network and the gallery.")


@dataclass
class _Node:
    id: str
    group: str  # the top-level subgraph: foundation, an image version, clones
    stage: str
    label: str
    action: str


def diagram(view: PlanView) -> list[str]:
    nodes, key_of = _nodes(view)
    node_edges, group_edges = _edges(view, nodes, key_of)
    out = ["## Dependency graph", "", "```mermaid", "flowchart TB"]
    out += [f"  classDef {action} {style}" for action, style in CLASS_STYLES.items()]
    out += _subgraphs(view, list(nodes.values()))
    out += [f"  {a} --> {b}" for a, b in sorted(group_edges)]
    out += [f"  n{a} --> n{b}" for a, b in sorted(node_edges)]
    for action in CLASS_STYLES:
        ids = [n.id for n in nodes.values() if n.action == action]
        if ids:
            out.append(f"  class {','.join(ids)} {action}")
    return [*out, "```", "", LEGEND, ""]


def _node_key(item: PlanItem) -> str:
    """Resources of one clone group share a node; everything else is its own."""
    group = item.tag(GROUP_TAG)
    return f"{CLONES}:{group}" if group and item.tag(ROLE_TAG) == "clone" else item.urn


def _place(view: PlanView, item: PlanItem) -> tuple[str, str]:
    """(top-level subgraph, stage) of a resource."""
    stage = view.stage(item)
    if stage == "clone" or item.tag(ROLE_TAG) == "clone":
        return CLONES, "clone"
    version = view.version(item)
    if version is not None and stage in VERSION_STAGES:
        return version_id(version), stage
    return FOUNDATION, "foundation"


def version_id(version: str) -> str:
    return "v" + re.sub(r"[^A-Za-z0-9]", "_", version)


def _nodes(view: PlanView) -> tuple[dict[str, _Node], dict[str, str]]:
    members: dict[str, list[PlanItem]] = {}
    for item in view.customs:
        members.setdefault(_node_key(item), []).append(item)
    placed = {key: _place(view, items[0]) for key, items in members.items()}
    versions = {v.version: i for i, v in enumerate(image_versions(view))}

    def order(key: str) -> tuple[int, int, int, str]:
        group, stage = placed[key]
        rank = 0 if group == FOUNDATION else 2 if group == CLONES else 1
        version = next((v for v in versions if version_id(v) == group), "")
        stage_rank = STAGES.index(stage) if stage in STAGES else len(STAGES)
        return rank, versions.get(version, 0), stage_rank, key

    nodes: dict[str, _Node] = {}
    for key in sorted(members, key=order):
        group, stage = placed[key]
        nodes[key] = _Node(f"n{len(nodes) + 1}", group, stage, _label(key, members[key]),
                           _node_action(members[key]))
    key_of = {item.urn: _node_key(item) for item in view.customs}
    return nodes, key_of


def _edges(view: PlanView, nodes: dict[str, _Node],
           key_of: dict[str, str]) -> tuple[set[tuple[int, int]], set[tuple[str, str]]]:
    """Dependencies between nodes, less those on the resource group; every dependency of
    an image version or a clone group on the foundation is one edge from the foundation."""
    edges: set[tuple[int, int]] = set()
    groups: set[tuple[str, str]] = set()
    for item in view.customs:
        if item.action == "delete":
            continue  # what is going away waits for nothing
        for dep in view.deps(item):
            if dep.type == RESOURCE_GROUP:
                continue
            a, b = nodes[key_of[dep.urn]], nodes[key_of[item.urn]]
            if a is b:
                continue
            if a.group == FOUNDATION and b.group != FOUNDATION:
                groups.add((FOUNDATION, b.group))
            else:
                edges.add((int(a.id[1:]), int(b.id[1:])))
    return transitive_reduction(edges), groups


def transitive_reduction(edges: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """The edges no longer path stands for: a -> c goes when a -> b -> ... -> c exists."""
    after: dict[int, set[int]] = {}
    for a, b in edges:
        after.setdefault(a, set()).add(b)

    def reachable(start: int, skip: tuple[int, int]) -> set[int]:
        seen: set[int] = set()
        todo = [b for b in after.get(start, ()) if (start, b) != skip]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo += after.get(node, ())
        return seen

    return {(a, b) for a, b in edges if b not in reachable(a, (a, b))}


def _subgraphs(view: PlanView, nodes: list[_Node]) -> list[str]:
    titles = {version_id(v.version): f"image {v.version} · {v.status}"
              for v in image_versions(view)}
    out: list[str] = []
    for group in dict.fromkeys(n.group for n in nodes):
        members = [n for n in nodes if n.group == group]
        out.append(f'  subgraph {group}["{_escape_label(titles.get(group, group))}"]')
        if group == FOUNDATION:
            out.append("    direction LR")
        if group in titles:
            for stage in dict.fromkeys(n.stage for n in members):
                out.append(f'    subgraph {group}_{stage}["{stage}"]')
                out += [f'      {n.id}["{n.label}"]' for n in members if n.stage == stage]
                out.append("    end")
        else:
            out += [f'    {n.id}["{n.label}"]' for n in members]
        out.append("  end")
    return out


def _node_action(items: list[PlanItem]) -> str:
    actions = {i.action for i in items}
    if len(actions) == 1:
        return actions.pop()
    if actions <= {"same", "update"}:
        return "update"
    return "replace"  # a group that gains, loses or swaps members


def _label(key: str, items: list[PlanItem]) -> str:
    if not key.startswith(f"{CLONES}:"):
        item = items[0]
        name = azure_name(item)  # none: a VM action, told apart by where it sits
        return _escape_label(f"{_type_name(item.type)}<br/>{name}" if name
                             else _type_name(item.type))
    vms = [i for i in items if i.type in (VIRTUAL_MACHINE, SCALE_SET)]
    group = key.split(":", 1)[1]
    if any(i.type == SCALE_SET for i in vms):
        what = f"ScaleSet {group}<br/>{_count(vms, True)} instances"
    else:
        what = f"CloneSet {group}<br/>{_count(vms, False)} VMs"
    version = _old_new(vms, (("tags", VERSION_TAG),))
    return _escape_label(re.sub(r"[`*]", "", f"{what} · {version}"))


def _type_name(type_: str) -> str:
    """'azure-native:compute:VirtualMachine' -> 'VirtualMachine', shorter where long."""
    name = type_.rsplit(":", 1)[-1]
    return {"VirtualMachineRunCommandByVirtualMachine": "RunCommand",
            "VirtualMachineScaleSet": "ScaleSet"}.get(name, name)


_MERMAID_UNSAFE = set('"#&<>|[]{}();`\\')


def _escape_label(text: str) -> str:
    """Mermaid entity codes for characters that end or confuse a quoted label; `<br/>`
    line breaks are kept."""
    lines = text.split("<br/>")
    return "<br/>".join(
        "".join(f"#{ord(ch)};" if ch in _MERMAID_UNSAFE else ch for ch in line)
        for line in lines
    )


# -- helpers ----------------------------------------------------------------------------------


def _folded(summary: str, table: list[str], *, heading_level: int = 0) -> list[str]:
    """A table under a heading, or folded into <details> when it is long."""
    if len(table) - 2 > FOLD_ROWS or not heading_level:
        return [f"<details><summary>{summary}</summary>", "", *table, "", "</details>", ""]
    return [f"{'#' * heading_level} {summary}", "", *table, ""]


def _order(reg: Registration) -> tuple[int, float, float, str]:
    stage = stage_of(reg)
    return (STAGES.index(stage), reg.start_s, reg.end_s, reg.urn)


def _stack_of(run: ProgramRun) -> str:
    return stack_of(r.urn for r in run.registrations) or "offline"


def stack_of(urns: Iterable[str]) -> str | None:
    for urn in urns:
        if urn.startswith("urn:pulumi:"):
            return urn.split("::", 1)[0].removeprefix("urn:pulumi:")
    return None


def urn_type(urn: str) -> str:
    parts = urn.split("::")
    return parts[2].split("$")[-1] if len(parts) > 3 else ""


def _short_type(type_: str) -> str:
    """'azure-native:compute:VirtualMachine' -> 'compute:VirtualMachine'."""
    if type_.startswith(DYNAMIC_PREFIX):
        return type_.removeprefix(DYNAMIC_PREFIX)
    return type_.split(":", 1)[1] if type_.count(":") >= 2 else type_


def _version_key(version: str) -> tuple[int, tuple[int, int, int], str]:
    parsed = parse_version(version)
    return (0, parsed, version) if parsed else (1, (0, 0, 0), version)


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _number(value: Any) -> int:
    value = plain(value)
    return value if isinstance(value, int) else -1


def _code(text: str | None) -> str:
    """A code span safe in a table cell: GitHub splits cells at '|' even inside one."""
    if not text:
        return "—"
    escaped = str(text).replace("|", "\\|").replace("\n", " ")
    if "`" in escaped:
        return f"`` {escaped} ``"
    return f"`{escaped}`"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell or list item: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")
