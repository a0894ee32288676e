"""Azure's limits and size facts the spec is checked against, each with its source in
docs/azure-behaviours.md. Pure: the spec rules, the simulator and the policy pack read
the same numbers."""

from __future__ import annotations

import ipaddress
import re

#: Azure reserves the first four addresses of every subnet and its last.
SUBNET_RESERVED_ADDRESSES = 5
#: A gallery image version's data disks may be at most 1 TB each (image-version prereqs),
#: and the image under 2 TB (Compute Gallery limits); Shallow replication allows 32 TB.
GALLERY_DATA_DISK_MAX_GB = 1024
GALLERY_IMAGE_MAX_GB = 2048
SHALLOW_IMAGE_MAX_GB = 32 * 1024
#: 1,000 VMs per scale set from a platform or Compute Gallery image (600 from a managed
#: image, which kind: scaleSet does not use).
MAX_SCALE_SET_INSTANCES = 1000
#: Tags ("Use tags to organize your Azure resources", Limitations): 50 name/value pairs per
#: resource (each name and value is checked by its type, vmimage/config/values.py).
MAX_TAGS_PER_RESOURCE = 50
#: osProfile.customData: "decoded to a binary array ... The maximum length of the binary
#: array is 65535 bytes" (Compute REST spec, OSProfile; the SDK's OSProfileArgs).
MAX_CUSTOM_DATA_BYTES = 65535
#: userData: "The contents should be base64 encoded ... The size can't exceed 64 KB"
#: (virtual-machines/user-data). Read strictly: the base64 text itself, at most 64 KiB.
MAX_USER_DATA_BASE64_CHARS = 64 * 1024

# "The newer generations (Ebsv5, Da/Ea/Fav6 and newer) typically support only the NVMe
# storage interface" (nvme-overview): v6 and later families boot only NVMe-capable images.
_NVME_ONLY = re.compile(r"_v([6-9]|\d\d)$", re.IGNORECASE)
# Size names: a 'p' among the feature letters means an Arm CPU (vm-naming-conventions).
_SIZE = re.compile(r"^(Standard|Basic)_([A-Z]+)(\d+)(-\d+)?([a-z]*)_v(\d+)$", re.IGNORECASE)


def usable_addresses(prefix: ipaddress.IPv4Network | ipaddress.IPv6Network) -> int:
    return max(prefix.num_addresses - SUBNET_RESERVED_ADDRESSES, 0)


def nvme_only(size: str) -> bool:
    """Sizes that boot only from images whose definition declares NVMe."""
    return bool(_NVME_ONLY.search(size))


def arm64_size(size: str) -> bool:
    match = _SIZE.match(size)
    return bool(match and "p" in match.group(5).lower())
