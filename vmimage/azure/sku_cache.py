"""The region's VM sizes, kept in the user's cache directory for an hour.

Listing resource SKUs answers with every SKU of every resource type in the region (a large
answer); a preview needs only the vCPUs, quota family and security capabilities of the sizes the
config names.
So each run does not list them again, the VM sizes of a (subscription, region) are kept in
`$XDG_CACHE_HOME/vmimage/` (else `~/.cache/vmimage/`) for `TTL_S`. A file that is corrupt,
not ours, or open to others is ignored (and rewritten); `VMIMAGE_NO_CACHE=1` bypasses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

TTL_S = 3600.0
NO_CACHE_ENV = "VMIMAGE_NO_CACHE"
FORMAT = "vmimage-resource-skus/2"  # /2: with capabilities; a /1 file is read as none

#: size name (lower-case) -> (quota family, vCPUs, security capabilities by name)
Sizes = dict[str, tuple[str, int, dict[str, str]]]


def cache_dir(env: Mapping[str, str]) -> Path:
    """Where the XDG base directory spec puts a user's cache (a relative XDG_CACHE_HOME
    is invalid under the spec and ignored)."""
    base = env.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "vmimage"


def sku_cache(env: Mapping[str, str]) -> SkuCache | None:
    """The user's cache, or None when VMIMAGE_NO_CACHE asks for none."""
    if env.get(NO_CACHE_ENV, "").strip() not in ("", "0"):
        return None
    return SkuCache(cache_dir(env))


def _ours(info: os.stat_result) -> bool:
    """Owned by this user and writable by nobody else: another user's file could lie."""
    return (info.st_uid == os.getuid()
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _parse(text: str, subscription: str, location: str) -> tuple[Sizes, float] | None:
    """(sizes, when written) of a cache file, or None unless it is whole and for this key."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if (not isinstance(data, dict) or data.get("format") != FORMAT
            or data.get("subscription") != subscription or data.get("location") != location
            or not isinstance(data.get("written"), (int, float))
            or not isinstance(data.get("sizes"), dict)):
        return None
    sizes: Sizes = {}
    for name, value in data["sizes"].items():
        if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
                and isinstance(value[1], int) and not isinstance(value[1], bool)
                and isinstance(value[2], dict)
                and all(isinstance(v, str) for v in value[2].values())):
            return None
        sizes[name] = (value[0], value[1], dict(value[2]))
    return sizes, float(data["written"])


class SkuCache:
    def __init__(self, directory: Path, *, ttl_s: float = TTL_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.ttl_s = ttl_s
        self.clock = clock

    def path(self, subscription: str, location: str) -> Path:
        # Hashed: the region comes from the config and must not shape a path.
        key = hashlib.sha256(f"{subscription}\n{location}".encode()).hexdigest()[:24]
        return self.directory / f"resource-skus-{key}.json"

    def load(self, subscription: str, location: str) -> Sizes | None:
        """The cached sizes when fresh, whole and ours; None otherwise."""
        path = self.path(subscription, location)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        with os.fdopen(fd, encoding="utf-8") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or not _ours(info):
                return None
            try:
                text = handle.read()
            except (OSError, UnicodeDecodeError):
                return None
        parsed = _parse(text, subscription, location)
        if parsed is None:
            return None
        sizes, written = parsed
        return sizes if 0 <= self.clock() - written < self.ttl_s else None

    def store(self, subscription: str, location: str, sizes: Sizes) -> None:
        """Write atomically (a reader sees the old file or the new, whole); a cache that
        cannot be written is no cache, never a failed preview."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.lstat(self.directory)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                return
            body = json.dumps({"format": FORMAT, "subscription": subscription,
                               "location": location, "written": self.clock(),
                               "sizes": {n: [f, v, c] for n, (f, v, c) in sorted(sizes.items())}})
            fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".resource-skus-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp: mode 0600
                    handle.write(body)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, self.path(subscription, location))
            except BaseException:
                os.unlink(temp)
                raise
        except OSError:
            return
