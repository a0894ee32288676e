"""GitHub-flavoured Markdown, as the PR comment and the job summary are read: every string
the renderer did not write itself is either a code span (`code`) or escaped text (`text`);
only the renderer's own markup (headings, tables, `<br/>`, `<details>`) is raw.

What each rule stands on (CommonMark 0.31.2, https://spec.commonmark.org/0.31.2/; GFM
0.29, https://github.github.com/gfm/; GitHub's docs on writing):

- A code span ends at the first backtick run as long as its opening one (CommonMark §6.1),
  so the fence is one backtick longer than the longest run inside; a value that starts or
  ends with a backtick is padded with a space, which CommonMark strips (one from each
  side, when both sides have one and the content is not all spaces), so a value with a
  space at both ends is padded too. Backslash escapes do not work inside a code span.
- A table row is one line, and its cells split at every `|` not escaped as `\\|`, even
  inside a code span (GFM §4.10, example 200: "Include a pipe in a cell's content by
  escaping it, including inside other inline spans"); the table removes that backslash
  before the span is read, so `\\|` in a cell's code span shows `|`. Outside a table it
  would show the backslash: `code(..., table=False)` there. A pipe right after a
  backslash goes between two spans (parsers read `\\\\|` differently: cmark-gfm's
  scanner, github/cmark-gfm extensions/ext_scanners.re, pairs a backslash with any
  punctuation, micromark counts backslashes).
- Any ASCII punctuation may be backslash-escaped (CommonMark §2.4); `<`, `>` and `&` are
  written as entities (§6.2), so no raw HTML (§6.6) and no `<...>` autolink (§6.5) can
  start; escaped brackets and parentheses make no link or image (§6.3, §6.4).
- GFM autolinks bare `www.`, `http://` and `https://` text (§6.9, extension) and GitHub
  does in comments: a URL in user text becomes a code span, never a link.
- GitHub links `@name` (a notification to that user or team) and `#123` / `owner/repo#1`
  (a back-reference in that issue) in text, not in code ("Basic writing and formatting
  syntax: Mentioning people and teams", "Autolinked references and URLs"): a zero-width
  space (`&#8203;`) after `@`, and after `#` before a digit, breaks both while the text
  reads the same.
- GitHub renders `$...$` as math ("Writing mathematical expressions": escape it `\\$`).

Line breaks in a value become spaces (a table row is one line, and a paragraph joins its
lines anyway); other hidden characters are shown escaped (controls.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from offline.escape.controls import one_line

ABSENT = "—"
#: ASCII punctuation that opens or closes inline markup wherever it stands: escapes,
#: code, emphasis, strikethrough, math and table cells.
_ALWAYS = set("\\`*~$|")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ZWSP = "&#8203;"
#: A value's start could open a block (heading, list, quote, thematic break, link
#: definition) if a renderer ever put it first on a line: escaped there too.
_BLOCK_START = re.compile(r"^([#+\-=\[]|\d+[.)])")
_URL = re.compile(r"(?:[a-z][a-z0-9+.\-]*://|www\.)[^\s|]+", re.IGNORECASE)
_BACKTICKS = re.compile(r"`+")
_PIPE_AFTER_BACKSLASH = re.compile(r"(?<=\\)\|")


def code(value: object, *, table: bool = True) -> str:
    """`value` as one code span, exactly (on one line); `—` when empty or None. `table`:
    safe in a table cell (pipes escaped); False for text outside tables."""
    if value is None or value == "":
        return ABSENT
    content = one_line(str(value))
    if not table:
        return _span(content)
    # A pipe right after a backslash cannot be escaped inside a span: parsers disagree on
    # `\\|` (cmark-gfm's scanner reads a backslash and an escaped pipe, micromark an
    # escaped backslash and a cell border). It is written between two spans instead, as
    # an escaped pipe of the text; every other pipe is escaped inside its span.
    pieces = _PIPE_AFTER_BACKSLASH.split(content)
    return "\\|".join(_span(p.replace("|", "\\|")) if p else "" for p in pieces)


def _span(content: str) -> str:
    fence = "`" * (1 + max((len(run) for run in _BACKTICKS.findall(content)), default=0))
    pad = content.startswith("`") or content.endswith("`") or (
        content.startswith(" ") and content.endswith(" ") and content.strip() != "")
    return f"{fence} {content} {fence}" if pad else f"{fence}{content}{fence}"


def text(value: object) -> str:
    """`value` as plain text that GitHub shows as it is, on one line (whitespace runs are
    one space, as HTML shows them): no markup, no HTML, no link, no mention. Safe in a
    table cell and in a list item."""
    line = " ".join(one_line(str(value)).split())
    parts: list[str] = []
    last = 0
    for url in _URL.finditer(line):
        parts.append(_escaped(line[last:url.start()]))
        parts.append(code(url.group(), table=False))
        last = url.end()
    parts.append(_escaped(line[last:]))
    out = "".join(parts)
    return _BLOCK_START.sub(lambda m: "\\" + m[1] if len(m[1]) == 1
                            else m[1][:-1] + "\\" + m[1][-1], out, count=1)


def _escaped(chunk: str) -> str:
    out = []
    for i, char in enumerate(chunk):
        before, after = chunk[i - 1:i], chunk[i + 1:i + 2]
        if char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif char in _ALWAYS:
            out.append("\\" + char)
        elif char == "_":
            # Between letters or digits `_` opens and closes nothing (CommonMark §6.2,
            # "left-flanking" and "right-flanking" for `_`); elsewhere it may.
            out.append("_" if before.isalnum() and after.isalnum() else "\\_")
        elif char == "]" and after in ("(", "["):
            out.append("\\]")  # no `[text](url)`, `![alt](src)` or `[text][ref]`
        elif char == "@":
            out.append("@" + _ZWSP)
        elif char == "#" and after.isdigit():
            out.append("#" + _ZWSP)
        else:
            out.append(char)
    return "".join(out)


def row(cells: Sequence[str]) -> str:
    """One table row of cells that are Markdown already (the renderer's own, or from
    `code` and `text`); a line break in one would end the table, so it is refused."""
    for cell in cells:
        if "\n" in cell or "\r" in cell:
            raise ValueError(f"a table cell holds a line break: {cell!r}")
    return "| " + " | ".join(cells) + " |"
