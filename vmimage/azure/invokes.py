"""What the provider's lookups (invokes) answer when something is missing."""

from __future__ import annotations

import re

# How ARM says "there is no such resource" (the resource, its parent, its group):
# azure-native passes ARM's status and error code through in the invoke's error text.
_NOT_FOUND = re.compile(r"\b404\b|NotFound\b", re.IGNORECASE)


def is_not_found(err: BaseException) -> bool:
    """A failed invoke that says the resource does not exist (not: unreadable)."""
    return bool(_NOT_FOUND.search(str(err)))
