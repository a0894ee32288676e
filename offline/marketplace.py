"""The marketplace images the simulated Azure knows, and what ARM says of each: its
Hyper-V generation and architecture (`GET .../publishers/{p}/artifacttypes/vmimage/
offers/{o}/skus/{s}/versions/{v}`). A small catalog of common images, with the facts
their publishers document (gen1/gen2 and arm64 SKUs); `--marketplace-image` adds more for
a run. An image not in it is answered as Azure answers an unknown one: 404."""

from __future__ import annotations

import re
from dataclasses import dataclass


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
