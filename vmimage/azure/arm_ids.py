"""ARM resource ids the config may name (an existing subnet, a user-assigned identity, a
disk encryption set, a gallery image definition or version, a managed image, a storage
account): the
one parser. A malformed id is refused at its key with what an id of that kind looks like;
a parsed id knows its parts (subscription, group, names) without a lookup, and compares
as ARM does, case-insensitively (`ArmId.canonical`).

Each segment is checked on its own: the subscription is a GUID (36 dashes are not one),
the resource group follows Azure's rule (1-90 of letters, digits, `_-.()`, not ending in
`.`; learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules,
Microsoft.Resources), and each name starts with a letter or digit and holds no `..`.
"""

from __future__ import annotations

import re
from typing import Any

#: What each kind looks like; `{}` marks a name.
KINDS = {
    "subnet": "Microsoft.Network/virtualNetworks/{}/subnets/{}",
    "user-assigned identity": "Microsoft.ManagedIdentity/userAssignedIdentities/{}",
    "disk encryption set": "Microsoft.Compute/diskEncryptionSets/{}",
    "gallery image version": "Microsoft.Compute/galleries/{}/images/{}/versions/{}",
    "gallery image definition": "Microsoft.Compute/galleries/{}/images/{}",
    "managed image": "Microsoft.Compute/images/{}",
    "storage account": "Microsoft.Storage/storageAccounts/{}",
}
#: How `example` names the parts of each kind's path.
_PARTS = {"subnet": ("vnet", "subnet"), "gallery image version": ("gallery", "image", "version"),
          "gallery image definition": ("gallery", "image")}
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_GROUP = re.compile(r"[A-Za-z0-9_().-]{0,89}[A-Za-z0-9_()-]")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.()-]{0,259}")
_MAX_CHARS = 1024


class ArmId(str):
    """An ARM id of one kind, as the config wrote it (stripped); equal to another id
    (or text) that differs only in case, as ARM treats them."""

    kind: str
    subscription: str
    resource_group: str
    names: tuple[str, ...]

    def __new__(cls, text: str, kind: str, subscription: str, resource_group: str,
                names: tuple[str, ...]) -> ArmId:
        made = super().__new__(cls, text)
        made.kind, made.subscription, made.resource_group = kind, subscription, resource_group
        made.names = names
        return made

    @property
    def canonical(self) -> str:
        """The form to compare and deduplicate by."""
        return self.lower()

    @property
    def name(self) -> str:
        """The resource's own (last) name."""
        return self.names[-1]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.canonical == other.lower()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.canonical)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ArmId, (str(self), self.kind, self.subscription, self.resource_group,
                        self.names))


def example(kind: str) -> str:
    path = KINDS[kind].format(*(f"<{n}>" for n in _PARTS.get(kind, ("name",))))
    return f"/subscriptions/<id>/resourceGroups/<group>/providers/{path}"


def parse(text: str, kind: str) -> ArmId:
    """The id's parts; ValueError (with what was expected, and which segment is wrong)
    if it is not an id of `kind`."""
    text = text.strip()
    shown = repr(text) if len(text) <= 300 else repr(text[:300] + "...")
    expected = f"is not the ARM id of a {kind} ({example(kind)})"
    if len(text) > _MAX_CHARS or not text.isascii() or not text.isprintable():
        raise ValueError(f"{shown} {expected}")
    parts = text.split("/")
    template = ["", "subscriptions", None, "resourceGroups", None, "providers",
                *KINDS[kind].split("/")]
    if len(parts) != len(template):
        raise ValueError(f"{shown} {expected}")
    values: list[str] = []
    for part, want in zip(parts, template, strict=True):
        if want is not None and want != "{}":
            if part.lower() != want.lower():
                raise ValueError(f"{shown} {expected}")
        else:
            values.append(part)
    subscription, group, *names = values
    if not _GUID.fullmatch(subscription):
        raise ValueError(f"{shown} {expected}: the subscription {subscription!r} is not a "
                         "GUID (8-4-4-4-12 hex digits)")
    if not _GROUP.fullmatch(group):
        raise ValueError(f"{shown} {expected}: the resource group {group!r} is not a "
                         "group name (1-90 letters, digits, _-.(), not ending in '.')")
    for name in names:
        if not _NAME.fullmatch(name) or ".." in name or name.endswith("."):
            raise ValueError(f"{shown} {expected}: {name!r} is not a resource name")
    return ArmId(text, kind, subscription, group, tuple(names))
