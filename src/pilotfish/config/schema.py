"""Structural checking of a spec against its model: unknown fields, types, and building the model.

Owns `FieldShape` introspection of `IstioModel` classes (which YAML keys a message accepts and
what each holds), `check_spec` which reports unknown fields by name (warning, or error when
strict), strips them, and builds the frozen model, turning pydantic's errors into `Problem`s with
the API field path (`spec.http[0].route[1].weight`). Pure: no I/O.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel, ValidationError

from pilotfish.config.objects import Level
from pilotfish.config.yaml_text import join_path

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """A finding on a spec before it is tied to a file: field path, level, message."""

    path: str
    message: str
    level: Level = "error"


@dataclass(frozen=True)
class FieldShape:
    """What one YAML key of a message holds."""

    attribute: str
    container: Literal["scalar", "list", "map"]
    item: Any  # an IstioModel subclass, or a scalar type / Literal / Any


def _unwrap(annotation: Any) -> Any:
    """Drop Optional and Annotated wrappers: `Str | None` → str; an enum field is its names."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            names = [a for a in args if get_origin(a) is Literal]
            if len(args) == 2 and len(names) == 1:  # an enum: its names (or a number, `base`)
                return names[0]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _shape(attribute: str, annotation: Any) -> FieldShape:
    bare = _unwrap(annotation)
    origin = get_origin(bare)
    if origin is tuple or origin is list:
        return FieldShape(attribute, "list", _unwrap(get_args(bare)[0]))
    if origin is dict:
        return FieldShape(attribute, "map", _unwrap(get_args(bare)[1]))
    return FieldShape(attribute, "scalar", bare)


@cache
def message_fields(model: type[BaseModel]) -> dict[str, FieldShape]:
    """YAML key → shape, for every key the message accepts (aliases and alias choices)."""
    out: dict[str, FieldShape] = {}
    for attribute, info in model.model_fields.items():
        shape = _shape(attribute, info.annotation)
        keys: list[str] = []
        if isinstance(info.validation_alias, AliasChoices):
            keys.extend(c for c in info.validation_alias.choices if isinstance(c, str))
        elif isinstance(info.validation_alias, str):
            keys.append(info.validation_alias)
        keys.append(info.alias or attribute)
        for key in keys:
            out[key] = shape
    return out


def is_message(item: Any) -> bool:
    return isinstance(item, type) and issubclass(item, BaseModel)


def strip_unknown(
    model: type[BaseModel], data: Any, path: str, level: Level, found: list[Problem]
) -> Any:
    """Return `data` without keys the message does not know, recording each one in `found`."""
    if not isinstance(data, dict):
        return data
    fields = message_fields(model)
    cleaned: dict[str, Any] = {}
    for key, value in data.items():
        shape = fields.get(key)
        key_path = join_path(path, key)
        if shape is None:
            found.append(Problem(key_path, f'unknown field "{key}"', level))
            continue
        cleaned[key] = _strip_value(shape, value, key_path, level, found)
    return cleaned


def _strip_value(
    shape: FieldShape, value: Any, path: str, level: Level, found: list[Problem]
) -> Any:
    if not is_message(shape.item):
        return value
    if shape.container == "list" and isinstance(value, list):
        return [
            strip_unknown(shape.item, v, join_path(path, i), level, found)
            for i, v in enumerate(value)
        ]
    if shape.container == "map" and isinstance(value, dict):
        return {
            k: strip_unknown(shape.item, v, join_path(path, k), level, found)
            for k, v in value.items()
        }
    return strip_unknown(shape.item, value, path, level, found)


_TYPE_MESSAGES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be a boolean (true or false)",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "dict_type": "must be a map",
    "model_type": "must be a map",
    "model_attributes_type": "must be a map",
}


def _loc_to_path(model: type[BaseModel], loc: tuple[int | str, ...], root: str) -> str:
    """pydantic's loc (attribute names or aliases, indexes, map keys) → the API field path."""
    path = root
    current: Any = model
    pending: FieldShape | None = None
    for part in loc:
        if pending is not None and pending.container != "scalar":
            path = (
                join_path(path, part) if pending.container == "list" else join_path(path, str(part))
            )
            current = pending.item
            pending = None
            continue
        if is_message(current) and isinstance(part, str):
            fields = message_fields(current)
            key = part if part in fields else _alias_of(current, part)
            path = join_path(path, key)
            pending = fields.get(key)
            if pending is not None and pending.container == "scalar":
                current = pending.item
                pending = None
            continue
        path = join_path(path, part)
    return path


def _alias_of(model: type[BaseModel], attribute: str) -> str:
    info = model.model_fields.get(attribute)
    return (info.alias or attribute) if info is not None else attribute


def _describe(error: Any) -> str:
    kind = error.get("type", "")
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"unsupported value {error.get('input')!r}: must be one of {expected}"
    if kind in _TYPE_MESSAGES:
        return f"{_TYPE_MESSAGES[kind]}, got {_type_name(error.get('input'))}"
    return str(error.get("msg", "invalid value"))


_JSON_TYPES: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def json_type(value: object) -> str:
    """The JSON Schema type of a decoded YAML/JSON value (`null`, `boolean`, `integer`, `number`,
    `string`, `array`, `object`); another Python value, its type's name."""
    found = _JSON_TYPES.get(type(value))  # the plain types by their type, subclasses below
    if found is not None:
        return found
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_TYPE_WORDS = {"integer": "number", "array": "list", "object": "map"}
"""How a type reads in the messages about models (any number is a number)."""


def _type_name(value: object) -> str:
    found = json_type(value)
    return _TYPE_WORDS.get(found, found)


def build_spec(
    model: type[M], data: Any, root: str = "spec", strict: bool = False
) -> tuple[M | None, list[Problem]]:
    """Report unknown fields, strip them, and build the model; (None, errors) on type errors."""
    problems: list[Problem] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [Problem(root, f"must be a map, got {_type_name(data)}")]
    cleaned = strip_unknown(model, data, root, "error" if strict else "warning", problems)
    try:
        return model.model_validate(cleaned), problems
    except ValidationError as exc:
        for loc, error in _enum_errors(exc.errors()):
            problems.append(Problem(_loc_to_path(model, loc, root), _describe(error)))
        return None, problems


def _enum_errors(errors: list[Any]) -> list[tuple[tuple[int | str, ...], Any]]:
    """(loc, error) of each error. An enum field is its names or a number (`EnumNumber`):
    pydantic refuses a value once per member, the member's tag closing the loc; only the names'
    error is kept, at the field's own loc (`unsupported value 'x': must be one of …`)."""
    enums = {
        tuple(e["loc"][:-1])
        for e in errors
        if e["loc"] and str(e["loc"][-1]).startswith("literal[")
    }
    found = []
    for error in errors:
        loc = tuple(error["loc"])
        if loc[:-1] in enums:
            if not str(loc[-1]).startswith("literal["):
                continue  # the number member's: said by the names' error
            loc = loc[:-1]
        found.append((loc, error))
    return found
