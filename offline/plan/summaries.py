"""What the plan says per image version (source, regions, disks, steps, new, unchanged
or retired) and per clone group (kind, size, count, version old -> new, rollout
batches), and the count of changes by action."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from offline.changes import UNKNOWN_SHOWN, plain, shown, value_at
from offline.escape.markdown import code, text
from offline.plan.model import ACTION_ORDER, STEP_TYPES, PlanItem, PlanView
from offline.plan.values import (
    dicts,
    marketplace,
    number,
    old_new,
    target_regions,
    values_at,
)
from vmimage.azure.naming import parse_version
from vmimage.vocabulary import (
    BOOTSTRAP_TAG,
    CAPTURED_IMAGE_TYPES,
    FORMAT_DISKS_KIND,
    GALLERY_IMAGE_VERSION,
    GROUP_TAG,
    MANAGED_IMAGE,
    RESTART,
    RESUME,
    RETENTION_TAG,
    REVOKED_TAG,
    ROLE_TAG,
    RUN_COMMAND,
    SCALE_SET,
    STEP_DEPROVISION,
    STEP_INDEX_TAG,
    STEP_KIND_TAG,
    STEP_TAG,
    VERSION_TAG,
    VIRTUAL_MACHINE,
)


def action_counts(actions: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for action in actions:
        counts[action] = counts.get(action, 0) + 1
    keys = sorted(counts, key=lambda a: (ACTION_ORDER.index(a) if a in ACTION_ORDER
                                         else len(ACTION_ORDER), a))
    return ", ".join(f"{counts[a]} to {a}" if a != "same" else f"{counts[a]} unchanged"
                     for a in keys) or "no changes"


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
    revoked: str | None = None  # the reason of a revoked version (its vmimage-revoked tag)
    must_move: tuple[str, ...] = ()  # clone groups on a revoked version, before or after
    lifecycle: tuple[str, ...] = ()  # retention's lines: excluded, end of life, retired, deleted


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
            for version in values_at(item, (("tags", VERSION_TAG),), before=True, after=True):
                if version != UNKNOWN_SHOWN:
                    members.setdefault(version, [])
    return [_version_summary(view, v, members[v]) for v in sorted(members, key=_version_key)]


def _version_summary(view: PlanView, version: str, items: list[PlanItem]) -> VersionSummary:
    build_vm = next((i for i in items if i.type == VIRTUAL_MACHINE), None)
    captures = [i for i in items if i.type in CAPTURED_IMAGE_TYPES]
    status = _version_status(view, build_vm, captures, items)
    revoked = next((r for c in captures if c.action != "delete"
                    for r in [c.tag(REVOKED_TAG)] if r), None)
    return VersionSummary(
        version=version, status=status,
        changed=status not in ("unchanged", "retired") or
        (build_vm is not None and build_vm.action == "delete"),
        source=_source(view, build_vm, captures), regions=_regions(captures),
        disks=tuple(_disks(build_vm, items, captures)), steps=tuple(_steps(view, items)),
        revoked=revoked, must_move=tuple(_groups_on(view, version)) if revoked else (),
        lifecycle=tuple(_lifecycle(status, build_vm, captures)),
    )


def _lifecycle(status: str, build_vm: PlanItem | None, captures: list[PlanItem]) -> list[str]:
    """What retention does to a version (its `vmimage-retention` tag, vmimage/config/
    retention.py), and its end-of-life date, whoever set it."""
    retention = next((r for c in captures for r in [c.tag(RETENTION_TAG)] if r), None)
    if status == "deleted":
        return ["deleted (left config, unused)"] if retention else []
    found = [f"excluded from latest (retention {retention})"] if retention else []
    eol = next((e for c in captures if c.type == GALLERY_IMAGE_VERSION
                for e in [value_at(c.props, ("publishingProfile", "endOfLifeDate"))]
                if isinstance(e, str)), None)
    if eol:
        found.append(f"end of life {shown(eol[:10])}")
    if retention and build_vm is not None and build_vm.action == "delete":
        found.append("build VM retired")  # by retention (a `retired: true` shows as status)
    return found


def _groups_on(view: PlanView, version: str) -> list[str]:
    """The clone groups that ran or would run `version`: those a revocation must move."""
    return sorted({g for item in view.customs
                   if item.tag(ROLE_TAG) == "clone" and (g := item.tag(GROUP_TAG))
                   and version in values_at(item, (("tags", VERSION_TAG),), before=True,
                                            after=True)})


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
                return f"vhd {code(shown(uri, 100))}"
        return "—"
    ref = value_at(build_vm.props, ("storageProfile", "imageReference"))
    if isinstance(ref, Mapping) and ref.get("publisher"):
        return "marketplace " + code(marketplace(ref))
    parent = next((d for d in view.deps(build_vm) if d.type in CAPTURED_IMAGE_TYPES), None)
    if parent is not None and view.version(parent) is not None:
        return f"version {code(view.version(parent))}"
    image_id = ref.get("id") if isinstance(ref, Mapping) else ref
    return _image_id_source(view, image_id)


def _image_id_source(view: PlanView, image_id: Any) -> str:
    if not isinstance(image_id, str) or plain(image_id) == UNKNOWN_SHOWN:
        return f"image {code(shown(image_id))}"
    own = re.search(r"/galleries/([^/]+)/images/([^/]+)/versions/([^/]+)$", image_id, re.I)
    if own and (own[1].lower(), own[2].lower()) in view.galleries:
        return f"version {code(own[3])}"
    if "/galleries/" in image_id.lower():
        return f"imageVersionId {code(shown(image_id))}"
    return f"managedImageId {code(shown(image_id))}"


def _regions(captures: list[PlanItem]) -> str:
    found: list[str] = []
    for capture in sorted(captures, key=lambda c: c.type):
        if capture.type == GALLERY_IMAGE_VERSION:
            found.append(target_regions(
                value_at(capture.props, ("publishingProfile", "targetRegions"))))
        elif capture.type == MANAGED_IMAGE:
            found.append(f"managed image in {shown(capture.props.get('location'))}")
    return ", ".join(found) or "—"


#: One disk of the format-disks script: `LUN:FS:TARGET:LABEL`
#: (vmimage/steps/format_disks.py).
_DISK_ITEM = re.compile(r"""^\s*['"]?(\d{1,2}):(ext4|xfs|ntfs):([^:'"\s]*):([\w-]*)['"]?,?\s*$""",
                        re.MULTILINE)


def _disks(build_vm: PlanItem | None, items: list[PlanItem],
           captures: list[PlanItem]) -> list[str]:
    formats = {int(lun): f"{fs} {target}".strip() + (f" ({label})" if label else "")
               for item in items if item.tag(STEP_KIND_TAG) == FORMAT_DISKS_KIND
               for lun, fs, target, label in _DISK_ITEM.findall(
                   str(value_at(item.props, ("source", "script")) or ""))}
    if build_vm is None:
        return [f"LUN {shown(d.get('lun'))}: vhd"
                for c in captures for d in dicts(value_at(c.props, (
                    "storageProfile", "dataDiskImages")))]
    disks = dicts(value_at(build_vm.props, ("storageProfile", "dataDisks")))
    return [_disk(d, formats) for d in sorted(disks, key=lambda d: number(d.get("lun")))]


def _disk(disk: Mapping[str, Any], formats: Mapping[int, str]) -> str:
    lun = number(disk.get("lun"))
    size = "from image" if disk.get("createOption") == "FromImage" \
        else f"{shown(disk.get('diskSizeGB'))} GiB"
    sku = shown(value_at(disk, ("managedDisk", "storageAccountType")))
    text = f"LUN {shown(disk.get('lun'))}: {size} {sku}"
    return f"{text}, {formats[lun]}" if lun in formats else text


def _steps(view: PlanView, items: list[PlanItem]) -> list[str]:
    steps = [i for i in items if i.type in STEP_TYPES
             and view.stage(i) in ("customize", "deprovision")]
    return _labels(_in_order(view, steps))


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


def _labels(steps: list[PlanItem]) -> list[str]:
    """One label per step, in order: a step's run commands (and the restarts between
    them, as windowsUpdate registers) carry its kind and index tags, so they are one."""
    labels: list[str] = []
    last: tuple[str, str] | None = None
    count = 0
    for i, step in enumerate(steps):
        if step.type == RESTART and 0 < i < len(steps) - 1 and \
                _step_of(steps[i - 1]) is not None and \
                _step_of(steps[i - 1]) == _step_of(steps[i + 1]):
            continue
        key = _step_of(step)
        if key is not None and key == last:
            count += 1
            labels[-1] = f"{_kind_label(key[0])} ({count} run commands)"
            continue
        last, count = key, 1
        labels.append(_step_label(step))
    return labels


def _step_of(item: PlanItem) -> tuple[str, str] | None:
    """(kind, index) of a step's run command, as its tags say (None: not tagged)."""
    kind = item.tag(STEP_KIND_TAG) if item.type == RUN_COMMAND else None
    return (str(kind), str(item.tag(STEP_INDEX_TAG))) if kind else None


