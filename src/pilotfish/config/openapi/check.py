"""`openapi_problems`: a spec checked against its CRD's OpenAPI v3 schema, as the API server does.

Works on the document as read (plain dicts and lists), so an empty string is told from an unset
field. A null field counts as unset (kubectl drops it); a null list item is refused (loading
first reads nulls and quoted numbers as istioctl does: `pilotfish.config.unmarshal`). Messages
follow the API server's wording (`should be at least 1 chars long`, `Required value`, `should
match '^…$'`); paths are the API field paths (`spec.jwtRules[0].audiences[0]`). Pure.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from pilotfish.config.schema import Problem, json_type
from pilotfish.config.yaml_text import join_path

# Every schema keyword this checker enforces or deliberately accepts as information only.
HANDLED = frozenset(
    {
        "type",
        "properties",
        "additionalProperties",
        "items",
        "required",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "pattern",
        "enum",
        "format",
        "oneOf",
        "anyOf",
        "allOf",
        "not",
        "nullable",
        "x-kubernetes-int-or-string",
        "x-kubernetes-preserve-unknown-fields",
        # list-type set/map: items (or their keys) must be unique
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        # CEL rules: pilotfish.config.validation.cel (checked by tests/config/test_cel_rules.py)
        "x-kubernetes-validations",
        "description",
    }
)
FORMATS = frozenset({"int32", "int64", "uint32", "double", "float", "date-time", "byte"})
INT32 = (-(2**31), 2**31 - 1)
UINT32 = (0, 2**32 - 1)
INT64 = (-(2**63), 2**63 - 1)


@cache
def _data() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("crd_schemas.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def kind_schema(kind: str, version: str) -> tuple[dict[str, Any], bool] | None:
    """(spec schema, whether spec is required) of a served version of a CRD kind, or None."""
    info = _data()["kinds"].get(kind)
    if info is None or version not in info["versions"]:
        return None
    schema: dict[str, Any] = _data()["schemas"][info["versions"][version]]
    return schema, bool(info["spec_required"])


def kind_schema_group(kind: str) -> tuple[str, tuple[str, ...]] | None:
    """(API group, served versions) of a CRD kind, or None."""
    info = _data()["kinds"].get(kind)
    return None if info is None else (info["group"], tuple(info["versions"]))


def openapi_problems(
    kind: str, version: str, spec: Any, root: str = "spec", unknown_fields: bool = False
) -> list[Problem]:
    """Every schema constraint `spec` breaks. `unknown_fields`: also report keys the schema does
    not declare (for kinds without a model, whose unknown fields nothing else reports)."""
    found = kind_schema(kind, version)
    if found is None:
        return []
    schema, required = found
    if spec is None:
        return [Problem(root, "Required value")] if required else []
    checker = _Checker(unknown_fields)
    checker.check(schema, spec, root)
    return checker.problems


def _type_ok(expected: str, value: Any) -> bool:
    actual = json_type(value)
    if expected == "number":
        return actual in ("integer", "number")
    if expected == "integer" and actual == "number":
        return float(value).is_integer()
    return actual == expected


def _one_line(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str | int | float | bool) else json_type(value)


def _only_one_of(options: list[Any]) -> list[str]:
    """The field names of Istio's protobuf-oneof pattern (`not anyOf required` + one `required`
    per field), or [] for any other oneOf."""
    names = [o["required"][0] for o in options if list(o) == ["required"] and o["required"]]
    return names if len(names) == len(options) - 1 else []


def _enum_number(schema: dict[str, Any], value: Any) -> bool:
    """An enum field given a number (int32) that names none of its values: istioctl's protobuf
    JSON reader keeps it as that number (`pilotfish.config.unmarshal` names the others), so it is
    read as istioctl reads it, not refused as the API server's type check would."""
    return (
        schema.get("type") == "string"
        and "enum" in schema
        and isinstance(value, int)
        and not isinstance(value, bool)
        and -(2**31) <= value < 2**31
    )


