"""The variables a template takes, declared in the template itself, and checked like any
other config key (`builds[i].customize[j].vars.<name>`).

A template declares them in a Jinja comment at its top:

    {#- vars:
      packages: {type: list, required: true, min: 1,
                 pattern: '^[a-z0-9][a-z0-9+.-]*$', description: Debian package names}
    -#}

Types: `str` (one line), `text` (any text, e.g. a script), `int`, `bool`, and `list` of
`str`. Values are taken as they are: no number becomes a string, no string a list of its
letters. `vm_name` and `os` are always given and may not be declared or set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from vmimage.config.errors import kind_of
from vmimage.suggest import did_you_mean

BUILT_IN = ("os", "vm_name")
#: Each type, as a problem message names what was expected.
EXPECTED = {"str": "a string", "text": "a string", "int": "a whole number",
            "bool": "true or false", "list": "a list of strings"}
TYPES = tuple(EXPECTED)
_DECLARATION = re.compile(r"\A\{#-?\s*vars:(.*?)-?#\}", re.DOTALL)


class DeclarationError(Exception):
    """A template's declaration is itself malformed (a bug in the template)."""


@dataclass(frozen=True)
class Variable:
    name: str
    type: str
    required: bool = False
    description: str = ""
    min: int | None = None
    max: int | None = None
    pattern: str | None = None

    def problems(self, value: Any) -> list[str]:
        """What is wrong with `value` for this variable (empty: nothing)."""
        if value is None:
            return [f"expected {EXPECTED[self.type]}, got null" if self.required
                    else "may not be null; leave it out"]
        if self.type == "list":
            if not isinstance(value, list):
                return [f"expected {EXPECTED['list']}, got {kind_of(value)}"]
            found = self._size(len(value), "item")
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    found.append(f"item {i}: expected a string, got {kind_of(item)}")
                else:
                    found += [f"item {i}: {p}" for p in self._text(item)]
            return found
        if self.type == "bool":
            return [] if isinstance(value, bool) else [
                f"expected {EXPECTED['bool']}, got {kind_of(value)}"]
        if self.type == "int":
            return [] if isinstance(value, int) and not isinstance(value, bool) else [
                f"expected {EXPECTED['int']}, got {kind_of(value)}"]
        if not isinstance(value, str):
            return [f"expected {EXPECTED[self.type]}, got {kind_of(value)}"]
        if self.type == "str" and ("\n" in value or "\r" in value):
            return ["expected one line, got several"]
        return self._size(len(value), "character") + self._text(value)

    def _size(self, n: int, unit: str) -> list[str]:
        if self.min is not None and n < self.min:
            return [f"needs at least {self.min} {unit}{'s' if self.min != 1 else ''}"]
        if self.max is not None and n > self.max:
            return [f"takes at most {self.max} {unit}s (got {n})"]
        return []

    def _text(self, value: str) -> list[str]:
        if "\x00" in value:
            return ["contains a NUL character"]
        if self.pattern and not re.fullmatch(self.pattern, value, re.ASCII):
            what = f" ({self.description})" if self.description else ""
            return [f"{value!r} does not match {self.pattern}{what}"]
        return []


@dataclass(frozen=True)
class Declaration:
    template: str
    variables: dict[str, Variable]

    def problems(self, values: dict[str, Any], at: str) -> list[str]:
        """Every problem of `values`, as `<at>.<name>: <what is wrong>`."""
        found = []
        for name, value in values.items():
            if name in BUILT_IN:
                found.append(f"{at}.{name}: set by vmimage for every template; remove it")
            elif name not in self.variables:
                hint = did_you_mean(name, self.variables)
                known = ", ".join(self.variables) or "none"
                found.append(f"{at}.{name}: {self.template} takes no such variable "
                             f"(it takes: {known}){hint}")
            else:
                found += [f"{at}.{name}: {p}" for p in self.variables[name].problems(value)]
        for name, variable in self.variables.items():
            if variable.required and name not in values:
                found.append(f"{at}.{name}: required by {self.template} ({variable.description})")
        return found


def parse_declaration(template: str, source: str) -> Declaration | None:
    """The declaration at the top of a template's source, or None if it has none."""
    match = _DECLARATION.match(source)
    if match is None:
        return None
    try:
        raw = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise DeclarationError(f"{template}: its vars declaration is not YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise DeclarationError(f"{template}: vars must map names to their declarations")
    variables = {}
    for name, spec in raw.items():
        spec = spec or {}
        kind = spec.get("type")
        if kind not in TYPES or name in BUILT_IN:
            raise DeclarationError(f"{template}: variable {name!r} needs a type of "
                                   f"{', '.join(TYPES)} and a name other than {BUILT_IN}")
        try:
            variables[name] = Variable(name=name, **spec)
        except TypeError as exc:
            raise DeclarationError(f"{template}: variable {name!r}: {exc}") from None
    return Declaration(template, variables)


@lru_cache(maxsize=64)
def declaration_of(root: str, template: str) -> Declaration | None:
    path = Path(root) / template
    return parse_declaration(template, path.read_text(encoding="utf-8"))
