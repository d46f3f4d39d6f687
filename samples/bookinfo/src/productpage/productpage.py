"""Bookinfo product page: the front end that calls details and reviews, as Istio's productpage.

Owns the routes:
- `GET /productpage`: the book, its details and its reviews (HTML, always 200; a failed call is
  shown as "Error fetching product details!" / "Error fetching product reviews!").
- `POST /login` (form `username`, `passwd`): sets the `session` cookie to the user and redirects
  to /productpage; `GET /logout` clears it. There is no password check, as in Istio's sample.
- `GET /`, `/index.html`, `/health`, `/static/<file>`.
- `GET /api/v1/products`, `/api/v1/products/<id>`, `/api/v1/products/<id>/reviews`,
  `/api/v1/products/<id>/ratings` (JSON; the upstream status, or 500 when there was none).

Calls `http://details:9080`, `http://reviews:9080`, `http://ratings:9080` (overridable with
`<NAME>_HOSTNAME`, `<NAME>_SERVICE_PORT`, `SERVICES_DOMAIN`) through $HTTP_PROXY when set,
forwarding the tracing and user headers, plus `end-user: <user>` when signed in. Each call times
out after 3 s; reviews is tried twice, as Istio's app does (its fault-injection tasks rely on it).
"""

from __future__ import annotations

import mimetypes
import sys
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "common"))

import pages
from sample_server import (
    PROPAGATED_HEADERS,
    Request,
    Response,
    html_response,
    http_get,
    json_response,
    pick_headers,
    redirect,
    serve,
    service_url,
    text_response,
)

UPSTREAM_TIMEOUT_SECONDS = 3.0
REVIEWS_ATTEMPTS = 2
SESSION_COOKIE = "session"
STATIC_DIR = Path(__file__).resolve().parent / "static"
DETAILS_UNAVAILABLE = "Sorry, product details are currently unavailable for this book."
REVIEWS_UNAVAILABLE = "Sorry, product reviews are currently unavailable for this book."
RATINGS_UNAVAILABLE = "Sorry, product ratings are currently unavailable for this book."

PRODUCTS: list[dict[str, Any]] = [
    {
        "id": 0,
        "title": "The Comedy of Errors",
        "descriptionHtml": (
            '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: '
            "The Comedy of Errors is one of <b>William Shakespeare's</b> early plays. It is his "
            "shortest and one of his most farcical comedies, with a major part of the humour "
            "coming from slapstick and mistaken identity, in addition to puns and word play."
        ),
    }
]


def signed_in_user(request: Request) -> str:
    return urllib.parse.unquote(request.cookies.get(SESSION_COOKIE, ""))


def forward_headers(request: Request) -> dict[str, str]:
    headers = pick_headers(request, PROPAGATED_HEADERS)
    user = signed_in_user(request)
    if user:
        headers["end-user"] = user
    return headers


def call(service: str, product_id: str, headers: dict[str, str], error: str) -> tuple[int, Any]:
    """(200, JSON) from a GET of `service`; on failure the status seen (500 when there was no
    answer or no JSON) and `{"error": error}`."""
    attempts = REVIEWS_ATTEMPTS if service == "reviews" else 1
    status = 0
    for _ in range(attempts):
        reply = http_get(
            f"{service_url(service)}/{service}/{product_id}",
            headers,
            timeout=UPSTREAM_TIMEOUT_SECONDS,
        )
        status = reply.status
        document = reply.json() if status == 200 else None
        if document is not None:
            return 200, document
    return (status if status not in (0, 200) else 500), {"error": error}


def product_details(product_id: str, headers: dict[str, str]) -> tuple[int, Any]:
    return call("details", product_id, headers, DETAILS_UNAVAILABLE)


def product_reviews(product_id: str, headers: dict[str, str]) -> tuple[int, Any]:
    return call("reviews", product_id, headers, REVIEWS_UNAVAILABLE)


def product_ratings(product_id: str, headers: dict[str, str]) -> tuple[int, Any]:
    return call("ratings", product_id, headers, RATINGS_UNAVAILABLE)


def front(request: Request) -> Response:
    headers = forward_headers(request)
    details = product_details("0", headers)
    reviews = product_reviews("0", headers)
    return html_response(pages.product_page(PRODUCTS[0], signed_in_user(request), details, reviews))


def login(request: Request) -> Response:
    user = (request.form.get("username") or [""])[0].strip()
    if not user:
        return redirect("/productpage")
    cookie = f"{SESSION_COOKIE}={urllib.parse.quote(user, safe='')}; Path=/; HttpOnly"
    return redirect("/productpage", (("Set-Cookie", cookie),))


def logout(request: Request) -> Response:
    cookie = f"{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly"
    return redirect("/productpage", (("Set-Cookie", cookie),))


def static_file(name: str) -> Response:
    path = (STATIC_DIR / name).resolve()
    if not name or STATIC_DIR not in path.parents or not path.is_file():
        return text_response("not found\n", 404)
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Response(200, path.read_bytes(), content_type)


def api(parts: list[str], request: Request) -> Response:
    """`/api/v1/products[/<id>[/reviews|/ratings]]`; `parts` are the path segments after it."""
    if not parts:
        return json_response(PRODUCTS)
    headers = forward_headers(request)
    if len(parts) == 1:
        status, body = product_details(parts[0], headers)
    elif parts[1:] == ["reviews"]:
        status, body = product_reviews(parts[0], headers)
    elif parts[1:] == ["ratings"]:
        status, body = product_ratings(parts[0], headers)
    else:
        return json_response({"error": "not found"}, 404)
    return json_response(body, status)


def route(request: Request) -> Response:
    path = request.path
    if path == "/login":
        return login(request) if request.method == "POST" else text_response("", 405)
    if request.method not in ("GET", "HEAD"):
        return text_response("method not allowed\n", 405)
    if path == "/productpage":
        return front(request)
    if path == "/logout":
        return logout(request)
    if path in ("/", "/index.html"):
        services = [(name, service_url(name)) for name in ("details", "reviews", "ratings")]
        return html_response(pages.index_page(signed_in_user(request), services))
    if path == "/health":
        return text_response("Product page is healthy")
    if path.startswith("/static/"):
        return static_file(path.removeprefix("/static/"))
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "products"]:
        return api(parts[3:], request)
    return text_response("not found\n", 404)


if __name__ == "__main__":
    serve(route, default_port=9080)
