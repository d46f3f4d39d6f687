"""`UserError`: a mistake, or a state of the mesh, the user can fix. `pilotfish.cli.main` catches it
once and prints `error: <message>` (exit code 1, never a traceback).

Also the two ways every command reaches a running mesh, with their failures turned into
`UserError`: `running_mesh(state_dir)` (its `run/mesh.json`) and `mesh_call(...)` (its API).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pilotfish.local.client import ApiError, MeshNotRunning, call, owner_token, read_mesh


class UserError(Exception):
    """Printed as `error: <message>`; the command exits with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def running_mesh(state_dir: Path) -> dict[str, Any]:
    """The running mesh's `run/mesh.json`; UserError when no mesh runs from `state_dir`."""
    try:
        return read_mesh(state_dir)
    except MeshNotRunning as exc:
        raise UserError(str(exc)) from None


def mesh_call(
    info: dict[str, Any], method: str, path: str, body: Any = None, timeout: float = 30
) -> tuple[int, Any]:
    """One call to the mesh's control plane API, with the owner's token when this user can read
    it (writes need it; Secrets show their values only with it); UserError when unreachable."""
    token = owner_token(Path(str(info["state_dir"]))) if info.get("state_dir") else None
    try:
        return call(str(info["api"]), method, path, body, timeout=timeout, token=token)
    except ApiError as exc:
        raise UserError(str(exc)) from None
