"""`pilotfish patch TYPE NAME -p PATCH [--type strategic|merge|json]`: kubectl's patch of an
object the mesh holds, applied back as `apply` applies it (validated, all or nothing).

Istio's "Ingress Access Control" task patches the ingress Service (`kubectl patch svc
istio-ingressgateway -n istio-system -p '{"spec":{"externalTrafficPolicy":"Local"}}'`); in
local mode the client's address reaches the gateway as it is anyway (no node hop, no SNAT).
`merge` is RFC 7386's JSON merge patch; `strategic` (kubectl's default) is applied as the same
merge (lists are replaced whole, where Kubernetes merges some by key); `json` is RFC 6902's
`add`, `replace` and `remove` operations.
"""

from __future__ import annotations

import copy
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from pilotfish.cli.apply import apply_edited
from pilotfish.cli.errors import UserError, mesh_call, running_mesh
from pilotfish.cli.kube_delete import not_found_line
from pilotfish.config.kinds import is_namespaced, kube_resource, resolve_kind

PATCH_TYPES = ("strategic", "merge", "json")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge key by key, `null` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902's add, replace and remove (the operations kubectl's users write)."""
    if not isinstance(operations, list):
        raise UserError("--type json: the patch must be a list of operations")
    document = copy.deepcopy(document)
    for index, op in enumerate(operations):
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            raise UserError(f"--type json: operation {index}: op must be add, replace or remove")
        path = str(op.get("path", ""))
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        if not parts:
            raise UserError(f"--type json: operation {index}: path {path!r} names nothing")
        parent = document
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.get(part)
            if parent is None:
                raise UserError(f"--type json: operation {index}: path {path!r} not found")
        last = parts[-1]
        if isinstance(parent, list):
            at = len(parent) if last == "-" else int(last)
            if op["op"] == "add":
                parent.insert(at, op.get("value"))
            elif op["op"] == "replace":
                parent[at] = op.get("value")
            else:
                del parent[at]
        elif op["op"] == "remove":
            if last not in parent:
                raise UserError(f"--type json: operation {index}: path {path!r} not found")
            del parent[last]
        else:
            parent[last] = op.get("value")
    return document


def _target(args: list[str]) -> tuple[str, str]:
    if len(args) == 1 and "/" in args[0]:
        kind, _, name = args[0].partition("/")
        return kind, name
    if len(args) == 2 and "/" not in args[0]:
        return args[0], args[1]
    raise UserError("patch takes TYPE NAME or TYPE/NAME")


def patch_command(
    args: list[str], patch: str, patch_type: str, namespace: str | None, state_dir: Path
) -> int:
    if patch_type not in PATCH_TYPES:
        raise UserError(f"--type must be one of {', '.join(PATCH_TYPES)}, not {patch_type!r}")
    kind_text, name = _target(args)
    kind = resolve_kind(kind_text)
    if kind is None:
        raise UserError(f'the server doesn\'t have a resource type "{kind_text}"')
    try:
        body = json.loads(patch)
    except ValueError as exc:
        raise UserError(f"unable to parse {patch!r}: {exc}") from None
    query = {"kind": kind.kind, "name": name}
    if is_namespaced(kind.kind):
        query["namespace"] = namespace or "default"
    info = running_mesh(state_dir)
    status, reply = mesh_call(info, "GET", "/api/v1/config?" + urllib.parse.urlencode(query))
    docs: list[dict[str, Any]] = reply.get("documents", []) if status == 200 else []
    if not docs:
        print(not_found_line(kind, name), file=sys.stderr)
        return 1
    document = docs[0]
    if patch_type == "json":
        patched = json_patch(document, body)
    else:
        if not isinstance(body, dict):
            raise UserError(f"--type {patch_type}: the patch must be a JSON object")
        patched = merge_patch(document, body)
    if patched == document:
        print(f"{kube_resource(kind.group, kind.kind)}/{name} patched (no change)")
        return 0
    if not apply_edited(info, f"<patch {name}>", patched):
        return 1
    print(f"{kube_resource(kind.group, kind.kind)}/{name} patched")
    return 0
