"""Entry point of the control-plane process: `python -m pilotfish.controlplane`.

Serves xDS (gRPC, Istio's 15010) and the HTTP API + debug endpoints (Istio's 15014) on one
address; reads and writes the state directory. SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from pilotfish.controlplane.api import Api
from pilotfish.controlplane.core import ControlPlane
from pilotfish.xds.server import XdsServer

log = logging.getLogger("pilotfish.controlplane")


async def serve(state_dir: Path, address: str, xds_port: int, http_port: int) -> None:
    cp = ControlPlane(state_dir)
    for problem in cp.load_state():
        log.warning("state: %s", problem)
    metrics = CollectorRegistry()
    xds = XdsServer(cp.snapshot_for_node, registry=metrics)
    cp.connected = xds.connected
    bound = await xds.start(f"{address}:{xds_port}")
    api = Api(cp, xds, metrics)
    pusher = asyncio.create_task(api.push_registry_changes())
    runner = web.AppRunner(api.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, address, http_port, reuse_address=True)
    await site.start()
    log.info("control plane serving xDS on %s:%d, API on %s:%d", address, bound, address, http_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("control plane stopping")
    pusher.cancel()
    await runner.cleanup()
    await xds.stop(grace=0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pilotfish-controlplane")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--xds-port", type=int, default=15010)
    parser.add_argument("--http-port", type=int, default=15014)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(serve(args.state_dir, args.address, args.xds_port, args.http_port))
    except OSError as exc:
        log.error("cannot serve: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
