"""Customize steps: a tagged union of kinds, one module each, and the table that
dispatches to them. To add a kind, write its module (vmimage/steps/kind.py says what it
defines) and add it to KINDS; the spec, validation, fingerprints and the GuestScripts
component all go through this table (docs/architecture.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Discriminator, Tag

from vmimage.steps import file, inline, restart, script, template, windows_update
from vmimage.steps.kind import StepKind

#: Every kind of customize step, by the key that names it in config.
KINDS: dict[str, StepKind] = {k.key: k for k in (template.KIND, script.KIND, inline.KIND,
                                                   restart.KIND, windows_update.KIND,
                                                   file.KIND)}
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


#: One customize step, as the spec models it: the union of the kinds' models, told apart
#: by `key_of`. (Built from the table at run time; a type checker sees any step.)
if TYPE_CHECKING:
    CustomizeStep = Any
else:
    CustomizeStep = Annotated[
        Union[tuple(Annotated[k.model, Tag(f"{TAG_PREFIX}{k.key}")] for k in KINDS.values())],  # noqa: UP007
        Discriminator(key_of, custom_error_type="step_kind",
                      custom_error_message="give exactly one of "
                      + ", ".join(list(KINDS)[:-1]) + " or " + list(KINDS)[-1]),
    ]
