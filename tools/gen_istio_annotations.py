"""Regenerate `src/pilotfish/config/analyzers/istio_annotations.json` from istio/api.

Usage: python tools/gen_istio_annotations.py PATH/TO/istio-api/annotation/annotations.yaml
Keeps, for each annotation Istio defines, what its annotations analyzer reads: whether it is
deprecated and the resource kinds it may be set on ("Any" for every kind). Updating Istio is:
run this script, commit the JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ruamel.yaml import YAML

OUT = (
    Path(__file__).resolve().parents[1]
    / "src"
    / "pilotfish"
    / "config"
    / "analyzers"
    / "istio_annotations.json"
)


def main() -> None:
    data = YAML(typ="safe").load(Path(sys.argv[1]).read_text())
    table = {
        entry["name"]: {
            "deprecated": bool(entry.get("deprecated")),
            "resources": list(entry.get("resources") or []),
        }
        for entry in data["annotations"]
    }
    OUT.write_text(json.dumps(dict(sorted(table.items())), indent=1) + "\n")
    print(f"{len(table)} annotations -> {OUT}")


if __name__ == "__main__":
    main()
