"""The base of every spec model: camelCase keys in YAML, unknown keys refused, values
frozen, and no silent coercion. The pipeline's models (models.py) and the customize
step kinds (vmimage/config/steps/) both build on it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import CoreSchema

from vmimage.config.errors import kind_of


class SpecModel(BaseModel):
    # camelCase in YAML, snake_case in Python; unknown keys are errors (typos must not
    # be silently ignored); frozen so no component can change the spec under another.
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_silent_coercion(cls, value: Any, info: ValidationInfo) -> Any:
        # Pydantic's lax mode reads `count: true` as 1 and `publicIp: "no"` as False; a
        # config that says something else than it means must fail, not be reinterpreted.
        field_info = cls.model_fields.get(info.field_name or "")
        if field_info is None:
            return value
        accepted = _scalar_types(field_info.annotation)
        if isinstance(value, bool) and bool not in accepted and int in accepted:
            raise ValueError(f"expected a whole number, got the boolean {str(value).lower()}")
        if isinstance(value, str) and bool in accepted and str not in accepted:
            raise ValueError(f"expected true or false, got the string {value!r}")
        if ipaddress.IPv4Network in accepted and isinstance(value, int | float):
            # pydantic would read 5 as the network 0.0.0.5/32
            raise ValueError(f"expected an IPv4 CIDR such as 10.0.0.0/16, got {kind_of(value)}")
        return value


def _scalar_types(annotation: Any) -> set[Any]:
    """The scalar types a field annotation accepts (through Optional and Annotated)."""
    if annotation in (int, bool, str, ipaddress.IPv4Network):
        return {annotation}
    found: set[Any] = set()
    if get_origin(annotation) in (Union, UnionType, Annotated):
        for arg in get_args(annotation):
            found |= _scalar_types(arg)
    return found


@dataclass(frozen=True)
class ValidatedAs:
    """`Annotated[T, ValidatedAs(u)]`: pydantic validates (and describes in the schema) the
    value as `u`, a type built at run time such as a tagged union of a table's models; a
    type checker sees `T`. The error wording walks into `validated_as` for its hints."""

    validated_as: Any

    def __get_pydantic_core_schema__(self, _source: Any,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        return handler.generate_schema(self.validated_as)
