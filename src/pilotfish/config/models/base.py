"""The base of every Istio API model: frozen pydantic, camelCase aliases, Kubernetes scalar types.

Owns `IstioModel` and the scalar aliases. Scalars are strict: `"true"` is not a boolean and 5
is not a string; a float field accepts an integer. The leniency of istioctl's protobuf JSON reader
(a quoted number for a number, null items) is applied before, by `pilotfish.config.unmarshal`.
`defer_build=True`: a model's validator is built the first time it validates, not at import, so
`import pilotfish.config` stays cheap and a document pays only for the kinds it uses.
Unknown fields are not rejected here: `pilotfish.config.schema` reports them (warnings, or
errors under `strict`) and strips them before a model is built.

An enum field is `Literal[<its names>] | EnumNumber`: proto3 enums are open, and istioctl's
protobuf JSON reader keeps a number that names no value (`tls: {mode: 7}`) as that number, which
Istio's rules then see matching none of the names (`unmarshal` turns the numbers that do name a
value into their names first).
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Interval
from pydantic import BaseModel, ConfigDict, Strict
from pydantic.alias_generators import to_camel

Str = Annotated[str, Strict()]
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Float = Annotated[float, Strict()]
EnumNumber = Annotated[int, Strict(), Interval(ge=-(2**31), le=2**31 - 1)]
"""An enum value given by a number that names none of its values (a protobuf enum is int32)."""


class IstioModel(BaseModel):
    """A message of Istio's API. Attributes are snake_case; YAML uses the camelCase alias."""

    model_config = ConfigDict(
        frozen=True,
        populate_by_name=True,
        extra="ignore",
        alias_generator=to_camel,
        protected_namespaces=(),
        defer_build=True,
    )
