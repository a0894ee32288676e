"""The escapers of offline/escape, one format each, fed what an attacker would write.

Markdown is read back with a CommonMark parser (markdown-it-py, with GFM tables and
strikethrough): a code span must come back as exactly its value, escaped text as exactly
its text and nothing else (no link, emphasis, HTML, heading, list). Mermaid labels are
decoded back from their entity codes; their parse by the real Mermaid is in
tests/test_hostile_output.py. Terminal text must carry no control character and never be
read as rich markup."""

from __future__ import annotations

import ast
import io
import re
import unicodedata

import pytest
from conftest import ROOT, gfm
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from offline.escape import markdown, mermaid, terminal
from offline.escape.controls import hidden, one_line, visible

#: Characters that mean something to Markdown, GitHub, Mermaid or a terminal, and plain
#: letters and digits around them.
PUNCTUATION = list("`*_[]()<>&|\\#@!~$:/.-+=\"'%{};^ \t\n\r") + ["\x1b", "\x00", "\x7f",
    "\x9b", "\u202e", "\u2066", "\u200b", "\u2028", "\ufeff", "\U000e0041", "é", "\u00a0"]
HOSTILE_TEXT = st.text(st.sampled_from(PUNCTUATION + list("abcxyz019 ")), max_size=40) | st.text(
    max_size=20)

PARSER = gfm()


def inline_tokens(source: str) -> list:
    """The inline tokens of a one-paragraph document (none when it is empty)."""
    blocks = PARSER.parse(source)
    if not blocks:
        return []
    assert [b.type for b in blocks] == ["paragraph_open", "inline", "paragraph_close"], source
    return blocks[1].children or []


# -- controls ---------------------------------------------------------------------------------


@given(st.text())
def test_visible_leaves_nothing_hidden_and_keeps_the_rest(value: str) -> None:
    shown = visible(value)
    assert not any(hidden(c) for c in shown)
    if not any(hidden(c) for c in value):
        assert shown == value


@pytest.mark.parametrize(("value", "shown"), [
    ("a\x1b[31mred", "a\\x1b[31mred"), ("\u202egnp.exe", "\\u202egnp.exe"),
    ("x\u2066y\u2069", "x\\u2066y\\u2069"), ("\x9b2J", "\\x9b2J"), ("a\rb", "a\\x0db"),
    ("tag\U000e0041", "tag\\U000e0041"), ("zero\u200bwidth", "zero\\u200bwidth"),
])
def test_visible_shows_each_as_an_escape(value: str, shown: str) -> None:
    assert visible(value) == shown


def test_every_bidi_control_is_hidden() -> None:
    bidi = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F,
                             0x061C)]
    assert all(hidden(c) for c in bidi)


# -- Markdown ---------------------------------------------------------------------------------


@given(HOSTILE_TEXT.filter(lambda v: v != ""))
def test_a_code_span_reads_back_as_exactly_its_value(value: str) -> None:
    expected = one_line(value)
    for source in (markdown.code(value, table=False), f"x {markdown.code(value, table=False)} y"):
        spans = [t for t in inline_tokens(source) if t.type == "code_inline"]
        assert [s.content for s in spans] == [expected], source


@given(HOSTILE_TEXT.filter(lambda v: v != ""))
def test_a_code_span_in_a_table_cell_stays_in_its_cell(value: str) -> None:
    source = f"| a | b |\n|---|---|\n{markdown.row([markdown.code(value), 'after'])}\n"
    tokens = PARSER.parse(source)
    cells = [tokens[i + 1] for i, t in enumerate(tokens) if t.type == "td_open"]
    assert len(cells) == 2, source
    # One span, or (a pipe right after a backslash) spans around that pipe as text.
    children = cells[0].children
    between = [c for c in children if c.type != "code_inline"]
    assert children and all(c.type == "text" and c.content == "|" for c in between), source
    assert "".join(c.content for c in children) == one_line(value)
    assert cells[1].content == "after"


@given(HOSTILE_TEXT)
def test_text_reads_back_as_its_text_and_nothing_more(value: str) -> None:
    for source in (markdown.text(value), f"| a |\n|---|\n| {markdown.text(value)} |"):
        tokens = PARSER.parse(source)
        assert not [t for t in tokens if t.type.startswith((
            "html", "heading", "bullet", "ordered", "blockquote", "hr", "fence",
            "code_block"))], source
        cells = [tokens[i + 1] for i, t in enumerate(tokens) if t.type == "td_open"]
        inline = cells if source.startswith("|") else [t for t in tokens if t.type == "inline"]
        children = [c for t in inline for c in t.children or []]
        # Only text and code (a URL), nothing the reader did not write.
        assert {c.type for c in children} <= {"text", "code_inline"}, (source, children)
        read = "".join(c.content for c in children).replace("\u200b", "")
        assert read == " ".join(one_line(value).split()), source


@pytest.mark.parametrize("value", [
    "<img src=x onerror=alert(1)>", "<details><summary>hi</summary>", "<script>x</script>",
    "[click](javascript:alert(1))", "![x](https://evil.example/p.png)", "@octocat",
    "ping @github/security and #1, owner/repo#2", "https://evil.example/login",
    "www.evil.example", "**bold** _em_ ~~gone~~ $x^2$", "# heading", "- item", "1. item",
    "> quote", "---", "[ref]: https://evil.example", "&lt;b&gt;", "a | b", "`code`",
])
def test_text_makes_no_markup_link_mention_or_html(value: str) -> None:
    source = markdown.text(value)
    html = PARSER.render(source)
    assert re.fullmatch(r"<p>.*</p>\n", html, re.DOTALL), html
    inner = html[3:-5]
    assert not re.search(r"<(?!/?code>)", inner), html  # no tag but a code span's
    plain = re.sub(r"<code>.*?</code>", "", inner)
    assert not re.search(r"@[A-Za-z0-9]|#\d|https?:|www\.", plain), html


