"""Loopback bridges to isolated pods' Envoy admins. A captured pod's admin listens on the pod's
own `localhost:15000` (Istio's), out of reach from the host, where `pilotfish proxy-config`,
`x authz check` and `dashboard envoy` run. For each such pod the launcher listens on a loopback
address of the mesh's block, `127.A.x.y:15000` for the pod `10.A.x.y` (what the non-isolated
mode would give it), and forwards each connection to the pod's `127.0.0.1:15000`, opened inside
its namespace (`capture.netns.connect_in`) — the local counterpart of `kubectl port-forward`.

Other pods cannot reach it: each pod has its own loopback. `run/mesh.json` gives it as a
proxy's `admin` address (`pilotfish.cli.pods.admin_address` reads it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from pilotfish.agent.ports import ADMIN_PORT
from pilotfish.capture.netns import connect_in

log = logging.getLogger("pilotfish.up")

CHUNK = 64 * 1024


def bridge_address(pod_ip: str) -> str:
    """`127.A.x.y` for the pod `10.A.x.y`."""
    return "127." + pod_ip.split(".", 1)[1]


@dataclass
class AdminBridge:
    netns: str
    pod_ip: str
    server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"{bridge_address(self.pod_ip)}:{ADMIN_PORT}"

    async def start(self) -> None:
        try:
            self.server = await asyncio.start_server(
                self._forward, bridge_address(self.pod_ip), ADMIN_PORT, reuse_address=True
            )
        except OSError as exc:  # the pod works without it; only the host's view is missing
            log.error("%s: no admin bridge on %s: %s", self.netns, self.address, exc)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(OSError):
                await self.server.wait_closed()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            sock = await asyncio.to_thread(connect_in, self.netns, "127.0.0.1", ADMIN_PORT)
            sock.setblocking(False)
            up_reader, up_writer = await asyncio.open_connection(sock=sock)
        except OSError as exc:
            log.debug("%s: admin bridge: %s", self.netns, exc)
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        for each in (writer, up_writer):
            each.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of file, then half-close the other side."""
    with contextlib.suppress(OSError, RuntimeError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
