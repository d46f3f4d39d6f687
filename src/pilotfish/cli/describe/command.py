"""`pilotfish describe pod|service NAME`: reads the running mesh (config, registry, sync status)
from its control plane API and prints `describe_report`, and for a pod whose probes failed,
kubectl's Events table of them (`kube_cluster_views.describe_events`). The only I/O of the
package."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pilotfish.cli.describe.mesh_view import mesh_view
from pilotfish.cli.describe.report import POD_KINDS, describe_report, find_pod
from pilotfish.cli.errors import UserError, mesh_call, running_mesh
from pilotfish.cli.kube_cluster_views import describe_events


def _get(info: dict[str, Any], path: str) -> Any:
    status, body = mesh_call(info, "GET", path)
    if status != 200:
        raise UserError(f"GET {path}: HTTP {status}")
    return body


def describe_command(kind: str, name: str, namespace: str | None, state_dir: Path) -> int:
    info = running_mesh(state_dir)
    documents = (_get(info, "/api/v1/config") or {}).get("documents") or []
    view = mesh_view(
        documents,
        _get(info, "/debug/registryz"),
        _get(info, "/debug/syncz"),
        str(info.get("ingress_address") or ""),
    )
    lines, code = describe_report(view, kind.lower(), name, namespace)
    pod = find_pod(view, name, namespace) if code == 0 and kind.lower() in POD_KINDS else None
    if pod is not None:  # kubectl's part: the kubelet's probe events, when it has some
        lines += describe_events(info, pod.namespace, pod.name)
    print("\n".join(lines), file=sys.stdout if code == 0 else sys.stderr)
    return code
