"""Talking to a running local mesh: find it from the state directory, call its API.

A running `pilotfish up` writes `<state-dir>/run/mesh.json`; every other command reads it.
The state directory is `--state-dir`, else $PILOTFISH_HOME, else ~/.pilotfish.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pilotfish.state_files import read_admin_token


class MeshNotRunning(Exception):
    """No mesh is running from this state directory."""


class ApiError(Exception):
    """The control plane could not be reached or answered with an error."""


def default_state_dir() -> Path:
    home = os.environ.get("PILOTFISH_HOME")
    return Path(home) if home else Path.home() / ".pilotfish"


def mesh_file(state_dir: Path) -> Path:
    return state_dir / "run" / "mesh.json"


def pid_alive(pid: int) -> bool:
    """True if `pid` is a live process: a killed one not yet reaped (a zombie) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # /proc/PID/stat: "pid (comm) state ..."; comm may hold spaces and parentheses
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def read_mesh(state_dir: Path) -> dict[str, Any]:
    path = mesh_file(state_dir)
    try:
        info: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        raise MeshNotRunning(
            f"no mesh is running from {state_dir} (start one with `pilotfish up DIR`)"
        ) from None
    if not pid_alive(int(info.get("pid", 0))):
        raise MeshNotRunning(
            f"the mesh in {state_dir} is not running (pid {info.get('pid')} is gone)"
        )
    return info


def owner_token(state_dir: Path) -> str | None:
    """The mesh owner's API token (`<state>/admin-token`), or None if it cannot be read."""
    return read_admin_token(state_dir)


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(
    api: str,
    method: str,
    path: str,
    body: Any = None,
    timeout: float = 30,
    token: str | None = None,
) -> tuple[int, Any]:
    """Call the control plane's API; `token` (the owner's, `owner_token`) for writes."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(api + path, data=data, method=method, headers=headers)
    try:
        with _DIRECT.open(request, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"null")
        except ValueError:
            raise ApiError(f"{method} {path}: HTTP {err.code}") from None
    except (OSError, ValueError) as exc:
        raise ApiError(f"cannot reach the control plane at {api}: {exc}") from None
