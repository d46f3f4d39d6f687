"""`pilotfish describe pod|service NAME`: reads the running mesh (config, registry, sync status)
from its control plane API and prints `describe_report`. The only I/O of the package."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pilotfish.cli.describe.mesh_view import mesh_view
from pilotfish.cli.describe.report import describe_report
from pilotfish.local.client import ApiError, MeshNotRunning, call, read_mesh


def _get(api: str, path: str) -> Any:
    status, body = call(api, "GET", path)
    if status != 200:
        raise ApiError(f"GET {path}: HTTP {status}")
    return body


def describe_command(kind: str, name: str, namespace: str | None, state_dir: Path) -> int:
    try:
        info = read_mesh(state_dir)
        api = str(info["api"])
        documents = (_get(api, "/api/v1/config") or {}).get("documents") or []
        view = mesh_view(
            documents,
            _get(api, "/debug/registryz"),
            _get(api, "/debug/syncz"),
            str(info.get("ingress_address") or ""),
        )
    except (MeshNotRunning, ApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    lines, code = describe_report(view, kind.lower(), name, namespace)
    print("\n".join(lines), file=sys.stdout if code == 0 else sys.stderr)
    return code
