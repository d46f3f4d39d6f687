"""Every field, enum value and served version in Istio's CRD schemas is known to the models.

Reads the reference CRDs in ../shared/istio-crds (test data only; the product never reads it).
extensions.istio.io kinds (WasmPlugin, TrafficExtension) are outside pilotfish's scope.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from ruamel.yaml import YAML
from tests.config.crd_file import CRD_FILE

from pilotfish.config.kinds import ISTIO_KINDS
from pilotfish.config.openapi.check import FORMATS, HANDLED
from pilotfish.config.schema import FieldShape, is_message, message_fields

REPO = Path(__file__).resolve().parents[2]
OUT_OF_SCOPE = {"WasmPlugin", "TrafficExtension"}


@cache
def _crds() -> list[dict[str, Any]]:
    if not CRD_FILE.exists():
        pytest.skip(f"reference CRDs not found at {CRD_FILE}")
    return [d for d in YAML(typ="safe").load_all(CRD_FILE.read_text()) if d]


@cache
def _versions() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for crd in _crds():
        kind = crd["spec"]["names"]["kind"]
        if kind in OUT_OF_SCOPE:
            continue
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
                out.append((kind, version["name"], spec))
    return out


def _missing(schema: dict[str, Any], item: Any, path: str) -> list[str]:
    """Paths of CRD fields or enum values the model does not know."""
    problems: list[str] = []
    if "enum" in schema:
        allowed = set(get_args(item)) if get_origin(item) is Literal else set()
        problems += [f"{path}: enum value {v}" for v in schema["enum"] if v not in allowed]
        return problems
    if schema.get("type") == "array":
        return _missing(schema.get("items", {}), item, f"{path}[]")
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    if props is not None:
        if not is_message(item):
            return [f"{path}: model has no message here"]
        fields = message_fields(item)
        for key, child in props.items():
            shape: FieldShape | None = fields.get(key)
            if shape is None:
                problems.append(f"{path}.{key}: unknown to model {item.__name__}")
                continue
            wrapped = child
            if shape.container == "map":
                wrapped = child.get("additionalProperties", {})
            problems += _missing(wrapped, shape.item, f"{path}.{key}")
    elif isinstance(extra, dict) and is_message(item):
        problems.append(f"{path}: model has a message where the CRD has a map")
    return problems


def test_every_in_scope_kind_is_modelled_with_all_served_versions() -> None:
    served: dict[str, set[str]] = {}
    for kind, version, _ in _versions():
        served.setdefault(kind, set()).add(version)
    assert {k: set(v.versions) for k, v in ISTIO_KINDS.items()} == served


@pytest.mark.parametrize(
    ("kind", "version"), [(k, v) for k, v, _ in _versions()] if CRD_FILE.exists() else []
)
def test_every_crd_field_and_enum_is_known(kind: str, version: str) -> None:
    (spec,) = [s for k, v, s in _versions() if (k, v) == (kind, version)]
    assert _missing(spec, ISTIO_KINDS[kind].spec, "spec") == []


def _keywords(schema: Any, found: set[str], formats: set[str]) -> None:
    if isinstance(schema, list):
        for item in schema:
            _keywords(item, found, formats)
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        found.add(key)
        if key == "format":
            formats.add(value)
        if key == "properties":
            for child in value.values():
                _keywords(child, found, formats)
        elif key in ("items", "additionalProperties", "not", "oneOf", "anyOf", "allOf"):
            _keywords(value, found, formats)


def test_every_schema_constraint_has_a_check() -> None:
    """A new keyword or format in Istio's schemas must be taught to the OpenAPI checker."""
    found: set[str] = set()
    formats: set[str] = set()
    for crd in _crds():
        for version in crd["spec"]["versions"]:
            _keywords(version["schema"]["openAPIV3Schema"], found, formats)
    assert found - HANDLED == set()
    assert formats - FORMATS == set()


def test_packaged_schemas_are_generated_from_the_crds() -> None:
    """src/pilotfish/config/openapi/crd_schemas.json is what tools/gen_crd_schemas.py makes of
    the reference CRDs (rerun it after updating them)."""
    spec = importlib.util.spec_from_file_location("gen", REPO / "tools" / "gen_crd_schemas.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    packaged = json.loads((REPO / "src/pilotfish/config/openapi/crd_schemas.json").read_text())
    assert gen.generate_from(_crds()) == packaged
