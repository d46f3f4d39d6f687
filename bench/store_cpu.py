"""CPU of the control plane's document store writing and reading back many objects.

    .venv/bin/python bench/store_cpu.py [--docs 2000]

`DocumentStore.preview_apply` + `commit` of `--docs` DestinationRules (50 namespaces), then
the same ones changed (a second write of every document), then `parse_documents` of the
store's file, as a control plane starting on it reads it. Each timed in process CPU. Run it
with another tree's `src` on PYTHONPATH to compare two trees side by side (the YAML shapes
that make the writer and the reader cheap: `config.yaml_shapes`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from pilotfish.controlplane.store import DocumentStore
from pilotfish.registry.inputs import parse_documents


def rules(count: int, subset: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": f"dr{i}", "namespace": f"ns{i % 50}"},
            "spec": {
                "host": f"svc{i}.ns{i % 50}.svc.cluster.local",
                "subsets": [{"name": subset, "labels": {"version": subset}}],
            },
        }
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    count = parser.parse_args().docs
    with tempfile.TemporaryDirectory() as scratch:
        store = DocumentStore(Path(scratch) / "config.yaml")
        for subset in ("v1", "v2"):
            started = time.process_time()
            merged, _ = store.preview_apply(rules(count, subset), time.time())
            store.commit(merged)
            print(f"write {subset}: {time.process_time() - started:.2f} s CPU ({count} documents)")
        text = store.read_text()
        started = time.process_time()
        _, parsed = parse_documents([("config.yaml", text)])
        assert parsed.ok, parsed.diagnostics
        print(f"read back: {time.process_time() - started:.2f} s CPU")


if __name__ == "__main__":
    main()
