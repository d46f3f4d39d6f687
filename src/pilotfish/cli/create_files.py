"""`pilotfish create -f FILE`: kubectl's `create -f`, which Istio's tasks use as often as apply
(the Mirroring task: `cat <<EOF | kubectl create -f -`).

As kubectl, create refuses an object that already exists (`Error from server (AlreadyExists):
error when creating "FILE": deployments.apps "httpbin-v1" already exists`); unlike kubectl, which
creates the others, nothing is created then — the mesh takes a change whole or not at all.
Otherwise it is `apply` (validated the same way, waits for the same ACKs and rollouts).

`replace -f FILE` is kubectl's too (Istio's Egress Control task: `kubectl get configmap istio
-n istio-system -o yaml | sed … | kubectl replace -n istio-system -f -`): every object must
exist (`Error from server (NotFound): error when replacing …`), a `resourceVersion` the file
gives must be the stored one (the store's Conflict, as the API server's), then it is `apply`,
with kubectl's `… replaced` lines.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from pilotfish.cli.apply import apply_files
from pilotfish.cli.errors import mesh_call, running_mesh
from pilotfish.cli.implicit_objects import always_there, listed_namespaces
from pilotfish.cli.inputs import InputError, read_inputs
from pilotfish.config.kinds import is_namespaced, kube_resource
from pilotfish.config.yaml_text import parse_yaml


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
            ns = meta.get("namespace") or namespace if is_namespaced(str(doc.get("kind"))) else ""
            found.append(("STDIN" if source == "<stdin>" else source, doc, str(ns or "default")))
    return found


def create_files_command(
    filenames: list[str], state_dir: Path, namespace: str | None, wait: bool, timeout: float
) -> int:
    """`create -f PATH…`: apply, once no object of the files exists already."""
    return _checked_apply(filenames, state_dir, namespace, wait, timeout, replace=False)


def replace_files_command(
    filenames: list[str], state_dir: Path, namespace: str | None, timeout: float
) -> int:
    """`replace -f PATH…`: apply, once every object of the files exists; kubectl's `replaced`
    lines (a `resourceVersion` the file gives must be the stored one: the store's Conflict)."""
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        code = _checked_apply(filenames, state_dir, namespace, True, timeout, replace=True)
    for line in said.getvalue().splitlines():
        print(_REPLACED.sub(" replaced", line))
    return code


_REPLACED = re.compile(r" (configured|unchanged|created)$")  # it existed: kubectl says replaced


def _checked_apply(
    filenames: list[str],
    state_dir: Path,
    namespace: str | None,
    wait: bool,
    timeout: float,
    replace: bool,
) -> int:
    """Apply the files once each object exists (`replace`) or none does (create)."""
    try:
        files = read_inputs(filenames)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    info = running_mesh(state_dir)
    refused = []
    for source, doc, ns in _objects(files, namespace):
        name, kind = doc["metadata"]["name"], str(doc.get("kind"))
        query = {"kind": kind, "name": name}
        query |= {"namespace": ns} if is_namespaced(kind) else {}
        group = str(doc.get("apiVersion", "")).rpartition("/")[0]
        query |= {"group": group}
        path = f"/api/v1/config?{urllib.parse.urlencode(query)}"
        found = (
            always_there(kind, ns, name)
            or (kind == "Namespace" and name in listed_namespaces(info))
            or bool(mesh_call(info, "GET", path)[1].get("documents"))
        )
        resource = f'{kube_resource(group, kind, many=True)} "{name}"'
        if found and not replace:
            refused.append(
                f'Error from server (AlreadyExists): error when creating "{source}": '
                f"{resource} already exists"
            )
        elif replace and not found:
            refused.append(
                f'Error from server (NotFound): error when replacing "{source}": '
                f"{resource} not found"
            )
    if refused:
        for line in refused:
            print(line, file=sys.stderr)
        print(f"error: nothing was {'replaced' if replace else 'created'}", file=sys.stderr)
        return 1
    return apply_files(files, state_dir, wait, timeout, namespace)
