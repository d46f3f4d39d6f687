"""Bookinfo ratings service: the stars each reviewer gave, as JSON.

Owns: `GET /ratings/<id>` → `{"id": <id>, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}` (Istio's
ratings app's answer) and `GET /health`. Serves on $HOST:$PORT.

v2 (`SERVICE_VERSION=v2`, Istio's `examples-bookinfo-ratings-v2` image) reads the ratings from
its database at `MONGO_DB_URL` (`mongodb://mongodb:27017/test`), a new TCP connection per
request as Istio's app makes one, and answers 500 `could not connect to ratings database` when
it cannot. It finds the database's host the Kubernetes way, from `<HOST>_SERVICE_HOST` and
`<HOST>_SERVICE_PORT` (the agent points them at this pod's sidecar), so the connection is the
mesh's TCP traffic (Istio's "Collecting Metrics for TCP Services"). A database applied after
this pod started (as that task does) is not in its environment: it is then the URL's port on
this pod's sidecar (its HTTP_PROXY host), where the sidecar listens for that TCP service port
unless the port is taken. `DB_TYPE=mysql` is not here: no MySQL image runs in local mode.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "common"))

from sample_server import Request, Response, json_response, serve

RATINGS = {"Reviewer1": 5, "Reviewer2": 4}


def _from_database(url: str) -> dict[str, int]:
    """The first two documents' `rating` of `<db>.ratings` (0 when missing, as Istio's app)."""
    parts = urlsplit(url)
    name = (parts.hostname or "").split(".")[0].upper().replace("-", "_")
    sidecar = urlsplit(os.environ.get("HTTP_PROXY", "")).hostname
    host = os.environ.get(f"{name}_SERVICE_HOST") or sidecar or parts.hostname or ""
    port = int(os.environ.get(f"{name}_SERVICE_PORT") or parts.port or 27017)
    database = parts.path.strip("/") or "test"
    with socket.create_connection((host, port), timeout=5) as conn:
        conn.sendall(f"find {database}.ratings\n".encode())
        reply = json.loads(conn.makefile("rb").readline() or b"{}")
    documents = [*reply.get("documents", []), {}, {}]
    return {
        "Reviewer1": int(documents[0].get("rating", 0)),
        "Reviewer2": int(documents[1].get("rating", 0)),
    }


def route(request: Request) -> Response:
    parts = request.path.strip("/").split("/")
    if request.method not in ("GET", "HEAD"):
        return json_response({"error": "method not allowed"}, 405)
    if parts == ["health"]:
        return json_response({"status": "Ratings is healthy"})
    if len(parts) == 2 and parts[0] == "ratings":
        if not parts[1].lstrip("-").isdigit():
            return json_response({"error": "please provide numeric product ID"}, 400)
        ratings = dict(RATINGS)
        url = os.environ.get("MONGO_DB_URL", "")
        if os.environ.get("SERVICE_VERSION") == "v2" and url:
            try:
                ratings = _from_database(url)
            except (OSError, ValueError):
                return json_response({"error": "could not connect to ratings database"}, 500)
        return json_response({"id": int(parts[1]), "ratings": ratings})
    return json_response({"error": "not found"}, 404)


if __name__ == "__main__":
    serve(route, default_port=9080)
