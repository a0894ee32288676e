"""Jinja2 rendering of customize, deprovision and sysprep scripts.

StrictUndefined: a variable missing from config must fail the preview, not ship an
empty string into a script that runs as root on the build VM.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

#: The Pulumi project (Pulumi.yaml's directory): script steps' paths are relative to it.
PROJECT_DIR = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = PROJECT_DIR / "templates"

# PowerShell ends a single-quoted string at any of these, and reads two in a row as one
# literal quote (PowerShell/PowerShell engine/parser/CharTraits.cs, IsSingleQuote).
POWERSHELL_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


def psquote(value: object) -> str:
    """A PowerShell single-quoted literal that holds exactly `value`: every character that
    PowerShell takes for a single quote is doubled."""
    text = str(value)
    for quote in POWERSHELL_SINGLE_QUOTES:
        text = text.replace(quote, quote * 2)
    return f"'{text}'"


class TemplateProblem(Exception):
    """A template that cannot be found or rendered; the message says which and why."""


@lru_cache(maxsize=4)
def _environment(root: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(root),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # shell and PowerShell, not HTML
    )
    # Values from config land in root shells: quote them instead of trusting them.
    env.filters["shquote"] = lambda value: shlex.quote(str(value))
    env.filters["psquote"] = psquote
    return env


def render_text(source: str, variables: dict[str, Any], *, name: str, os: str) -> str:
    """Render text that is not a file under templates/ (a clone's userData or customData,
    from a project file or inline), with the same environment: StrictUndefined, `os`."""
    environment = _environment(str(TEMPLATES_DIR))
    return _rendered(lambda: environment.from_string(source), {**variables, "os": os},
                     label=name, missing=f"{name}: ")


def render(template: str, variables: dict[str, Any], *, os: str, vm_name: str,
           root: Path = TEMPLATES_DIR) -> str:
    """Render one script. `os` and `vm_name` are always available to templates; config
    `vars` come on top (and may not shadow them)."""
    environment = _environment(str(root))
    return _rendered(lambda: environment.get_template(template),
                     {**variables, "os": os, "vm_name": vm_name},
                     label=f"template {template!r}", missing="")


def _rendered(load: Callable[[], jinja2.Template], context: dict[str, Any], *, label: str,
              missing: str) -> str:
    """Load and render, Jinja's errors as one TemplateProblem each: `label` names what was
    rendered, `missing` leads the line of a template not found (itself, or an include)."""
    try:
        return load().render(context)
    except jinja2.TemplateNotFound as exc:
        raise TemplateProblem(f"{missing}template {exc.name!r} not found under templates/") \
            from None
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(f"{label}: {exc.message}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(f"{label} line {exc.lineno}: {exc.message}") from None

