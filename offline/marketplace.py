"""The marketplace images the simulated Azure knows, and what ARM says of each: its
Hyper-V generation and architecture (`GET .../publishers/{p}/artifacttypes/vmimage/
offers/{o}/skus/{s}/versions/{v}`). A small catalog of common images, with the facts
their publishers document (gen1/gen2 and arm64 SKUs); `--marketplace-image` adds more for
a run. An image not in it is answered as Azure answers an unknown one: 404.

Versions are Azure's `Major.Minor.Build`, decimal numbers (publishers make the build a
date: Ubuntu `24.04.202501140`); `latest` means the highest (REST `ImageReference.version`).
`--marketplace-version` publishes one more (the month's patched image), and a state file
keeps what a run's Azure knew beyond the catalog."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class CatalogImage:
    generation: str
    architecture: str = "x64"
    versions: tuple[str, ...] = ("1.0.0",)


CATALOG: dict[tuple[str, str, str], CatalogImage] = {
    ("canonical", "ubuntu-24_04-lts", "server"): CatalogImage("V2", versions=(
        "24.04.202501140", "24.04.202604010")),
    ("canonical", "ubuntu-24_04-lts", "server-gen1"): CatalogImage("V1"),
    ("canonical", "ubuntu-24_04-lts", "server-arm64"): CatalogImage("V2", "Arm64"),
    ("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts"): CatalogImage("V1"),
    ("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"): CatalogImage("V2"),
    # Ubuntu's confidential VM image (learn: quick-create-confidential-vm-azure-cli)
    ("canonical", "0001-com-ubuntu-confidential-vm-jammy", "22_04-lts-cvm"): CatalogImage("V2"),
    ("debian", "debian-12", "12"): CatalogImage("V1"),
    ("debian", "debian-12", "12-gen2"): CatalogImage("V2"),
    ("redhat", "rhel", "9-lvm-gen2"): CatalogImage("V2"),
    ("microsoftwindowsserver", "windowsserver", "2022-datacenter"): CatalogImage("V1"),
    ("microsoftwindowsserver", "windowsserver", "2022-datacenter-g2"): CatalogImage("V2"),
    ("microsoftwindowsserver", "windowsserver", "2022-datacenter-azure-edition"):
        CatalogImage("V2", versions=("20348.2966.250106", "20348.3207.250305")),
    ("microsoftwindowsserver", "windowsserver", "2025-datacenter-azure-edition"):
        CatalogImage("V2"),
    ("microsoftwindowsserver", "windowsserver", "2019-datacenter"): CatalogImage("V1"),
    ("microsoftwindowsserver", "windowsserver", "2019-datacenter-gensecond"):
        CatalogImage("V2"),
}

_ENTRY = re.compile(r"^([^:=\s]+):([^:=\s]+):([^:=\s]+)=(V1|V2)(?:/(x64|Arm64))?$")


def parse_entry(item: str) -> tuple[tuple[str, str, str], CatalogImage]:
    """`PUBLISHER:OFFER:SKU=V2[/Arm64]` -> a catalog entry; ValueError names the item."""
    match = _ENTRY.match(item.strip())
    if match is None:
        raise ValueError(f"--marketplace-image {item!r}: expected PUBLISHER:OFFER:SKU=V1|V2 "
                         "with an optional /x64 or /Arm64")
    publisher, offer, sku, generation, architecture = match.groups()
    return ((publisher.lower(), offer.lower(), sku.lower()),
            CatalogImage(generation, architecture or "x64"))


_VERSION_ENTRY = re.compile(
    r"^([^:=\s]+):([^:=\s]+):([^:=\s]+)=([0-9]{1,10}\.[0-9]{1,10}\.[0-9]{1,10})$")

Key = tuple[str, str, str]


def parse_version_entry(item: str) -> tuple[Key, str]:
    """`PUBLISHER:OFFER:SKU=MAJOR.MINOR.BUILD` -> (image, version); ValueError names the item."""
    match = _VERSION_ENTRY.match(item.strip())
    if match is None:
        raise ValueError(f"--marketplace-version {item!r}: expected PUBLISHER:OFFER:SKU="
                         "MAJOR.MINOR.BUILD (decimal numbers, e.g. 24.04.202605140)")
    publisher, offer, sku, version = match.groups()
    return (publisher.lower(), offer.lower(), sku.lower()), version


def version_key(version: str) -> tuple[int, ...]:
    """Azure's order of marketplace versions: by number, part by part."""
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


def with_versions(catalog: Mapping[Key, CatalogImage],
                  added: list[tuple[Key, str]]) -> dict[Key, CatalogImage]:
    """The catalog with each added version published; ValueError for an image it does
    not know (add it first with --marketplace-image)."""
    found = dict(catalog)
    for key, version in added:
        if key not in found:
            raise ValueError(f"--marketplace-version {':'.join(key)}={version}: the simulated "
                             "Azure has no such image; add it with --marketplace-image first")
        image = found[key]
        if version not in image.versions:
            found[key] = replace(image, versions=tuple(sorted(
                (*image.versions, version), key=version_key)))
    return found


def dump(marketplace: Mapping[Key, CatalogImage]) -> dict[str, Any]:
    """What a state file keeps: the images and versions beyond the catalog."""
    return {":".join(key): {"generation": image.generation,
                            "architecture": image.architecture,
                            "versions": list(image.versions)}
            for key, image in sorted(marketplace.items()) if CATALOG.get(key) != image}


def load(marketplace: dict[Key, CatalogImage], data: Mapping[str, Any]) -> None:
    """Merge what a state file kept into a run's catalog (versions are only ever added)."""
    for name, record in data.items():
        publisher, offer, sku = name.split(":")
        key = (publisher, offer, sku)
        known = marketplace.get(key)
        versions = tuple(record["versions"])
        if known is None:
            marketplace[key] = CatalogImage(record["generation"], record["architecture"],
                                            versions)
        else:
            merged = tuple(sorted(set(known.versions) | set(versions), key=version_key))
            marketplace[key] = replace(known, versions=merged)
