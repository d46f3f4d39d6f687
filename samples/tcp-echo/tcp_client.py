"""A client of tcp-echo inside the mesh: `GET /echo?msg=hi` sends `hi` to tcp-echo over TCP and
answers with the reply. It finds tcp-echo the Kubernetes way, from `TCP_ECHO_SERVICE_HOST` and
`TCP_ECHO_SERVICE_PORT`, which the agent points at this pod's sidecar (its outbound TCP listener
for tcp-echo:9000), so every connection goes through the mesh's TCP routing.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from sample_server import Request, Response, serve, text_response


def route(request: Request) -> Response:
    if request.path != "/echo":
        return text_response("tcp-client\n")
    message = request.query.get("msg", ["hello"])[0]
    host = os.environ.get("TCP_ECHO_SERVICE_HOST", "")
    port = int(os.environ.get("TCP_ECHO_SERVICE_PORT", "0") or 0)
    if not host or not port:
        return text_response("no TCP_ECHO_SERVICE_HOST/PORT in the environment\n", status=500)
    try:
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.sendall(message.encode() + b"\n")
            reply = conn.makefile("rb").readline().decode()
    except OSError as exc:
        return text_response(f"connection failed: {exc}\n", status=502)
    return text_response(reply or "(connection closed)\n", status=200 if reply else 502)


if __name__ == "__main__":
    serve(route, default_port=8080)
