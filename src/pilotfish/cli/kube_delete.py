"""kubectl's ways of naming what `delete` removes, around `cli.apply.delete_command`.

- `TYPE/NAME` arguments, several and of several types, as Istio's cleanups type them:
  `delete authorizationpolicy.security.istio.io/allow-nothing`, `delete deploy/a svc/b`;
- names that are not stored: kubectl deletes the others and reports each missing one as
  `Error from server (NotFound): authorizationpolicies.security.istio.io "x" not found` (exit 1);
  with `--ignore-not-found` it says nothing about them (exit 0), and `delete
  --ignore-not-found=true -f FILE` (Istio's cleanups) deletes those of the file's objects that
  are stored, silently, and succeeds when none is.

Pods and namespaces keep `delete_command`'s own handling (a pod is an instance, a namespace
deletes what is in it).
"""

from __future__ import annotations

import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from pilotfish.cli.errors import mesh_call, running_mesh
from pilotfish.config.kinds import KindName, plural, resolve_kind

UNCHECKED = ("Pod", "Namespace")
"""Kinds whose names are not checked here: `delete_command` resolves them itself."""
STORED_AS = {"Deployment": ("Deployment", "Workload")}
"""A kind stored under another one too (`delete deploy sleep` removes the Workload `sleep`)."""


class TargetError(ValueError):
    """Arguments that name no deletable target (kubectl's message)."""


def targets(kind: str | None, names: list[str]) -> list[tuple[str | None, list[str]]]:
    """(kind, names) groups, in the order given: `KIND NAME…` is one group, `TYPE/NAME…`
    arguments one group per type."""
    if kind is None or "/" not in kind:
        if any("/" in n for n in names):
            raise TargetError(
                "there is no need to specify a resource type as a separate argument when passing"
                " arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>'"
                " instead of 'kubectl get resource resource/<resource_name>'"
            )
        return [(kind, names)]
    groups: dict[str, list[str]] = {}
    for item in [kind, *names]:
        type_, _, name = item.partition("/")
        if not type_ or not name or "/" in name:
            raise TargetError(
                "arguments in resource/name form must have a single resource and name"
            )
        groups.setdefault(type_, []).append(name)
    return list(groups.items())


def not_found_line(kind: KindName, name: str) -> str:
    """kubectl's line for a name that is not stored: `deployments.apps "x" not found`."""
    resource = plural(kind.kind) + (f".{kind.group}" if kind.group else "")
    return f'Error from server (NotFound): {resource} "{name}" not found'


def split_missing(
    kind: str, names: list[str], namespace: str, state_dir: Path
) -> tuple[list[str], list[str]]:
    """(stored, missing) names of `kind` in `namespace`; every name counts as stored for the
    kinds `delete_command` resolves itself, and for a kind it does not know (it says so)."""
    resolved = resolve_kind(kind)
    if resolved is None or resolved.kind in UNCHECKED:
        return names, []
    info = running_mesh(state_dir)
    stored: list[str] = []
    missing: list[str] = []
    for name in names:
        found = False
        for stored_kind in STORED_AS.get(resolved.kind, (resolved.kind,)):
            query = {"kind": stored_kind, "namespace": namespace, "name": name}
            reply = mesh_call(info, "GET", "/api/v1/config?" + urllib.parse.urlencode(query))[1]
            found = found or bool(reply.get("documents"))
        (stored if found else missing).append(name)
    return stored, missing


def stored_keys(keys: list[list[str]], state_dir: Path) -> list[list[str]]:
    """Those of `keys` ([group, kind, namespace, name]) the mesh stores, in order."""
    info = running_mesh(state_dir)
    found = []
    for key in keys:
        query = {"kind": key[1], "namespace": key[2], "name": key[3]}
        reply = mesh_call(info, "GET", "/api/v1/config?" + urllib.parse.urlencode(query))[1]
        groups = {
            str(d.get("apiVersion", "")).rpartition("/")[0] for d in reply.get("documents", [])
        }
        if key[0] in groups:
            found.append(key)
    return found


def delete_targets(
    kind: str | None,
    names: list[str],
    namespace: str | None,
    state_dir: Path,
    ignore_not_found: bool,
    delete: Callable[[str | None, list[str]], int],
) -> int:
    """Run `delete(kind, names)` per group of stored names; report or skip the missing ones."""
    try:
        groups = targets(kind, names)
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    code = 0
    for group_kind, group_names in groups:
        if group_kind is None or not group_names:
            code = max(code, delete(group_kind, group_names))
            continue
        stored, missing = split_missing(group_kind, group_names, namespace or "default", state_dir)
        if stored:
            code = max(code, delete(group_kind, stored))
        resolved = resolve_kind(group_kind)
        if missing and not ignore_not_found and resolved is not None:
            for name in missing:
                print(not_found_line(resolved, name), file=sys.stderr)
            code = max(code, 1)
    return code