def test_a_url_in_text_is_code_never_a_link() -> None:
    assert markdown.text("see https://evil.example/x now") == "see `https://evil.example/x` now"


@pytest.mark.parametrize(("value", "expected"), [
    ("a`b", "``a`b``"), ("`", "`` ` ``"), ("``x`", "``` ``x` ```"), (" a ", "`  a  `"),
    ("x|y", "`x\\|y`"), ("a\\|b", "`a\\`\\|`b`"), ("two\nlines", "`two lines`"), ("", "—"),
    (None, "—"),
])
def test_code_fences_and_pads(value: object, expected: str) -> None:
    assert markdown.code(value) == expected


def test_a_row_refuses_a_line_break() -> None:
    with pytest.raises(ValueError, match="line break"):
        markdown.row(["a", "b\nc"])


# -- Mermaid ----------------------------------------------------------------------------------


def decoded(label: str) -> list[str]:
    return [re.sub(r"#(\d+);", lambda m: chr(int(m[1])), line)
            for line in label.split(mermaid.LINE_BREAK)]


@given(st.lists(HOSTILE_TEXT, min_size=1, max_size=3))
def test_a_label_decodes_to_its_lines_and_holds_nothing_mermaid_reads(lines: list[str]) -> None:
    label = mermaid.label(*lines)
    assert decoded(label) == [visible(line) for line in lines]
    bare = re.sub(r"#\d+;", "", label.replace(mermaid.LINE_BREAK, ""))
    assert not set(bare) & mermaid.UNSAFE
    assert not any(hidden(c) for c in label)


@pytest.mark.parametrize("value", ['"]; click n1 call alert()', "%%{init: {'theme':'dark'}}%%",
                                   "a<br/>b", "`**md**`", "x\ny", "end", "#quot;"])
def test_mermaid_breakers_are_codes(value: str) -> None:
    label = mermaid.label(value)
    assert '"' not in label and "%" not in label and "<" not in label and "`" not in label
    assert "\n" not in label and decoded(label) == [visible(value)]


@given(st.text(max_size=20))
def test_ids_are_words_behind_their_prefix(name: str) -> None:
    assert re.fullmatch(r"v[A-Za-z0-9_]*", mermaid.ident("v", name))


def test_ids_that_collide_are_numbered() -> None:
    ids = mermaid.unique([mermaid.ident("v", "1.0.0"), mermaid.ident("v", "1_0_0"), "v1_0_0"])
    assert ids == ["v1_0_0", "v1_0_0_2", "v1_0_0_3"]
    with pytest.raises(ValueError):
        mermaid.ident("v-", "x")


# -- terminal ---------------------------------------------------------------------------------

TERMINAL_HOSTILE = ["[bold red]x[/]", "[/]", "[link=https://evil.example]y[/link]", ":smile:",
                    "a\x1b]0;title\x07b", "\x1b[2J\x1b[H", "r\u202eexe.txt", "cr\rover"]


def printed(*renderables: object) -> str:
    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False, force_terminal=False)
    for renderable in renderables:
        console.print(renderable)
    return out.getvalue()


@pytest.mark.parametrize("value", TERMINAL_HOSTILE)
def test_terminal_text_is_shown_literally_in_lines_tables_and_trees(value: str) -> None:
    table = Table()
    table.add_column("name")
    table.add_row(terminal.plain(value))
    tree = Tree(terminal.styled("root ", (value, "dim")))
    tree.add(terminal.plain(value))
    output = printed(terminal.plain(value), table, tree)
    assert output.count(visible(value)) == 4, output
    assert not [c for c in output if c != "\n" and unicodedata.category(c) in ("Cc", "Cf")]


@given(HOSTILE_TEXT)
def test_terminal_text_never_carries_a_control(value: str) -> None:
    assert not any(hidden(c) for c in terminal.plain(value).plain)


# -- nothing escapes by hand ------------------------------------------------------------------

RENDERERS = [*sorted((ROOT / "offline" / "plan").glob("*.py")),
             ROOT / "offline" / "preview_plan.py", ROOT / "offline" / "cli.py"]


def hand_made_spans(source: str) -> list[str]:
    """F-strings that put a value between two backticks: `{value}`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            parts = node.values
            for before, value, after in zip(parts, parts[1:], parts[2:], strict=False):
                if (isinstance(before, ast.Constant) and str(before.value).endswith("`")
                        and isinstance(value, ast.FormattedValue)
                        and isinstance(after, ast.Constant) and str(after.value).startswith("`")):
                    found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize("path", RENDERERS, ids=lambda p: p.name)
def test_renderers_do_not_escape_by_hand(path) -> None:
    """A value interpolated between backticks, a hand-made pipe escape, a markup tag
    around a value: each is what the escapers replace."""
    source = path.read_text(encoding="utf-8")
    assert hand_made_spans(source) == [], "a value in a hand-made code span"
    assert not re.findall(r"""replace\(["']\|""", source), "a hand-made pipe escape"
    assert not re.findall(r"\[/?(?:bold|dim|yellow|red|green)[^\]]*\][^\"\n]*\{", source), \
        "rich markup around a value"


def test_the_hand_made_span_check_finds_one() -> None:
    assert hand_made_spans('x = f"| `{name}` |"') == ['f\'| `{name}` |\'']