class _Checker:
    def __init__(self, unknown_fields: bool) -> None:
        self.unknown_fields = unknown_fields
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def matches(self, schema: dict[str, Any], value: Any, path: str) -> bool:
        probe = _Checker(False)
        probe.check(schema, value, path)
        return not probe.problems

    def check(self, schema: dict[str, Any], value: Any, path: str) -> None:
        if value is None or _enum_number(schema, value):
            return
        if not self._type(schema, value, path):
            return
        if isinstance(value, dict):
            self._object(schema, value, path)
        elif isinstance(value, list):
            self._array(schema, value, path)
        elif isinstance(value, str):
            self._string(schema, value, path)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self._number(schema, value, path)
        if "enum" in schema and value not in schema["enum"]:
            allowed = ", ".join(_one_line(v) for v in schema["enum"])
            self.add(path, f"Unsupported value: {_one_line(value)}: supported values: {allowed}")
        self._combinators(schema, value, path)

    def _type(self, schema: dict[str, Any], value: Any, path: str) -> bool:
        if schema.get("x-kubernetes-int-or-string"):
            if json_type(value) in ("integer", "string"):
                return True
            self.add(path, f"must be of type integer or string, got {json_type(value)}")
            return False
        expected = schema.get("type")
        if expected is None or _type_ok(expected, value):
            return True
        self.add(path, f"must be of type {expected}, got {json_type(value)}")
        return False

    def _object(self, schema: dict[str, Any], value: dict[str, Any], path: str) -> None:
        for name in schema.get("required", ()):
            if name not in value:
                self.add(join_path(path, name), "Required value")
        count = len(value)
        if "minProperties" in schema and count < schema["minProperties"]:
            self.add(path, f"should have at least {schema['minProperties']} properties")
        if "maxProperties" in schema and count > schema["maxProperties"]:
            self.add(path, f"should have at most {schema['maxProperties']} properties")
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            where = join_path(path, str(key))
            if key in properties:
                self.check(properties[key], child, where)
            elif isinstance(extra, dict):
                self.check(extra, child, where)
            elif (
                self.unknown_fields
                and "properties" in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")
            ):
                self.add(where, f'unknown field "{key}"')

    def _array(self, schema: dict[str, Any], value: list[Any], path: str) -> None:
        if "minItems" in schema and len(value) < schema["minItems"]:
            self.add(path, f"should have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self.add(path, f"must have at most {schema['maxItems']} items, got {len(value)}")
        self._unique(schema, value, path)
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                if item is None and not items.get("nullable"):
                    # a list item is not a field kubectl could drop: null is a value of no type
                    kind = "integer or string" if items.get("x-kubernetes-int-or-string") else None
                    self.add(
                        join_path(path, index),
                        f"must be of type {kind or items.get('type', 'object')}, got null",
                    )
                    continue
                self.check(items, item, join_path(path, index))

    def _unique(self, schema: dict[str, Any], value: list[Any], path: str) -> None:
        kind = schema.get("x-kubernetes-list-type")
        if kind not in ("set", "map"):
            return
        keys = schema.get("x-kubernetes-list-map-keys", [])
        seen: set[str] = set()
        for index, item in enumerate(value):
            if kind == "map" and isinstance(item, dict):
                identity = json.dumps([item.get(k) for k in keys])
                where = join_path(join_path(path, index), keys[0]) if len(keys) == 1 else path
            else:
                identity, where = json.dumps(item, sort_keys=True), join_path(path, index)
            if identity in seen:
                self.add(where, f"Duplicate value: {identity.strip('[]')}")
            seen.add(identity)

    def _string(self, schema: dict[str, Any], value: str, path: str) -> None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            self.add(path, f"should be at least {schema['minLength']} chars long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.add(path, f"may not be longer than {schema['maxLength']}")
        pattern = schema.get("pattern")
        if pattern is not None and re.search(pattern, value) is None:
            self.add(path, f"should match '{pattern}'")
        if schema.get("format") == "date-time" and not _is_date_time(value):
            self.add(path, f"must be a date-time (RFC 3339), got {json.dumps(value)}")
        if schema.get("format") == "byte" and not _is_base64(value):
            self.add(path, "must be base64-encoded bytes")

    def _number(self, schema: dict[str, Any], value: float, path: str) -> None:
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None:
            if schema.get("exclusiveMinimum") and value <= low:
                self.add(path, f"should be greater than {_num(low)}")
            elif value < low:
                self.add(path, f"should be greater than or equal to {_num(low)}")
        if high is not None:
            if schema.get("exclusiveMaximum") and value >= high:
                self.add(path, f"should be less than {_num(high)}")
            elif value > high:
                self.add(path, f"should be less than or equal to {_num(high)}")
        bounds = {"int32": INT32, "uint32": UINT32, "int64": INT64}.get(schema.get("format", ""))
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            self.add(path, f"must be of type {schema['format']}: {_num(value)} is out of range")

    def _combinators(self, schema: dict[str, Any], value: Any, path: str) -> None:
        for option in schema.get("allOf", ()):
            self.check(option, value, path)
        if "anyOf" in schema and not any(self.matches(o, value, path) for o in schema["anyOf"]):
            self.add(path, "must validate at least one schema (anyOf)")
        if "oneOf" in schema:
            options = schema["oneOf"]
            if sum(self.matches(o, value, path) for o in options) != 1:
                names = _only_one_of(options)
                if names:
                    self.add(path, f"only one of {', '.join(names)} may be set")
                else:
                    self.add(path, "must validate one and only one schema (oneOf)")
        if "not" in schema and self.matches(schema["not"], value, path):
            self.add(path, "must not validate the schema (not)")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _is_date_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in text.upper()


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
