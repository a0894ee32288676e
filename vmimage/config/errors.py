"""Pydantic's validation errors as the config's author reads them: one line per problem,
`<key path>: <what is wrong>`, in YAML's words, with a "did you mean" for unknown keys."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from vmimage.suggest import did_you_mean


class SpecError(Exception):
    """Every problem found in the config, one `<key path>: <what is wrong>` per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(dict.fromkeys(problems))  # each problem once, in order
        super().__init__("\n".join(self.problems))

def kind_of(value: Any) -> str:
    """A value's type in YAML words."""
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing",
            bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def key_path(loc: Iterable[str | int]) -> str:
    """('builds', 0, 'dataDisks', 1, 'lun') -> 'builds[0].dataDisks[1].lun'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "vmimage:pipeline"


def pydantic_problems(exc: ValidationError, root: type[BaseModel]) -> Iterator[str]:
    """Each pydantic error as `<key path>: <what is wrong>`, in YAML words."""
    errors = exc.errors()
    failed_items = {e["loc"][0] for e in errors
                    if len(e["loc"]) >= 2 and isinstance(e["loc"][1], int)}
    for err in errors:
        # A list whose items failed is not also 'too short'.
        if err["type"] == "too_short" and err["loc"][0] in failed_items:
            continue
        kind = err["type"]
        # Drop pydantic's internal union/validator segments from the path; the last
        # segment of an unknown key is the user's key, whatever characters it holds.
        *inner, last = err["loc"] or ("",)
        loc = [p for p in inner if not _is_pydantic_tag(p)]
        if kind == "extra_forbidden" or not _is_pydantic_tag(last):
            loc.append(last)
        path = key_path(p for p in loc if not _is_union_tag(p))
        if kind == "extra_forbidden":
            yield f"{path}: unknown key{_did_you_mean(root, loc)}"
        elif kind == "missing":
            yield f"{path}: required"
        elif kind == "literal_error":
            yield f"{path}: must be one of {err['ctx']['expected']} (got {err['input']!r})"
        else:
            yield f"{path}: {_message(err)}"


_NOISE = {"function-before", "function-after", "constrained-int", "[key]"}
_TAG = re.compile(r"[a-z][a-z0-9_-]*\[.*\]")  # e.g. function-before[_replicas(), ...]


def _is_pydantic_tag(part: str | int) -> bool:
    return isinstance(part, str) and (part in _NOISE or bool(_TAG.fullmatch(part)))


def _is_union_tag(part: str | int) -> bool:
    """A tagged union's member in an error location (`step:template`): no YAML key has a
    colon inside the pipeline, and the user's path has no such segment."""
    return isinstance(part, str) and ":" in part


def _message(err: Any) -> str:
    msg, kind, value = err["msg"], err["type"], err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        return f"{value!r} does not match {ctx['pattern']}"
    if kind in ("ip_v4_network", "ip_any_network"):
        if not isinstance(value, str):
            return f"expected an IPv4 CIDR such as 10.0.0.0/16, got {kind_of(value)}"
        try:
            network = ipaddress.ip_interface(value).network
        except ValueError:
            return f"{value!r} is not an IPv4 CIDR (e.g. 10.0.0.0/16)"
        return f"{value!r} has host bits set; did you mean {str(network)!r}?"
    # Say it in YAML's words (list, mapping), not Python's (tuple, instance of NetworkSpec).
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {kind_of(value)}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping, got {kind_of(value)}"
    if kind == "string_type":
        hint = "; quote it in YAML" if isinstance(value, int | float) else ""
        return f"expected a string, got {kind_of(value)} {value!r}{hint}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {value!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {value!r}"
    if kind.startswith(("date_", "datetime_")):
        return f"expected a date YYYY-MM-DD, got {value!r}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {"greater_than_equal": "at least", "greater_than": "more than",
                 "less_than_equal": "at most", "less_than": "less than"}[kind]
        bound = next(iter(ctx.values()))
        return f"must be {words} {bound} (got {value!r})"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length', 1)} item(s)"
    if kind == "value_error":
        msg = str(ctx.get("error") or msg.removeprefix("Value error, "))
    return msg[0].lower() + msg[1:] if msg else msg


def _did_you_mean(root: type[BaseModel], loc: Sequence[str | int]) -> str:
    if not loc:
        return ""
    fields = _field_names_at(root, loc[:-1])
    return did_you_mean(str(loc[-1]), fields, otherwise=f"; expected one of {sorted(fields)}")


def _field_names_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The YAML keys allowed at a path, found by walking the models' annotations (through
    a tagged union by its tag: a script step's keys, not a template step's)."""
    current: Any = model
    annotation: Any = None
    for part in loc:
        if isinstance(part, int):
            continue
        if get_origin(annotation) is dict:
            annotation = None  # a mapping's key (a recipe's name): its value's model is next
            continue
        if _is_union_tag(part):
            current = _tagged_model(annotation, str(part))
        else:
            fields = {f.alias or n: f for n, f in current.model_fields.items()}
            if part not in fields:
                return []
            annotation = fields[part].annotation
            current = model_in(annotation)
        if current is None:
            return []
    return [f.alias or n for n, f in current.model_fields.items()]


def _tagged_model(annotation: Any, tag: str) -> type[BaseModel] | None:
    """The member of a tagged union (inside `annotation`) that carries `tag`."""
    for arg in get_args(annotation):
        if get_origin(arg) is Annotated:
            member, *meta = get_args(arg)
            if any(getattr(m, "tag", None) == tag for m in meta):
                return member
            for inner in (getattr(m, "validated_as", None) for m in meta):
                found = _tagged_model(inner, tag) if inner is not None else None
                if found is not None:
                    return found
        found = _tagged_model(arg, tag)
        if found is not None:
            return found
    return None


def model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, tuple, list) or get_args(annotation):
        for arg in get_args(annotation):
            found = model_in(arg)
            if found:
                return found
    return None


