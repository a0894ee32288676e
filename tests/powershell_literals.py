"""PowerShell's single-quoted literals read back as PowerShell reads them: a tokenizer of
single-quoted strings as PowerShell's own (tokenizer.cs, ScanStringLiteral: a string
starts and ends at any CharTraits.IsSingleQuote character, and two in a row are one
literal quote), and the hostile values the quoting tests feed it."""

from __future__ import annotations

from vmimage.scripts.render import POWERSHELL_SINGLE_QUOTES

# Each ends a naive quote somewhere: ASCII and typographic single quotes (U+2018-201B),
# doubled and mixed, PowerShell's escape and subexpression syntax, line breaks, a NUL.
POWERSHELL_HOSTILE = [
    "Web-Server'; Write-Output PWNED #",
    "Web-Server\u2019; Write-Output PWNED #",
    "\u2018; Write-Output PWNED; \u2018",
    "\u201a$(Write-Output PWNED)\u201b",
    "''; Write-Output PWNED; ''",
    "'\u2019'\u2019",
    "a`'; Write-Output PWNED",
    "line one\n'; Write-Output PWNED\r\n#",
    "$env:COMPUTERNAME\"; Write-Output PWNED",
    "nul\x00'; Write-Output PWNED",
    "'",
    "",
]


def powershell_strings(script: str) -> tuple[list[str], str]:
    """The single-quoted literals of `script` as PowerShell reads them, and the code with
    each literal replaced by a placeholder. Comments (# to end of line, outside strings)
    and double-quoted strings are skipped as PowerShell skips them."""
    literals: list[str] = []
    code: list[str] = []
    i = 0
    while i < len(script):
        c = script[i]
        if c in POWERSHELL_SINGLE_QUOTES:
            value: list[str] = []
            i += 1
            while True:
                if i >= len(script):
                    raise AssertionError("a single-quoted string never ends")
                c = script[i]
                if c in POWERSHELL_SINGLE_QUOTES:
                    if i + 1 < len(script) and script[i + 1] in POWERSHELL_SINGLE_QUOTES:
                        value.append(script[i + 1])  # the escape is the first; keep the second
                        i += 2
                        continue
                    i += 1
                    break
                value.append(c)
                i += 1
            literals.append("".join(value))
            code.append("<literal>")
        elif c == "#":
            end = script.find("\n", i)
            i = len(script) if end < 0 else end
        elif c == '"':
            end = i + 1
            while end < len(script) and script[end] != '"':
                end += 2 if script[end] == "`" else 1
            code.append(script[i:end + 1])
            i = end + 1
        else:
            code.append(c)
            i += 1
    return literals, "".join(code)
