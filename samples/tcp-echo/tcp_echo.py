"""tcp-echo for pilotfish, after Istio's sample: a TCP server that answers every line it reads
with `<prefix> <line>` (`one hello`), so a client sees which version served it.

Usage: `python tcp_echo.py PREFIX`, or Istio's server's `PORTS PREFIX` (`9000,9001,9002 hello`).
Listens at `$HOST` on every `PORT_<n>` the agent sets (one per container port; `PORT` alone
otherwise, default the first port listed, else 9000). In a pod of its own network (the isolated
mode: `HOST` 0.0.0.0) it also listens on the listed ports no container port declares, as
Istio's server does (Istio's tcp-echo.yaml lists 9002 and declares only 9000 and 9001: its
"TCP Traffic" authorization task reaches 9002 at the pod's IP, through the sidecar's
passthrough chain); sharing the host's network, such ports would collide between pods and no
sidecar listens for them at the pod's address, so they are left out. Stops on SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socketserver
import sys
import threading
from types import FrameType


class _Echo(socketserver.StreamRequestHandler):
    prefix = "one"

    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(f"{self.prefix} {line.decode(errors='replace').strip()}\n".encode())
            self.wfile.flush()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    args = sys.argv[1:]
    listed: list[int] = []
    if len(args) > 1:  # Istio's tcp-echo-server form: PORTS PREFIX ("9000,9001,9002 hello")
        listed = [int(p) for p in args[0].split(",") if p.strip().isdigit()]
        args = args[1:]
    _Echo.prefix = args[0] if args else "one"
    host = os.environ.get("HOST", "127.0.0.1")
    ports = [int(v) for k, v in os.environ.items() if k.startswith("PORT_")]
    ports = ports or [int(os.environ.get("PORT") or (listed or [9000])[0])]
    declared = {int(k[len("PORT_") :]) for k in os.environ if k[len("PORT_") :].isdigit()}
    if host == "0.0.0.0":  # its own network namespace: the undeclared listed ports too
        ports += [p for p in listed if p not in declared and p not in ports]
    servers = [_Server((host, port), _Echo) for port in ports]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(f"listening on {host}:{server.server_address[1]}", flush=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()


if __name__ == "__main__":
    main()
