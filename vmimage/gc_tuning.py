"""Garbage-collector settings for the program. Imports nothing heavy on purpose:
`__main__.py` applies them before it imports the rest of the program."""

from __future__ import annotations

import atexit
import gc

# CPython's default (700, 10, 10) runs a full collection every 70,000 net allocations;
# Pulumi's Output machinery allocates millions of objects that stay alive until the
# program ends, so a 100-clone program spent about half its time in full collections
# (bench/README.md, B1). Nothing here depends on prompt collection of cycles.
GC_THRESHOLD = (10_000, 10, 10)


def tune_gc() -> None:
    """Collect less often, and skip the collection at exit: same result, about half the
    CPU for large programs."""
    gc.set_threshold(*GC_THRESHOLD)
    # While the interpreter shuts down it runs one more full collection over everything
    # still alive (a quarter of a second even for one clone), only to free memory the OS
    # takes back anyway. Frozen objects are left out of it. CPython does not promise
    # __del__ at exit, and the Pulumi runtime has finished its RPCs by then.
    # Registered once, however often the program runs in one process (tests).
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
