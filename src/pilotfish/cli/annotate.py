"""`pilotfish annotate [--overwrite] TYPE NAME KEY=VALUE… | KEY-…` (or `TYPE/NAME`): kubectl's
annotate, on the objects the mesh holds.

Istio's "Dry Run" task turns a policy to dry-run mode with `kubectl annotate --overwrite
authorizationpolicies deny-path-headers -n foo istio.io/dry-run='true'`. The stored document is
applied back with its annotations changed, so it goes through the checks `apply` makes (a bad
`istio.io/dry-run` value is refused, the object is left as it was). As kubectl: a changed value
needs `--overwrite`, `KEY-` removes (a missing key is no error), and the line printed is
`<plural>.<group>/<name> annotated` (`<kind>/<name>` for the core kinds).
"""

from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path
from typing import Any

from pilotfish.cli.apply import apply_edited
from pilotfish.cli.errors import UserError, mesh_call, running_mesh
from pilotfish.config.kinds import KindName, is_namespaced, plural, resolve_kind


def edit_annotations(
    current: dict[str, str], changes: list[str], overwrite: bool
) -> dict[str, str]:
    """The annotations after kubectl's changes. Raises UserError for a malformed change or a
    value changed without `overwrite` (kubectl's words)."""
    found = dict(current)
    clashes = []
    for change in changes:
        if change.endswith("-") and "=" not in change:
            found.pop(change[:-1], None)
            continue
        key, sep, value = change.partition("=")
        if not sep or not key:
            raise UserError(f"invalid annotation format: {change}")
        if key in found and found[key] != value and not overwrite:
            clashes.append(f"'{key}' already has a value ({found[key]})")
        found[key] = value
    if clashes:
        raise UserError(
            "--overwrite is false but found the following declared annotation(s): "
            + "; ".join(clashes)
        )
    return found


def resource_name(kind: KindName) -> str:
    """kubectl's name of the resource type in its output lines."""
    return f"{plural(kind.kind)}.{kind.group}" if kind.group else kind.kind.lower()


def _target(args: list[str]) -> tuple[str, str, list[str]]:
    kind, _, name = (args[0] if args else "").partition("/")
    rest = args[1:]
    if not name and rest:
        name, rest = rest[0], rest[1:]
    if not kind or not name:
        raise UserError(
            "one or more resources must be specified as <resource> <name> or <resource>/<name>"
        )
    if not rest:
        raise UserError("at least one annotation update is required")
    return kind, name, rest


def annotate_command(
    args: list[str], overwrite: bool, namespace: str | None, state_dir: Path
) -> int:
    kind_text, name, changes = _target(args)
    kind = resolve_kind(kind_text)
    if kind is None:
        raise UserError(f'the server doesn\'t have a resource type "{kind_text}"')
    query = {"kind": kind.kind, "name": name}
    if is_namespaced(kind.kind):
        query["namespace"] = namespace or "default"
    info = running_mesh(state_dir)
    status, body = mesh_call(info, "GET", "/api/v1/config?" + urllib.parse.urlencode(query))
    docs: list[dict[str, Any]] = body.get("documents", []) if status == 200 else []
    if not docs:
        print(
            f'Error from server (NotFound): {resource_name(kind)} "{name}" not found',
            file=sys.stderr,
        )
        return 1
    document = dict(docs[0])
    meta = dict(document.get("metadata") or {})
    current = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    annotations = edit_annotations(current, changes, overwrite)
    if annotations != current:
        meta["annotations"] = annotations
        if not annotations:
            del meta["annotations"]
        document["metadata"] = meta
        if not apply_edited(info, f"<annotate {name}>", document):
            return 1
    print(f"{resource_name(kind)}/{name} annotated")
    return 0
