"""What `pilotfish analyze` reads from the running local mesh (`--use-mesh`, or no file given
while a mesh runs), pilotfish's stand-in for istioctl's live cluster: its stored documents
(`GET /api/v1/config`, files given overriding objects of the same kind/namespace/name) and its
registry (`GET /debug/registryz`), and whether a namespace `-n` names exists there (istioctl
says `namespace "foo" not found` and analyzes nothing when it does not)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pilotfish.config import LoadResult
from pilotfish.config.analyzers.inventory import Inventory


def _read_mesh(state_dir: Path) -> tuple[list[Any], Any]:
    """The running mesh's stored documents and registry; UserError when it cannot be read."""
    from pilotfish.cli.errors import UserError, mesh_call, running_mesh

    info = running_mesh(state_dir)
    status, config = mesh_call(info, "GET", "/api/v1/config")
    if status != 200 or not isinstance(config, dict):
        raise UserError(f"GET /api/v1/config: HTTP {status}")
    status, registry = mesh_call(info, "GET", "/debug/registryz")
    if status != 200:
        raise UserError(f"GET /debug/registryz: HTTP {status}")
    return list(config.get("documents") or []), registry


def mesh_running(state_dir: Path | None) -> bool:
    from pilotfish.local.client import MeshNotRunning, default_state_dir, read_mesh

    try:
        read_mesh(state_dir or default_state_dir())
    except MeshNotRunning:
        return False
    return True


def read_mesh_inputs(state_dir: Path | None, files: LoadResult) -> tuple[LoadResult, Inventory]:
    """The mesh's documents with `files` over them, and the mesh's registry."""
    from pilotfish.config.analyzers.inventory import inventory_from_registryz
    from pilotfish.config.analyzers.mesh import combine
    from pilotfish.local.client import default_state_dir

    documents, registry = _read_mesh(state_dir or default_state_dir())
    return combine(documents, files), inventory_from_registryz(registry)


def namespace_exists(state_dir: Path | None, name: str) -> bool:
    """Whether the running mesh has namespace `name`, as `kubectl get namespaces` lists them."""
    from pilotfish.cli.errors import running_mesh
    from pilotfish.cli.kube_get import objects
    from pilotfish.local.client import default_state_dir

    info = running_mesh(state_dir or default_state_dir())
    return any((ns.get("metadata") or {}).get("name") == name for ns in objects("ns", info))
