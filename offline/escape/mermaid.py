"""Mermaid flowchart labels and ids (https://mermaid.js.org/syntax/flowchart.html).

A label is written quoted, `id["..."]`, and every character that could end or bend it
is an entity code `#NN;` ("Entity codes to escape characters": Mermaid turns `#35;` or
`#quot;` back into the character after parsing): the quote that ends it; brackets, braces
and parentheses of node shapes; `|` of edge labels; `;` that ends a statement; `#` and `&`
that start codes; `<` and `>`, so no HTML tag reaches the label's HTML; a backtick, which
makes a quoted label a Markdown string ("Markdown Strings"); `%`, since Mermaid reads
`%%{init: ...}%%` directives anywhere in the text before it parses ("Directives"); `:`
and `*`/`_` stay (no meaning inside quotes). A line break would end the statement: it and
other hidden characters are shown escaped, and the backslash of those escapes is a code
too. Only `line_break()`, which the renderer joins lines with, is raw `<br/>`.

Ids are the renderer's own: `ident()` maps a name onto `[A-Za-z0-9_]` behind a prefix, so
no keyword (`end`, `subgraph`, `class`...) and no punctuation can be one."""

from __future__ import annotations

import re
from collections.abc import Iterable

from offline.escape.controls import visible

LINE_BREAK = "<br/>"
UNSAFE = frozenset('"#&<>|[]{}();`\\%')


def label(*lines: object) -> str:
    """The text of a quoted label (without its quotes): each line escaped, joined by
    Mermaid line breaks."""
    return LINE_BREAK.join(_line(str(line)) for line in lines)


def _line(text: str) -> str:
    return "".join(f"#{ord(c)};" if c in UNSAFE else c for c in visible(text))


def ident(prefix: str, name: str) -> str:
    """An id for `name`: `prefix` (letters) then `name` with anything but letters, digits
    and `_` as `_`. Not one-to-one: callers that could meet two names mapping onto one id
    number them (`unique`)."""
    if not re.fullmatch(r"[A-Za-z]+", prefix):
        raise ValueError(f"a Mermaid id prefix is letters only: {prefix!r}")
    return prefix + re.sub(r"[^A-Za-z0-9_]", "_", name)


def unique(ids: Iterable[str]) -> list[str]:
    """The ids, in order, each taken once: a repeat gets `_2`, `_3`..."""
    seen: set[str] = set()
    out = []
    for candidate in ids:
        found, n = candidate, 1
        while found in seen:
            n += 1
            found = f"{candidate}_{n}"
        seen.add(found)
        out.append(found)
    return out
