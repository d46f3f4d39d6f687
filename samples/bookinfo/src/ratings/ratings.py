"""Bookinfo ratings service (v1): the stars each reviewer gave, as JSON.

Owns: `GET /ratings/<id>` → `{"id": <id>, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}` (Istio's
ratings app's answer) and `GET /health`. Serves on $HOST:$PORT.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "common"))

from sample_server import Request, Response, json_response, serve

RATINGS = {"Reviewer1": 5, "Reviewer2": 4}


def route(request: Request) -> Response:
    parts = request.path.strip("/").split("/")
    if request.method not in ("GET", "HEAD"):
        return json_response({"error": "method not allowed"}, 405)
    if parts == ["health"]:
        return json_response({"status": "Ratings is healthy"})
    if len(parts) == 2 and parts[0] == "ratings":
        if not parts[1].lstrip("-").isdigit():
            return json_response({"error": "please provide numeric product ID"}, 400)
        return json_response({"id": int(parts[1]), "ratings": dict(RATINGS)})
    return json_response({"error": "not found"}, 404)


if __name__ == "__main__":
    serve(route, default_port=9080)
