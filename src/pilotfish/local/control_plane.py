"""The control plane as `pilotfish up` runs it: a child process on the mesh's own address, and
the launcher's client for its API (called with the owner's token, `<state>/admin-token`).

It also reads the control plane's sync status (`/debug/syncz`): which proxies have ACKed the
newest version of every type, and whether the newest instance report has been applied.
Plug-in CA files in `<state>/cacerts/` are handed to the control plane.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from pilotfish.agent.processes import spawn, terminate
from pilotfish.local import MeshError
from pilotfish.local.client import control_plane_log
from pilotfish.local.network import (
    CP_CONTROLZ_PORT,
    CP_HTTP_PORT,
    CP_TLS_PORT,
    CP_XDS_PORT,
    MeshNetwork,
)
from pilotfish.state_files import read_admin_token

CONTROL_PLANE_READY_SECONDS = 60  # generous: a loaded 2-core machine takes over 20 s


class ControlPlaneProcess:
    """One control plane child process and an HTTP session to its API."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.address = ""  # set by `start`, from the mesh's network
        self.process: asyncio.subprocess.Process | None = None
        self.created = 0.0  # wall clock of the last start
        self.http: aiohttp.ClientSession | None = None

    @property
    def api(self) -> str:
        return f"http://{self.address}:{CP_HTTP_PORT}"

    @property
    def xds(self) -> str:
        return f"{self.address}:{CP_XDS_PORT}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def log_path(self) -> Path:
        return control_plane_log(self.state_dir)

    async def start(self, network: MeshNetwork) -> None:
        """Start (or restart) the process on the mesh's address and wait until it answers
        `/ready`; an isolated mesh's control plane gives services cluster IPs."""
        self.address = address = network.control_plane_ip
        if self.http is None:
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        argv = [
            sys.executable, "-m", "pilotfish.controlplane",
            "--state-dir", str(self.state_dir),
            "--address", address,
            "--xds-port", str(CP_XDS_PORT),
            "--http-port", str(CP_HTTP_PORT),
            "--tls-port", str(CP_TLS_PORT),
            "--ctrlz-port", str(CP_CONTROLZ_PORT),
        ]  # fmt: skip
        argv += ["--service-cidr", network.service_cidr] if network.service_cidr else []
        cacerts = self.state_dir / "cacerts"
        if cacerts.is_dir():
            argv += ["--cacerts", str(cacerts)]
        self.created = time.time()
        self.process = process = await spawn(argv, os.environ, self.log_path)
        deadline = time.monotonic() + CONTROL_PLANE_READY_SECONDS
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise MeshError(
                    f"the control plane exited: {_last_error(self.log_path)}; see {self.log_path}"
                )
            try:
                status, _ = await self.call("GET", "/ready")
                if status == 200:
                    return
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.05)
        raise MeshError(
            f"the control plane did not become ready in {CONTROL_PLANE_READY_SECONDS} s"
        )

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self.http is not None
        token = read_admin_token(self.state_dir)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, self.api + path, json=body, headers=headers) as resp:
            return resp.status, await resp.json(content_type=None)

    async def synced_nodes(self, registry_generation: int) -> set[str] | None:
        """The node ids that have ACKed the newest version of every type, or None while the
        control plane has not applied instance report `registry_generation` yet. A proxy that
        rejected its config (and has not ACKed since) is a `MeshError` naming it."""
        status, body = await self.call("GET", "/debug/syncz")
        if status != 200 or body.get("registry_applied", 0) < registry_generation:
            return None
        synced = set()
        for row in body["proxies"]:
            if _synced(row):
                synced.add(row["node_id"])
            nacks = [t["last_nack"] for t in row["types"] if t.get("last_nack")]
            if nacks and row["node_id"] not in synced:
                name = row["node_id"].split("~")[2]
                raise MeshError(f"{name} rejected its config: {nacks[-1]['error_message']}")
        return synced

    async def wait_synced(self, registry_generation: int, deadline: float) -> None:
        """Until the control plane has pushed instance report `registry_generation` and every
        proxy has ACKed what it holds (or the deadline)."""
        while time.monotonic() < deadline:
            status, body = await self.call("GET", "/debug/syncz")
            if (
                status == 200
                and body.get("registry_applied", 0) >= registry_generation
                and all(_synced(row) for row in body["proxies"])
            ):
                return
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.process is not None:
            await terminate(self.process)
        if self.http is not None:
            await self.http.close()


def _synced(row: dict[str, Any]) -> bool:
    """A /debug/syncz row whose proxy has ACKed the newest version of every type."""
    acked = {t["type_url"]: t["acked_version"] for t in row["types"]}
    return all(acked.get(t) == v for t, v in row["latest"].items())


def _last_error(log_path: Path) -> str:
    """The control plane's last ERROR line (e.g. why it refused to start)."""
    try:
        lines = log_path.read_text().splitlines()
    except OSError:
        return "no log"
    errors = [line.split(": ", 1)[-1] for line in lines if " ERROR " in line]
    return errors[-1] if errors else "no error logged"
