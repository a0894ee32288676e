""""Did you mean": the one way every message suggests the word a user probably meant
(config keys, template variables, service tags, CLI flags, fault and latency names).
Imports nothing of the project, so every layer may use it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` is most likely a misspelling of, if any is close enough: of a
    whole choice, else of one dotted part of one (`captur` -> `galleryImageVersion.capture`)."""
    names = list(choices)
    found = difflib.get_close_matches(word, names, n=1)
    if found:
        return found[0]
    by_part = {part: name for name in names if "." in name for part in name.split(".")}
    found = difflib.get_close_matches(word, list(by_part), n=1)
    return by_part[found[0]] if found else None


def did_you_mean(word: str, choices: Iterable[str], *, otherwise: str = "",
                 ignore_case: bool = False) -> str:
    """`"; did you mean 'x'?"` for the closest choice (in its own spelling), else
    `otherwise`."""
    names = list(choices)
    if ignore_case:
        spelling = {name.lower(): name for name in names}
        found = closest(word.lower(), spelling)
        found = spelling[found] if found else None
    else:
        found = closest(word, names)
    return f"; did you mean {found!r}?" if found else otherwise
