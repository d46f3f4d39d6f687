"""`pilotfish dashboard KIND … --address ADDR [-p PORT]`: istioctl's port-forward in front of a
dashboard, for a user who asks for one (to reach it from another host, or on a port of their
own): listen on ADDR:PORT, pipe each connection to the dashboard's real address, print
istioctl's URL (`http://ADDR:PORT`, with the view's path when it has one), open it unless
`--browser=false` (then istioctl's `skipping opening a browser`), and run until interrupted.

Without `--address`/`--port` nothing is forwarded: every dashboard already has its own address
on this machine, which `dashboard_command` prints. PORT 0 is a free port; without `-p`,
istioctl's preference: the dashboard's own port, else a free one.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import urllib.parse
import webbrowser

from pilotfish.cli.port_forward import _pipe


def _bind_host(address: str) -> str:
    return "127.0.0.1" if address == "localhost" else address


async def _serve(address: str, ports: list[int], target: tuple[str, int]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        for w in (writer, up_writer):
            w.close()
            with contextlib.suppress(OSError):
                await w.wait_closed()

    error: OSError | None = None
    for port in ports:
        try:
            return await asyncio.start_server(handle, _bind_host(address), port)
        except OSError as exc:
            error = exc
    raise error or OSError("no port to listen on")


def forward(url: str, address: str, port: int | None, browser: bool) -> int:
    """Forward ADDR:PORT to the dashboard at `url` until SIGINT/SIGTERM (exit 0)."""
    parts = urllib.parse.urlsplit(url)
    target = (parts.hostname or "127.0.0.1", parts.port or 80)
    ports = [port] if port else [target[1], 0]

    async def run() -> int:
        try:
            server = await _serve(address, ports, target)
        except OSError as exc:
            print(
                f"Error: failure running port forward process: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 1
        bound = server.sockets[0].getsockname()[1]
        path = parts.path if parts.path not in ("", "/") else ""
        query = f"?{parts.query}" if parts.query else ""
        shown = f"http://{address}:{bound}{path}{query}"
        print(shown, flush=True)
        if browser:
            webbrowser.open(shown)
        else:
            print("skipping opening a browser", end="", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with server:
            await stop.wait()
        return 0

    return asyncio.run(run())
