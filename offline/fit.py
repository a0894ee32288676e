"""Fitting long values into a terminal's width without cutting words: an ARM id is
shortened in the middle (its subscription and its own name stay readable), never wrapped
mid-segment; the full id is always in `--report-json`."""

from __future__ import annotations

from typing import Any

ELLIPSIS = "…"
#: Ids are never shortened below this: less would hide which resource it is.
MIN_ID_WIDTH = 40


def middle(text: str, width: int) -> str:
    """`text` within `width` characters (at least MIN_ID_WIDTH), whole `/` segments kept
    from both ends and `…` between: the end (the resource's own name) first, then as much
    of the start as fits."""
    if len(text) <= width:
        return text
    budget = max(width, MIN_ID_WIDTH) - len(ELLIPSIS)
    segments = text.split("/")
    head, tail = segments[:1], segments[-1:]
    for segment in reversed(segments[1:-1]):  # the end first: it names the resource
        if _length(head, tail) + len(segment) + 1 > budget:
            break
        tail.insert(0, segment)
    for segment in segments[1:len(segments) - len(tail)]:
        if _length(head, tail) + len(segment) + 1 > budget:
            break
        head.append(segment)
    return "/".join(head) + "/" + ELLIPSIS + "/" + "/".join(tail)


def _length(head: list[str], tail: list[str]) -> int:
    return len("/".join(head)) + len("/".join(tail)) + 2


def shorten_ids(value: Any, width: int) -> Any:
    """`value` (an output: JSON-like) with every ARM id longer than `width` shortened."""
    if isinstance(value, str):
        return middle(value, width) if value.startswith("/subscriptions/") else value
    if isinstance(value, dict):
        return {k: shorten_ids(v, width) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shorten_ids(v, width) for v in value]
    return value
