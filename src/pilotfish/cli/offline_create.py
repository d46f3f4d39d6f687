"""`create namespace` and `create secret` while no mesh runs, as kubectl does them against a
cluster Istio is not installed in yet.

Istio's "Plug in CA Certificates" task creates `istio-system` and its `cacerts` Secret before
`istioctl install`, so that istiod signs with them from its first certificate. Here the object
is checked as `apply` checks it (a CA Secret in istio-system must be usable CA material) and
stored in `<state>/config.yaml`, which the control plane loads when `pilotfish install` or `up`
starts it. An object stored already gets kubectl's AlreadyExists; nothing is written on an error.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pilotfish.ca.errors import CaStateError
from pilotfish.ca.storage import CA_SECRET_NAMES, material_from_secret
from pilotfish.config.kinds import kube_resource
from pilotfish.config.objects import Diagnostic
from pilotfish.config.server_meta import latest_version, stamp
from pilotfish.config.yaml_text import dump_yaml
from pilotfish.registry.inputs import parse_documents
from pilotfish.state_files import STORE_FILE, write_atomically

ROOT_NAMESPACE = "istio-system"  # the mesh's root namespace until a mesh config says otherwise
NOTE = "note: no mesh is running from {}: stored for the next `pilotfish install` or `up`"


def _error(text: str) -> int:
    print(f"error: {text}", file=sys.stderr)
    return 1


def _same(raw: dict[str, Any], kind: str, name: str, namespace: str | None) -> bool:
    meta = raw.get("metadata") or {}
    if raw.get("kind") != kind or meta.get("name") != name:
        return False
    return namespace is None or (meta.get("namespace") or "default") == namespace


def _ca_problems(document: dict[str, Any]) -> list[str]:
    """Why the document, a CA Secret of the root namespace, cannot sign ([] if it can or is
    no CA Secret)."""
    _, parsed = parse_documents([("<create>", json.dumps(document))])
    problems = []
    for secret in parsed.manifest.secrets:
        if secret.namespace == ROOT_NAMESPACE and secret.name in CA_SECRET_NAMES:
            try:
                material_from_secret(secret.namespace, secret.name, dict(secret.data))
            except CaStateError as exc:  # in the words `apply` uses
                where = f"{secret.namespace}/{secret.name}"
                problem = Diagnostic("error", f"not a usable CA: {exc}", "data", kind="Secret")
                problems.append(str(replace(problem, name=where)))
    return problems


def create_offline(state_dir: Path, document: dict[str, Any], plural: str) -> int:
    """Store `document` (a Namespace or a Secret) for the next start; kubectl's lines."""
    path = state_dir / STORE_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    raws, stored = parse_documents([(str(path), text)] if text else [])
    if not stored.ok:
        return _error(f"{path} does not load: " + "; ".join(map(str, stored.diagnostics)))
    kind, meta = str(document["kind"]), document["metadata"]
    name, namespace = str(meta["name"]), meta.get("namespace")
    if any(_same(raw, kind, name, namespace) for raw in raws):
        print(
            f'Error from server (AlreadyExists): {plural} "{name}" already exists',
            file=sys.stderr,
        )
        return 1
    _, incoming = parse_documents([(f"<create {kind.lower()}>", json.dumps(document))])
    problems = [str(d) for d in incoming.diagnostics if d.level == "error"]
    problems += _ca_problems(document)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return _error("rejected: nothing was changed")
    stamp(document, None, time.time(), latest_version(raws) + 1)  # as the API server
    if text and not text.endswith("\n"):
        text += "\n"
    state_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text + ("---\n" if text else "") + dump_yaml([document]))
    group = str(document.get("apiVersion", "")).rpartition("/")[0]
    print(f"{kube_resource(group, kind)}/{name} created")
    print(NOTE.format(state_dir), file=sys.stderr)
    return 0
