"""Capture targets as the config knows them: their names (what `capture:` takes; the
models read them, so this module imports nothing), and per target its rules and facts
(vmimage/config/capture/<target>.py, listed in vmimage/config/capture/targets.py). What
a target registers and how Azure is asked about it is one layer up, in vmimage/capture/."""

from __future__ import annotations

from typing import Literal, get_args

#: A capture target's name in `capture:`.
CaptureName = Literal["gallery", "managedImage"]
NAMES: tuple[str, ...] = get_args(CaptureName)
#: The VHD export's name among the targets (`{vhd: {...}}` in `capture:`, never a bare
#: name: it has settings, and it is no image clones could boot).
VHD = "vhd"
#: Every target's key, in table order: the image targets, then the export.
KEYS: tuple[str, ...] = (*NAMES, VHD)
#: The shorthand `capture: both` of earlier releases: every target there was then.
BOTH = ("gallery", "managedImage")
