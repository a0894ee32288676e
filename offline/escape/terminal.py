"""What the offline CLI prints: every string it did not write itself (names, Azure names,
tags, messages, paths, config problems) goes out through here.

Two things could happen to such a string on a terminal. Its control characters could act
(ESC opens ANSI sequences that recolour, move the cursor or retitle the window; CR
rewrites the line; bidi overrides reorder it): `visible()` shows each escaped
(controls.py). And rich could read it as markup (`[bold]`, `[link=...]`, an unbalanced
`[/]` that raises MarkupError) or replace `:emoji:` codes: `plain()` makes a rich `Text`,
which rich never parses, and `styled()` joins such parts with the CLI's own styles.
"""

from __future__ import annotations

from rich.text import Text

from offline.escape.controls import visible

__all__ = ["plain", "styled", "visible"]


def plain(value: object, style: str = "") -> Text:
    """`value` as rich Text: hidden characters shown, never markup, never emoji codes."""
    return Text(visible(str(value)), style=style)


def styled(*parts: str | tuple[object, str]) -> Text:
    """Text of parts: a bare string is the CLI's own (written as it is, no markup either),
    a (value, style) pair is a value shown with that style."""
    out = Text()
    for part in parts:
        if isinstance(part, tuple):
            out.append_text(plain(*part))
        else:
            out.append(part)
    return out
