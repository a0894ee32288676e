"""What a capture target is, as the config knows it: its name, the stack output of its
images, which one clones boot from first, and the rules it checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vmimage.config.capture import VHD
from vmimage.config.models import PipelineSpec


def shown(capture: tuple[object, ...]) -> str:
    """`capture` as a message quotes it: 'gallery', or ['gallery', 'managedImage'] (a VHD
    export as 'vhd': its settings are not the point)."""
    names = [c if isinstance(c, str) else VHD for c in capture]
    return repr(names[0]) if len(names) == 1 else repr(names)


@dataclass(frozen=True)
class CaptureRules:
    key: str
    """Its name in `capture:` (and the key of its image id)."""
    output: str
    """The stack output that maps versions to these images' ids."""
    preference: int
    """Clones boot from the image of the lowest preference among those captured."""
    problems: Callable[[PipelineSpec], list[str]]
    """`<key path>: <what is wrong>` for a pipeline that captures here."""
