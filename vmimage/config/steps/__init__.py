"""Customize steps as the config knows them: a tagged union of kinds, one module each,
and the table that lists them. To add a kind, write its module here (kind.py says what it
defines) and its registration in vmimage/steps/ (vmimage/steps/__init__.py ties the two);
the spec, validation, fingerprints and the schema all go through this table
(docs/architecture.md)."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Discriminator, Tag

from vmimage.config.base import SpecModel, ValidatedAs
from vmimage.config.steps import (
    ansible,
    file,
    inline,
    restart,
    script,
    template,
    windows_update,
)
from vmimage.config.steps.kind import StepKind

#: Every kind of customize step, by the key that names it in config.
KINDS: dict[str, StepKind] = {k.key: k for k in (template.KIND, script.KIND, inline.KIND,
                                                   restart.KIND, windows_update.KIND,
                                                   file.KIND, ansible.KIND)}
#: How a union tag is spelt in pydantic's error locations: `step:<key>` (the spec's error
#: wording drops it, vmimage/config/errors.py).
TAG_PREFIX = "step:"


def key_of(step: Any) -> str | None:
    """Which kind a step is: the one kind key it holds (None: none, or several)."""
    if isinstance(step, dict):
        present = [key for key in KINDS if key in step]
        return f"{TAG_PREFIX}{present[0]}" if len(present) == 1 else None
    for key, kind in KINDS.items():
        if isinstance(step, kind.model):
            return f"{TAG_PREFIX}{key}"
    return None


def kind_of(step: Any) -> StepKind:
    tag = key_of(step)
    assert tag is not None, step  # the spec accepted it, so it is one kind
    return KINDS[tag.removeprefix(TAG_PREFIX)]


#: The union of the kinds' models, told apart by `key_of` (built from the table).
_UNION: Any = Annotated[
    Union[tuple(Annotated[k.model, Tag(f"{TAG_PREFIX}{k.key}")] for k in KINDS.values())],  # noqa: UP007
    Discriminator(key_of, custom_error_type="step_kind",
                  custom_error_message="give exactly one of "
                  + ", ".join(list(KINDS)[:-1]) + " or " + list(KINDS)[-1]),
]
#: One customize step, as the spec models it: to a type checker a `SpecModel` (a step of
#: some kind: `kind_of` says which); to pydantic the union above, schema included.
CustomizeStep = Annotated[SpecModel, ValidatedAs(_UNION)]
