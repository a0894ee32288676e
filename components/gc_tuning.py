"""Garbage-collector settings for the program. Imports nothing heavy on purpose:
`__main__.py` applies them before it imports the rest of the program."""

from __future__ import annotations

import gc

# CPython's default (700, 10, 10) runs a full collection every 70,000 net allocations;
# Pulumi's Output machinery allocates millions of objects that stay alive until the
# program ends, so a 100-clone program spent about half its time in full collections
# (bench/README.md, B1). Nothing here depends on prompt collection of cycles.
GC_THRESHOLD = (10_000, 10, 10)


def tune_gc() -> None:
    """Collect less often: same result, about half the CPU for large programs."""
    gc.set_threshold(*GC_THRESHOLD)
