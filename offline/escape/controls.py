"""Characters that must never reach an output as they are: C0 and C1 controls (ESC starts
terminal sequences, CR rewrites a line), bidi overrides and isolates (text that reads in
another order than it runs: CVE-2021-42574, "Trojan Source"), and the invisible ones
(zero-width, tag characters) that make two different names look the same.

Each is shown as a visible escape (`\\x1b`, `\\u202e`, `\\U000e0041`), so a reader sees
that it is there, and nothing interprets it."""

from __future__ import annotations

import re
import unicodedata

#: Unicode categories shown escaped: Cc controls (C0, DEL, C1), Cf format characters (bidi
#: controls U+061C, U+200E-200F, U+202A-202E, U+2066-2069; zero-width U+200B-200D, U+2060,
#: U+FEFF; soft hyphen; tag characters U+E0000-E007F), Zl and Zp line and paragraph
#: separators (a line break to some terminals and editors), Cs lone surrogates.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
#: Line breaks: where an output keeps one line per value, they are shown like the rest.
LINE_BREAKS = re.compile(r"\r\n|[\r\n\x0b\x0c\x85\u2028\u2029]")


def hidden(char: str) -> bool:
    """Whether `char` (one character) would be interpreted or invisible as it is."""
    return unicodedata.category(char) in HIDDEN_CATEGORIES


def escape_char(char: str) -> str:
    """`\\xNN`, `\\uNNNN` or `\\UNNNNNNNN`, as Python writes it."""
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str) -> str:
    """`text` with every hidden character shown as its escape; the rest as it is."""
    if all(not hidden(c) for c in text):
        return text
    return "".join(escape_char(c) if hidden(c) else c for c in text)


def one_line(text: str) -> str:
    """`text` on one line: each line break a space, other hidden characters escaped (for
    formats where a line break is layout, as in a Markdown paragraph)."""
    return visible(LINE_BREAKS.sub(" ", text).replace("\t", " "))
