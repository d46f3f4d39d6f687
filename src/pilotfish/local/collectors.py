"""The trace collectors a local mesh runs (`pilotfish.ui.collector`, one process per port):
one on each port a tracing provider of the mesh needs (`telemetry.tracing.collector_ports`:
HTTP, or OTLP over gRPC with `--grpc`),
on the control plane's address, storing into `<state>/traces.sqlite`. They keep running until
the mesh stops; one that died is started again at the next reconcile.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from pilotfish.agent.processes import spawn, terminate
from pilotfish.registry.manifest import Manifest
from pilotfish.telemetry.tracing import collector_ports

log = logging.getLogger("pilotfish.up")


class TraceCollectors:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self.grpc: dict[int, bool] = {}  # port -> OTLP over gRPC there (no query API)

    async def ensure(self, manifest: Manifest, address: str) -> None:
        """A running collector on each port the manifest's tracing providers need."""
        hosts = {s.hostname for s in manifest.services}
        for port, grpc in collector_ports(manifest.telemetry.providers, hosts):
            process = self.processes.get(port)
            if process is not None and process.returncode is None:
                continue
            argv = [
                sys.executable, "-m", "pilotfish.ui.collector",
                "--address", address,
                "--port", str(port),
                "--db", str(self.state_dir / "traces.sqlite"),
                *(["--grpc"] if grpc else []),
            ]  # fmt: skip
            self.grpc[port] = grpc
            log_path = self.state_dir / "logs" / "collector.log"
            self.processes[port] = await spawn(argv, os.environ, log_path)
            log.info("trace collector on %s:%d", address, port)

    def urls(self, address: str) -> list[str]:
        """The running collectors with the Zipkin API (mesh.json's `trace_collectors`)."""
        return [
            f"http://{address}:{port}"
            for port, process in sorted(self.processes.items())
            if process.returncode is None and not self.grpc.get(port)
        ]

    async def stop(self) -> None:
        for process in self.processes.values():
            await terminate(process)
