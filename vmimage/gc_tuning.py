"""Garbage-collector settings for the program. Imports nothing heavy on purpose:
`__main__.py` applies them before it imports the rest of the program."""

from __future__ import annotations

import atexit
import gc

# CPython's default (700, 10, 10) runs a full collection every 70,000 net allocations;
# Pulumi's Output machinery allocates millions of objects that stay alive until the
# program ends, so each full pass walks all of them and time per clone grew with the
# number of clones (bench/README.md, B1). Young collections still run (every 50,000
# allocations); full ones only after a million of those, which is never while a program
# registers: what survives a young collection here lives until the program ends anyway,
# so memory is the same (measured in B1). Nothing depends on prompt collection of cycles.
GC_THRESHOLD = (50_000, 20, 1_000_000)


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
