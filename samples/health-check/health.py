"""The health-check sample for pilotfish: Istio's `registry.istio.io/release/health:example`
image (Istio's `samples/health-check/server.go`), which `liveness-http-same-port.yaml` runs for
the "Health Checking of Istio Services" task, so that file applies unchanged.

Two HTTP servers, on ports 8001 and 8002, each answering `GET /foo` and `GET /bar` with
`Listening on PORT: foo ` (or `bar `, the trailing space as the original writes it); any
other path is 404. A port the agent maps (`PORT_8001`) is served at the agent's port, on
`$HOST`; a port it does not map is served as is, on the pod's own address (`INSTANCE_IP`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from sample_server import Request, Response, make_server, serve_until_signalled, text_response

PORTS = (8001, 8002)


def route_for(port: int) -> Callable[[Request], Response]:
    def route(request: Request) -> Response:
        if request.path in ("/foo", "/bar"):
            return text_response(f"Listening on {port}: {request.path[1:]} ")
        return text_response("404 page not found\n", 404)

    return route


def main() -> None:
    host = os.environ.get("HOST", "0.0.0.0")
    own = os.environ.get("INSTANCE_IP", host)  # the pod's address, for ports no agent maps
    servers = [
        make_server(route_for(p), host, int(mapped), quiet=True)
        if (mapped := os.environ.get(f"PORT_{p}"))
        else make_server(route_for(p), own if host == "127.0.0.1" else host, p, quiet=True)
        for p in PORTS
    ]
    serve_until_signalled(servers, lambda: None)


if __name__ == "__main__":
    main()
