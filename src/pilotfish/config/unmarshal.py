"""A spec read the way istioctl reads a file: `as_istio_reads(model, data)`.

istioctl (`validate -f`, `analyze`) turns each document into JSON and unmarshals its spec with
protobuf's legacy JSON reader (jsonpb), which is laxer than the API server's OpenAPI types. This
module applies the same leniency to the plain data before anything checks it, so a file istioctl
accepts is accepted here, and every later check sees the values Istio's validation sees:

- a number field (integer or floating point, also inside lists and maps) takes a quoted number:
  `number: "80"` is 80 (jsonpb strips the quotes); an integer field takes a float with no
  fraction (`80.0` reaches jsonpb as `80`);
- a field set to null is unset, whatever it holds;
- a null list item or map value is that type's zero value: an empty message (`match: [null]`
  is one match that matches everything), `""`, `0`, `false`;
- an enum field takes its value's number (`tls: {mode: 1}` is `SIMPLE`): `enum_names` reads it
  by the field's CRD schema, whose `enum` lists the values in their protobuf order, numbered
  from 0 (every enum of Istio's APIs is; tests/config/test_unmarshal.py checks the schemas).
  A number that is no value of the enum (any int32) is kept as that number, as jsonpb keeps it
  (proto3 enums are open): the models take it (`EnumNumber`), the CRD check lets it through,
  and Istio's rules see it matching none of the names.

What jsonpb refuses stays refused by the model: a number for a string, a quoted `true`, `8.5` for
an integer. Free-form fields (`Any` in the models: Struct values) are left as written. Pure.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

from pilotfish.config.schema import FieldShape, is_message, message_fields

_INTEGER = re.compile(r"\s*-?(0|[1-9][0-9]*)\s*")
_ZERO: dict[Any, Any] = {str: "", int: 0, float: 0.0, bool: False}
_LARGEST_EXACT = 2**53
"""Past this a float no longer holds its integer exactly (Go prints it in exponent form)."""


def as_istio_reads(model: type[BaseModel], data: Any, crd: dict[str, Any] | None = None) -> Any:
    """`data` (a message of `model`, as read from YAML) with jsonpb's leniency applied; values
    of any other shape come back unchanged for the model to refuse. `crd`: the message's CRD
    schema, which names the enum values given as numbers."""
    if crd is not None:
        data = enum_names(crd, data)
    if not isinstance(data, dict):
        return data
    fields = message_fields(model)
    out: dict[Any, Any] = {}
    for key, value in data.items():
        shape = fields.get(key) if isinstance(key, str) else None
        if shape is None:
            out[key] = value
        elif value is None:
            if shape.item is Any:
                out[key] = value
            # otherwise: unset, as jsonpb skips a null field
        else:
            out[key] = _field(shape, value)
    return out


def _field(shape: FieldShape, value: Any) -> Any:
    if shape.container == "list" and isinstance(value, list):
        return [_item(shape.item, v) for v in value]
    if shape.container == "map" and isinstance(value, dict):
        return {k: _item(shape.item, v) for k, v in value.items()}
    if shape.container == "scalar":
        return _single(shape.item, value)
    return value


def _item(item: Any, value: Any) -> Any:
    """A list item or map value: null is the zero value of its type."""
    if value is None:
        if is_message(item):
            return {}
        return _ZERO.get(item)
    return _single(item, value)


def _single(item: Any, value: Any) -> Any:
    if is_message(item):
        return as_istio_reads(item, value)
    if item is int:
        return _integer(value)
    if item is float:
        return _number(value)
    return value


def _integer(value: Any) -> Any:
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < _LARGEST_EXACT:
        return int(value)
    return value


def _refuse(constant: str) -> Any:
    raise ValueError(constant)  # NaN and Infinity are not JSON numbers


def _number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value, parse_constant=_refuse)
    except ValueError:
        return value
    if isinstance(parsed, int | float) and not isinstance(parsed, bool):
        return float(parsed)
    return value


_SCHEMA_ZERO: dict[str, Any] = {"object": {}, "string": "", "integer": 0, "number": 0.0}
_SCHEMA_ZERO["boolean"] = False


def as_istio_reads_schema(schema: dict[str, Any], data: Any) -> Any:
    """The same leniency for a kind pilotfish does not model, guided by its CRD's OpenAPI
    schema (`properties`, `items`, `additionalProperties`, `type`)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return data
    kind = schema.get("type")
    if kind == "string" and "enum" in schema:
        return _enum_name(schema["enum"], data)
    if kind == "integer":
        return _integer(data)
    if kind == "number":
        return _number(data)
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [_schema_item(schema["items"], v) for v in data]
    if not isinstance(data, dict):
        return data
    properties: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    out: dict[Any, Any] = {}
    for key, value in data.items():
        child = properties.get(key)
        if child is not None:
            if value is not None:
                out[key] = as_istio_reads_schema(child, value)
        elif isinstance(extra, dict):
            out[key] = _schema_item(extra, value)
        else:
            out[key] = value
    return out


def _schema_item(schema: dict[str, Any], value: Any) -> Any:
    if value is None and not schema.get("x-kubernetes-preserve-unknown-fields"):
        zero = _SCHEMA_ZERO.get(schema.get("type", ""))
        return dict(zero) if isinstance(zero, dict) else zero
    return as_istio_reads_schema(schema, value)


def enum_names(schema: dict[str, Any], data: Any) -> Any:
    """`data` with every enum field given as a number (a value of `schema`, a CRD's OpenAPI
    schema) replaced by the name of that value; everything else unchanged."""
    if "enum" in schema and schema.get("type") == "string":
        return _enum_name(schema["enum"], data)
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [enum_names(schema["items"], v) for v in data]
    if not isinstance(data, dict):
        return data
    properties: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    out: dict[Any, Any] = {}
    for key, value in data.items():
        child = properties.get(key, extra)
        out[key] = enum_names(child, value) if isinstance(child, dict) else value
    return out


def _enum_name(values: list[Any], value: Any) -> Any:
    """The name of enum value number `value` (an integer, or a float without fraction as YAML
    may give it), or `value` unchanged."""
    number = _integer(value) if isinstance(value, float) else value
    if isinstance(number, int) and not isinstance(number, bool) and 0 <= number < len(values):
        return values[number]
    return value
