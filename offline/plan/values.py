"""Values as a reviewer reads them: a resource's key values (Azure name, size, count,
image, regions...) and its changes old -> new, written as Markdown code spans
(offline/escape/markdown.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from offline.changes import PathPart, parse_path, plain, pulumi_path, shown, value_at
from offline.escape.markdown import ABSENT, code
from offline.plan.model import PlanItem, azure_name
from vmimage.vocabulary import (
    DYNAMIC_PREFIX,
    GALLERY_IMAGE,
    GALLERY_IMAGE_VERSION,
    MANAGED_IMAGE,
    NAT_GATEWAY,
    NIC,
    NSG,
    PUBLIC_IP,
    RESOURCE_GROUP,
    ROLE_TAG,
    RUN_COMMAND,
    SCALE_SET,
    SUBNET,
    VERSION_TAG,
    VIRTUAL_MACHINE,
    VIRTUAL_NETWORK,
)

DIFF_LINES = 8  # value changes shown per resource; the rest are counted


def details(item: PlanItem) -> str:
    if item.action in ("create", "delete"):
        values = " · ".join(f"{label} {code(value)}" for label, value in key_values(item))
        return ("was: " + values if item.action == "delete" and values else values) or "—"
    lines = []
    if item.action == "replace":
        reasons = ", ".join(code(r) for r in item.replace_reasons)
        lines.append(f"**replaced**: {reasons} cannot change in place" if reasons
                     else "**replaced**")
    lines += [f"{code(d.path)}: {code(shown(d.old))} → {code(shown(d.new))}"
              for d in item.diff[:DIFF_LINES]]
    if len(item.diff) > DIFF_LINES:
        lines.append(f"… and {len(item.diff) - DIFF_LINES} more")
    if not item.diff and item.properties and not item.replace_reasons:
        lines.append(", ".join(code(pulumi_path(parse_path(p))) for p in item.properties))
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
        found += [("regions", target_regions(
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
        f" from {shown(r.get('sourceAddressPrefix'))}" for r in dicts(rules))


def _image(ref: Any) -> Any:
    if isinstance(ref, Mapping) and ref.get("publisher"):
        return marketplace(ref)
    return ref.get("id") if isinstance(ref, Mapping) else ref


def marketplace(ref: Mapping[str, Any]) -> str:
    return ":".join(shown(ref.get(k)) for k in ("publisher", "offer", "sku", "version"))


def target_regions(regions: Any) -> str:
    if not isinstance(regions, list):
        return shown(regions)
    return ", ".join(f"{shown(r.get('name'))} ×{shown(r.get('regionalReplicaCount'))}"
                     for r in regions if isinstance(r, Mapping)) or "—"


def values_at(item: PlanItem, paths: Sequence[Sequence[PathPart]], *, before: bool,
            after: bool) -> set[str]:
    found = set()
    for path in paths:
        if before and item.action != "create":
            found.add(shown(item.before(path)))
        if after and item.action != "delete":
            found.add(shown(value_at(item.props, path)))
    return found - {"—"}


def old_new(items: list[PlanItem], paths: Sequence[Sequence[PathPart]], *,
             show: Callable[[str], str] = code, strong: bool = True) -> str:
    """The values before -> after across `items`; each side through `show` (a Markdown
    code span by default; `str` for a diagram label, which escapes it itself), the new one
    in bold when `strong`."""
    old = set().union(*(values_at(i, paths, before=True, after=False) for i in items))
    new = set().union(*(values_at(i, paths, before=False, after=True) for i in items))
    old_text, new_text = (show(", ".join(sorted(side))) or ABSENT for side in (old, new))
    if not old or old == new:
        return new_text if new else old_text
    if not new:
        return f"{old_text} → —"
    return f"{old_text} → **{new_text}**" if strong else f"{old_text} → {new_text}"


def dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def number(value: Any) -> int:
    value = plain(value)
    return value if isinstance(value, int) else -1
