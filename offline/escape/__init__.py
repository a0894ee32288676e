"""One escaper per output format, and nothing else escapes: every renderer passes every
string it did not write itself (names, tags, messages, versions, values) through the
escaper of the format it writes.

- controls.py: characters no output may carry as they are (C0, C1, bidi, invisible)
- markdown.py: the PR comment and job summary (GitHub-flavoured Markdown)
- mermaid.py: the plan's diagram (labels and ids)
- terminal.py: what the offline CLI prints (rich, never parsing user text as markup)

The fourth format, guest bash and PowerShell literals, is vmimage/scripts/render.py
(`shquote`, `psquote`): the product renders scripts and cannot import `offline/`.
docs/security.md lists each escaper with what it guarantees.
"""
