"""Bookinfo details service (v1): the book's bibliographic facts, as JSON.

Owns: `GET /details/<id>` (the same JSON fields as Istio's details app: id, author, year, type,
pages, publisher, language, ISBN-10, ISBN-13) and `GET /health`. Serves on $HOST:$PORT.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "common"))

from sample_server import Request, Response, json_response, serve


def book_details(product_id: int) -> dict[str, object]:
    return {
        "id": product_id,
        "author": "William Shakespeare",
        "year": 1595,
        "type": "paperback",
        "pages": 200,
        "publisher": "PublisherA",
        "language": "English",
        "ISBN-10": "1234567890",
        "ISBN-13": "123-1234567890",
    }


def route(request: Request) -> Response:
    parts = request.path.strip("/").split("/")
    if request.method not in ("GET", "HEAD"):
        return json_response({"error": "method not allowed"}, 405)
    if parts == ["health"]:
        return json_response({"status": "Details is healthy"})
    if len(parts) == 2 and parts[0] == "details":
        if not parts[1].lstrip("-").isdigit():
            return json_response({"error": "please provide numeric product id"}, 400)
        return json_response(book_details(int(parts[1])))
    return json_response({"error": "not found"}, 404)


if __name__ == "__main__":
    serve(route, default_port=9080)