def _kind_label(kind: str) -> str:
    return "format disks" if kind == FORMAT_DISKS_KIND else kind


def _step_label(step: PlanItem) -> str:
    if step.type == RESTART:
        return "restart"
    if step.type == RESUME:
        return "resume (Spot)"
    if step.tag(STEP_TAG) == STEP_DEPROVISION:
        return "deprovision (legacy)"
    key = _step_of(step)
    return _kind_label(key[0]) if key else "run command"  # from before steps were tagged


def _version_key(version: str) -> tuple[int, tuple[int, int, int], str]:
    parsed = parse_version(version)
    return (0, parsed, version) if parsed else (1, (0, 0, 0), version)


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
    bootstrap: str
    """userData / customData digests (vocabulary.BOOTSTRAP_TAG), never the content; empty
    when no VM of the group has or had any."""


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
        size=old_new(items, size), count=clone_count(items, scale_set),
        version=old_new(items, (("tags", VERSION_TAG),)),
        rollout=_scale_set_rollout(items) if scale_set else _vm_rollout(view, items),
        status=_group_status(items),
        bootstrap=old_new(items, (("tags", BOOTSTRAP_TAG),))
        if any(values_at(i, (("tags", BOOTSTRAP_TAG),), before=True, after=True)
               for i in items) else "",
    )


def clone_count(items: list[PlanItem], scale_set: bool, *, markdown: bool = True) -> str:
    """How many instances or VMs, old -> new: Markdown text, or plain for a diagram label."""
    if scale_set:
        return old_new(items, (("sku", "capacity"),), show=text if markdown else str,
                       strong=markdown)
    old = sum(1 for i in items if i.action != "create")
    new = sum(1 for i in items if i.action != "delete")
    if not old or old == new:
        return str(new)
    return f"{old} → **{new}**" if markdown else f"{old} → {new}"


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
