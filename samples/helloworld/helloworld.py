"""helloworld for pilotfish: Istio's helloworld sample app (`GET /hello`).

Answers `Hello version: v1, instance: helloworld-v1-0` — the version from $SERVICE_VERSION, the
instance from $POD_NAME — as Istio's image does, so its traffic-shifting steps read the same.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from sample_server import Request, Response, pod_name, serve, text_response


def route(request: Request) -> Response:
    if request.path == "/hello":
        version = os.environ.get("SERVICE_VERSION", "v1")
        return text_response(f"Hello version: {version}, instance: {pod_name()}\n")
    if request.path == "/health":
        return text_response("Helloworld is healthy\n")
    return text_response("not found\n", 404)


if __name__ == "__main__":
    serve(route, default_port=5000)
