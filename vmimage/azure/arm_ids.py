"""ARM resource ids the config may name (an existing subnet, a user-assigned identity, a
disk encryption set): parsed, so a malformed one is refused at its key with what an id of
that kind looks like, and its parts (subscription, group, names) are known without a
lookup."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: What each kind looks like; `{}` marks a name.
KINDS = {
    "subnet": "Microsoft.Network/virtualNetworks/{}/subnets/{}",
    "user-assigned identity": "Microsoft.ManagedIdentity/userAssignedIdentities/{}",
    "disk encryption set": "Microsoft.Compute/diskEncryptionSets/{}",
    "gallery image version": "Microsoft.Compute/galleries/{}/images/{}/versions/{}",
    "managed image": "Microsoft.Compute/images/{}",
    "storage account": "Microsoft.Storage/storageAccounts/{}",
}
#: How `example` names the parts of each kind's path.
_PARTS = {"subnet": ("vnet", "subnet"), "gallery image version": ("gallery", "image", "version")}
_SEGMENT = r"([A-Za-z0-9][A-Za-z0-9._()-]*)"


@dataclass(frozen=True)
class ArmId:
    text: str
    subscription: str
    resource_group: str
    names: tuple[str, ...]


def example(kind: str) -> str:
    path = KINDS[kind].format(*(f"<{n}>" for n in _PARTS.get(kind, ("name",))))
    return f"/subscriptions/<id>/resourceGroups/<group>/providers/{path}"


def parse(text: str, kind: str) -> ArmId:
    """The id's parts; ValueError (with what was expected) if it is not an id of `kind`."""
    provider = re.escape(KINDS[kind]).replace(r"\{\}", _SEGMENT)
    pattern = (r"/subscriptions/([0-9a-fA-F-]{36})/resourceGroups/" + _SEGMENT
               + r"/providers/" + provider)
    match = re.fullmatch(pattern, text.strip(), re.IGNORECASE)
    if match is None or not text.isascii():
        raise ValueError(f"{text!r} is not the ARM id of a {kind} ({example(kind)})")
    subscription, group, *names = match.groups()
    return ArmId(text, subscription, group, tuple(names))
