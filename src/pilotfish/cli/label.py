"""`pilotfish label namespace NS key=value … [--overwrite]` and `key-` to remove, and `pilotfish
create namespace NS`: kubectl's namespace commands, which Istio's docs run first
(`kubectl create ns foo`, `kubectl label namespace default istio-injection=enabled`).

The labels live on a `v1 Namespace` document applied to the mesh (so `get ns --show-labels`,
`analyze` and sidecar injection read them: `pilotfish.registry.injection`). What they change in
local mode is said when they are set: `istio-injection` and `istio.io/rev` decide the sidecars
of pods applied from then on (running pods keep theirs, as on Kubernetes until a restart), and
there is no ambient data plane (`istio.io/dataplane-mode=ambient` leaves workloads on their
sidecars). A namespace never created explicitly starts from the labels `get ns` shows on it,
local mode's implicit `istio-injection=enabled` (`registry.injection.IMPLICIT_LABELS`): another
label keeps it, `istio-injection-` removes it ("unlabeled"), and setting it (to any value, with
no `--overwrite` needed: no one set it) writes it, "labeled", as Istio's pages show.

`edit_labels` is the pure part: kubectl's rules for adding, overwriting and removing.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from pilotfish.cli.errors import UserError, mesh_call, running_mesh
from pilotfish.cli.kube_namespaces import NAME_LABEL
from pilotfish.cli.offline_create import create_offline
from pilotfish.local.client import MeshNotRunning, read_mesh
from pilotfish.registry.injection import IMPLICIT_LABELS

NAMESPACE_WORDS = ("ns", "namespace", "namespaces")
LOCAL_MEANING = {
    "istio-injection": "istio-injection decides the sidecars of pods created from now on; "
    "running pods keep theirs until they are replaced (rollout restart, delete pod)",
    "istio.io/rev": "local mode runs one control plane, revision default: istio.io/rev=default "
    "enables injection (as istio-injection=enabled) for pods applied from now on; any other "
    "revision has no injection webhook here, so those pods get no sidecar",
    "istio.io/dataplane-mode": "local mode has no ambient data plane (ztunnel): "
    "workloads keep their sidecars; the label is recorded",
}


def edit_labels(
    current: dict[str, str], changes: list[str], overwrite: bool
) -> tuple[dict[str, str], str, list[str]]:
    """(new labels, kubectl's verdict: "labeled", "unlabeled" or "not labeled", warnings).
    Raises UserError for a malformed change or a value changed without `overwrite`."""
    found = dict(current)
    warnings = []
    for change in changes:
        if change.endswith("-") and "=" not in change:
            key = change[:-1]
            if key not in found:
                warnings.append(f'label "{key}" not found.')
            found.pop(key, None)
            continue
        key, sep, value = change.partition("=")
        if not sep or not key:
            raise UserError(f"invalid label spec: {change}: expected key=value or key-")
        if key in found and found[key] != value and not overwrite:
            raise UserError(f"'{key}' already has a value ({found[key]}), and --overwrite is false")
        found[key] = value
    if found == current:
        return found, "not labeled", warnings
    removed_only = set(found) < set(current) and all(current[k] == v for k, v in found.items())
    return found, "unlabeled" if removed_only else "labeled", warnings


def namespace_document(name: str, labels: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    mine = {k: v for k, v in labels.items() if k != NAME_LABEL}
    if mine:
        meta["labels"] = mine
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _stored(info: dict[str, Any], name: str) -> dict[str, Any] | None:
    query = urllib.parse.urlencode({"kind": "Namespace", "name": name})
    status, body = mesh_call(info, "GET", "/api/v1/config?" + query)
    docs = body.get("documents", []) if status == 200 else []
    return dict(docs[0]) if docs else None


def _known(info: dict[str, Any], name: str) -> bool:
    from pilotfish.cli.kube_get import objects  # the namespaces `get ns` lists

    return any(o["metadata"]["name"] == name for o in objects("ns", info))


def _apply(info: dict[str, Any], document: dict[str, Any]) -> None:
    files = [("<namespace>", json.dumps(document))]
    body = {"files": files, "wait": True, "timeout": 10.0}
    status, reply = mesh_call(info, "POST", "/api/v1/apply", body, timeout=20)
    if status != 200:
        texts = [d.get("text", "") for d in reply.get("diagnostics", [])]
        raise UserError("rejected: " + ("; ".join(texts) or "nothing was changed"))


def label_command(args: list[str], overwrite: bool, state_dir: Path) -> int:
    """`args` as kubectl takes them: `namespace NAME CHANGE…` or `namespace/NAME CHANGE…`."""
    kind, _, name = (args[0] if args else "").partition("/")
    rest = args[1:]
    if not name and rest:
        name, rest = rest[0], rest[1:]
    changes = rest
    if not name:
        raise UserError("say what to label: label namespace NAME key=value")
    if kind.lower() not in NAMESPACE_WORDS:
        raise UserError(
            f"label {kind}: local mode labels namespaces (`label namespace NS key=value`); "
            "pods and services take their labels from the files you apply"
        )
    if not changes:
        raise UserError("one or more label changes are needed: key=value or key-")
    info = running_mesh(state_dir)
    stored = _stored(info, name)
    if stored is None and not _known(info, name):
        print(f'Error from server (NotFound): namespaces "{name}" not found', file=sys.stderr)
        return 1
    current = {
        str(k): str(v) for k, v in ((stored or {}).get("metadata") or {}).get("labels", {}).items()
    }
    implicit = stored is None  # its labels are local mode's, which no one set: not refused
    base = IMPLICIT_LABELS | current if implicit else current
    labels, verdict, warnings = edit_labels(base, changes, overwrite or implicit)
    if implicit and verdict == "not labeled" and not warnings:
        verdict = "labeled"  # written now (`label namespace default istio-injection=enabled`)
    for warning in warnings:
        print(warning, file=sys.stderr)
    if verdict != "not labeled" or stored is None:
        _apply(info, namespace_document(name, labels))
    print(f"namespace/{name} {verdict}")
    for key in sorted({c.partition("=")[0].rstrip("-") for c in changes} & set(LOCAL_MEANING)):
        print(f"note: {LOCAL_MEANING[key]}", file=sys.stderr)
    return 0


def create_namespace_command(name: str, state_dir: Path) -> int:
    try:
        info = read_mesh(state_dir)
    except MeshNotRunning:  # before `install`, as kubectl before Istio is installed
        return create_offline(state_dir, namespace_document(name, {}), "namespaces")
    if _known(info, name):
        print(
            f'Error from server (AlreadyExists): namespaces "{name}" already exists',
            file=sys.stderr,
        )
        return 1
    _apply(info, namespace_document(name, {}))
    print(f"namespace/{name} created")
    return 0
