"""`pilotfish create -f FILE`: kubectl's `create -f`, which Istio's tasks use as often as apply
(the Mirroring task: `cat <<EOF | kubectl create -f -`).

As kubectl, create refuses an object that already exists (`Error from server (AlreadyExists):
error when creating "FILE": deployments.apps "httpbin-v1" already exists`); unlike kubectl, which
creates the others, nothing is created then — the mesh takes a change whole or not at all.
Otherwise it is `apply` (validated the same way, waits for the same ACKs and rollouts).
"""

from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path
from typing import Any

from pilotfish.cli.apply import apply_files
from pilotfish.cli.errors import mesh_call, running_mesh
from pilotfish.cli.inputs import InputError, read_inputs
from pilotfish.config.kinds import kube_resource
from pilotfish.config.yaml_text import parse_yaml

_CLUSTER_SCOPED = ("Namespace",)


def _objects(files: list[tuple[str, str]], namespace: str | None) -> list[tuple[str, Any, str]]:
    """(source, document, namespace) of each object the files hold; what is not an object (bad
    YAML, no kind or name) is left to apply's validation, which names file and line."""
    found: list[tuple[str, Any, str]] = []
    for source, text in files:
        docs: list[Any] = [raw.data for raw in parse_yaml(text, source)[0]]
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") == "List":
                items = doc.get("items") if isinstance(doc, dict) else None
                docs += items if isinstance(items, list) else []
                continue
            meta = doc.get("metadata")
            if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
                continue
            ns = "" if doc.get("kind") in _CLUSTER_SCOPED else meta.get("namespace") or namespace
            found.append(("STDIN" if source == "<stdin>" else source, doc, str(ns or "default")))
    return found


def create_files_command(
    filenames: list[str], state_dir: Path, namespace: str | None, wait: bool, timeout: float
) -> int:
    """`create -f PATH…`: apply, once no object of the files exists already."""
    try:
        files = read_inputs(filenames)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    info = running_mesh(state_dir)
    existing = []
    for source, doc, ns in _objects(files, namespace):
        name = doc["metadata"]["name"]
        query = {"kind": str(doc.get("kind")), "name": name}
        query |= {"namespace": ns} if doc.get("kind") not in _CLUSTER_SCOPED else {}
        group = str(doc.get("apiVersion", "")).rpartition("/")[0]
        query |= {"group": group}
        path = f"/api/v1/config?{urllib.parse.urlencode(query)}"
        if mesh_call(info, "GET", path)[1].get("documents"):
            existing.append(
                f'Error from server (AlreadyExists): error when creating "{source}": '
                f'{kube_resource(group, str(doc.get("kind")), many=True)} "{name}" already exists'
            )
    if existing:
        for line in existing:
            print(line, file=sys.stderr)
        print("error: nothing was created", file=sys.stderr)
        return 1
    return apply_files(files, state_dir, wait, timeout, namespace)
