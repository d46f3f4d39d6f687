"""`apply -f` while no mesh runs, as kubectl applies to a cluster Istio is not installed in yet.

Istio's "OpenTelemetry" tracing task deploys its collector before `istioctl install`
(`kubectl create namespace otel-collector`, `kubectl -n otel-collector apply -f otel.yaml`);
a cluster runs it at once, and Istio later finds it there. Here the files are checked as the
control plane checks an apply (each container image resolved through the image map, each
workload's sidecar decided by the stored namespaces' labels: none for a namespace without
`istio-injection`, as no injector ran) and their objects stored in `<state>/config.yaml`,
which the control plane loads when `pilotfish install` or `up` starts it, and starts the
workloads of. An object of the same kind, namespace and name is replaced (kubectl's
`configured`, its creation time and uid kept), a new one added (`created`), with the API
server's fields as the control plane's store writes them (`config.server_meta`). Nothing is
written on an error. `create namespace|secret` before a mesh: `cli.offline_create`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from pilotfish.cli.offline_create import NOTE
from pilotfish.config.kinds import is_namespaced, kube_resource
from pilotfish.config.object_meta import doc_key
from pilotfish.config.server_meta import RESOURCE_VERSION, conflict, latest_version, stamp
from pilotfish.config.yaml_text import dump_yaml
from pilotfish.registry.images import load_image_map
from pilotfish.registry.injection import namespace_labels
from pilotfish.registry.inputs import parse_documents
from pilotfish.state_files import STORE_FILE, write_atomically

IMAGE_MAP_ENV = "PILOTFISH_IMAGE_MAP"  # the user's image map, as `pilotfish up` reads it


def _stored(path: Path) -> list[dict[str, Any]] | str:
    """The documents `config.yaml` holds, or why it does not load."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    raws, stored = parse_documents([(str(path), text)] if text.strip() else [])
    if not stored.ok:
        return f"{path} does not load: " + "; ".join(map(str, stored.diagnostics))
    return raws


def apply_offline(files: list[tuple[str, str]], state_dir: Path, namespace: str | None) -> int:
    """Store what `files` hold for the next start; kubectl's lines (and a note on stderr)."""
    path = state_dir / STORE_FILE
    stored = _stored(path)
    if isinstance(stored, str):
        print(f"error: {stored}", file=sys.stderr)
        return 1
    explicit = namespace_labels([d for d in stored if d.get("kind") == "Namespace"])
    image_map = os.environ.get(IMAGE_MAP_ENV) or None
    raws, incoming = parse_documents(
        files, namespace, lambda: load_image_map(image_map), namespaces=explicit
    )
    problems = [d for d in incoming.diagnostics if d.level == "error"]
    for d in incoming.diagnostics:
        print(f"{d.level}: {d}", file=sys.stderr)
    if problems or not raws:
        print("error: rejected: nothing was changed" if raws else "error: no objects passed to"
              " apply", file=sys.stderr)  # fmt: skip
        return 1
    merged = {doc_key(d): d for d in stored}
    lines, now, version = [], time.time(), latest_version(stored)
    for doc in raws:
        meta = doc.setdefault("metadata", {})
        if is_namespaced(str(doc.get("kind"))) and not meta.get("namespace"):
            meta["namespace"] = namespace or "default"
        key = doc_key(doc)
        stale = conflict(doc, merged.get(key))
        if stale:
            print(f"Error from server (Conflict): {stale}", file=sys.stderr)
            return 1
        verb = stamp(doc, merged.get(key), now, version + 1)
        version += meta.get(RESOURCE_VERSION) == str(version + 1)
        merged[key] = doc
        lines.append(f"{kube_resource(key[0], key[1])}/{key[3]} {verb}")
    state_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(path, "---\n".join(dump_yaml([d]) for d in merged.values()))
    print("\n".join(lines))
    print(NOTE.format(state_dir), file=sys.stderr)
    return 0
