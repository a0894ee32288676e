"""What bounds Azure besides each operation's own duration: ARM's throttling of writes,
the compute provider's limit on VM PUTs, and how many VM creations a gallery image
replica serves at once. Their numbers are parameters of the latency model
(offline/latency.py); their sources are in docs/azure-behaviours.md.

Both limiters work on simulated time and assume requests arrive roughly in time order
(the engine starts each operation as soon as its dependencies allow, which it is); a
request is never admitted in breach of its limit at the moment it is admitted.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field


@dataclass
class SlidingWindow:
    """At most `limit` requests in any `window_s` seconds: ARM's token bucket of writes
    (a bucket of B refilled at r per second admits B per B/r seconds) and the compute
    provider's PutVM3Min both reduce to this."""

    limit: int
    window_s: float
    times: list[float] = field(default_factory=list)

    def admit(self, at: float) -> float:
        """When a request made at `at` gets through (`at` itself, or later: the client's
        retries after 429 Too Many Requests and its Retry-After)."""
        start = at
        while True:
            low = bisect.bisect_right(self.times, start - self.window_s)
            high = bisect.bisect_right(self.times, start)
            if high - low < self.limit:
                break
            start = self.times[high - self.limit] + self.window_s
        bisect.insort(self.times, start)
        return start


@dataclass
class Capacity:
    """At most `slots` operations at once, each taking its own duration (a gallery image
    version's replicas serving VM creations in one region)."""

    slots: int
    busy: list[tuple[float, float]] = field(default_factory=list)  # (start, end)

    def admit(self, at: float, duration: float) -> float:
        """When an operation ready at `at` starts."""
        start = at
        while True:
            ends = sorted(end for begin, end in self.busy if begin <= start < end)
            if len(ends) < self.slots:
                break
            start = ends[len(ends) - self.slots]
        self.busy.append((start, start + duration))
        return start


def waves(count: int, per_wave: int) -> int:
    """How many rounds `count` concurrent creations take when `per_wave` fit in one."""
    return max(1, math.ceil(count / max(per_wave, 1)))
