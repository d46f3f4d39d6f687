"""Regenerate `src/pilotfish/config/openapi/crd_schemas.json` from Istio's CRD file.

Usage: python tools/gen_crd_schemas.py [PATH/TO/crd-all.gen.yaml]
(default: the first shared/istio-crds/crd-all.gen.yaml in a parent of the repository).
Keeps, for the spec of every served version of every kind, only what the API server enforces
(types, required, lengths, counts, bounds, patterns, enums, formats, oneOf/anyOf/allOf/not,
int-or-string,
nullable, preserve-unknown-fields); descriptions and the CEL rules (which
`pilotfish.config.validation.cel` holds by hand) are dropped. Identical schemas are stored once.
Updating Istio is: run this script, commit the JSON, run tests/config/test_crd_coverage.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
CRD_NAME = Path("shared") / "istio-crds" / "crd-all.gen.yaml"
OUT = ROOT / "src" / "pilotfish" / "config" / "openapi" / "crd_schemas.json"
DROPPED = {"description", "x-kubernetes-validations"}


def strip(schema: Any) -> Any:
    """The schema without descriptions and CEL rules, recursively."""
    if isinstance(schema, list):
        return [strip(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED:
            continue
        if key == "properties":
            out[key] = {name: strip(child) for name, child in value.items()}
        else:
            out[key] = strip(value)
    return out


def generate(crd_file: Path) -> dict[str, Any]:
    return generate_from([d for d in YAML(typ="safe").load_all(crd_file.read_text()) if d])


def generate_from(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The packaged data for these CRD documents."""
    schemas: list[Any] = []
    kinds: dict[str, Any] = {}
    for crd in docs:
        names = crd["spec"]["names"]
        versions: dict[str, int] = {}
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            root = version["schema"]["openAPIV3Schema"]
            spec = strip(root.get("properties", {}).get("spec", {}))
            if spec not in schemas:
                schemas.append(spec)
            versions[version["name"]] = schemas.index(spec)
        root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        kinds[names["kind"]] = {
            "group": crd["spec"]["group"],
            "versions": versions,
            "spec_required": "spec" in root.get("required", []),
        }
    return {"source": "istio crd-all.gen.yaml", "kinds": kinds, "schemas": schemas}


def main() -> None:
    found = [p / CRD_NAME for p in ROOT.parents if (p / CRD_NAME).exists()]
    crd_file = Path(sys.argv[1]) if len(sys.argv) > 1 else found[0]
    data = generate(crd_file)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(data['schemas'])} schemas)")


if __name__ == "__main__":
    main()
