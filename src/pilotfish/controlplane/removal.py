"""istiod going with its namespace: `kubectl delete namespace istio-system` on a local mesh.

On Kubernetes, deleting `istio-system` deletes istiod's and the gateways' Deployments with
everything else in it: the gateways stop, istiod stops, and the sidecars lose their control
plane but keep running on the last configuration they received (and their certificates until
they expire). Here the control plane's process is also the mesh's API server, which kubectl's
commands keep talking to, so istiod's part of it stops instead: `POST
/api/v1/control-plane/remove` closes the gRPC server (xDS on 15010/15012 and the CA): Envoys
keep their config and retry, agents keep their certificates and retry. The manifest's version
moves and its reply says `serving: false`, so the launcher stops the istio-system gateways and
`get` stops listing istiod, its Service and the namespace. Istio's install brings them back
(`cli.reinstall`): the launcher starts a new control plane process (`POST
/api/v1/control-plane/restart` ends this one, which the launcher restarts).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from pilotfish.controlplane.core import ControlPlane
from pilotfish.xds.server import XdsServer

log = logging.getLogger("pilotfish.controlplane")


class Removal:
    """Whether istiod's part of the control plane serves; its two endpoints (writes: the owner's
    token, as every write)."""

    def __init__(self, cp: ControlPlane, xds: XdsServer, stop: asyncio.Event) -> None:
        self.cp = cp
        self.xds = xds
        self.stop = stop
        self.serving = True

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/v1/control-plane/remove", self.remove),
            web.post("/api/v1/control-plane/restart", self.restart),
        ]

    async def remove(self, request: web.Request) -> web.Response:
        if self.serving:
            self.serving = False
            log.warning("istio-system deleted: no longer serving xDS and the CA")
            await self.xds.stop(grace=0)
            self.cp.manifest_version += 1  # the launcher looks again: its gateways stop
        return web.json_response({"ok": True, "serving": False})

    async def restart(self, request: web.Request) -> web.Response:
        """End this process (the launcher starts a new control plane, serving again)."""
        asyncio.get_running_loop().call_later(0.1, self.stop.set)
        return web.json_response({"ok": True})
