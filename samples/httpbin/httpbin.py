"""httpbin for pilotfish: a standard-library subset of httpbin.org's API, for traffic tests.

Owns the routes (JSON shaped like httpbin's, headers as one dict of name → value):
`/` (index), `/get`, `/post`, `/put`, `/patch`, `/delete`, `/anything[/...]` (any method: echoes
method, args, headers, body, form, json, url), `/headers`, `/ip`, `/user-agent`,
`/status/<code>` (or `<code>,<code>` / `<code>:<weight>,...`: one picked at random),
`/delay/<seconds>` (at most 10), `/response-headers?name=value` (sets them on the answer).

Every answer carries `x-served-by: $POD_NAME`, so a test can see which instance served it.

Pilotfish addition, not in httpbin: `GET /stats/requests` answers `{"total": N, "paths":
{"/status/503": 3, ...}}`, the requests this process served per path (itself excluded), which is
how retry tests count attempts; `DELETE /stats/requests` answers the same and resets the counts.
With `$FAIL_STATUS` set (e.g. `503`), every other request is counted and answered with that
status, so one replica of a service can be made to fail (outlier detection tests).
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from sample_server import (
    Request,
    Response,
    Route,
    html_response,
    json_response,
    pod_name,
    serve,
    text_response,
)

MAX_DELAY_SECONDS = 10.0
BODY_METHODS = {
    "/get": "GET",
    "/post": "POST",
    "/put": "PUT",
    "/patch": "PATCH",
    "/delete": "DELETE",
}
ENDPOINTS = (
    ("/get", "the request's args, headers, origin and url"),
    ("/post, /put, /patch, /delete", "the same, plus data, form and json"),
    ("/anything", "any method: everything about the request"),
    ("/headers", "the request's headers"),
    ("/ip", "the caller's address"),
    ("/user-agent", "the User-Agent header"),
    ("/status/:code", "that status (a comma list: one at random)"),
    ("/delay/:n", "answers after n seconds (at most 10)"),
    ("/response-headers?k=v", "sets the given response headers"),
    ("/stats/requests", "pilotfish addition: requests served per path (DELETE resets)"),
)


class RequestCounter:
    """Requests served per path, safe across the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: dict[str, int] = {}

    def add(self, path: str) -> None:
        with self._lock:
            self._paths[path] = self._paths.get(path, 0) + 1

    def snapshot(self, reset: bool = False) -> dict[str, Any]:
        with self._lock:
            paths = dict(sorted(self._paths.items()))
            if reset:
                self._paths.clear()
        return {"total": sum(paths.values()), "paths": paths}


def header_dict(request: Request) -> dict[str, str]:
    """Headers as httpbin shows them: Title-Cased names, repeated values joined with ','."""
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key = "-".join(part.capitalize() for part in name.split("-"))
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


def origin(request: Request) -> str:
    forwarded = request.header("x-forwarded-for")
    return forwarded.split(",")[0].strip() if forwarded else request.client_ip


def url(request: Request) -> str:
    return f"http://{request.header('host') or 'httpbin'}{request.target}"


def args(request: Request) -> dict[str, str | list[str]]:
    return {k: v[0] if len(v) == 1 else v for k, v in request.query.items()}


def echo(request: Request, with_body: bool, with_method: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {"args": args(request)}
    if with_body:
        text = request.body.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        form = {k: v[0] if len(v) == 1 else v for k, v in request.form.items()}
        document.update({"data": "" if form else text, "files": {}, "form": form, "json": parsed})
    document.update({"headers": header_dict(request), "origin": origin(request)})
    if with_method:
        document["method"] = request.method
    document["url"] = url(request)
    return document


TEAPOT = """
    -=[ teapot ]=-

       _...._
     .'  _ _ `.
    | ."` ^ `". _,
    \\_;`"---"`|//
      |       ;/
      \\_     _/
        `\"\"\"`
"""


def pick_status(spec: str) -> int | None:
    """One code from `500`, `500,503` or `200:0.9,503:0.1`; None if the spec is malformed."""
    codes: list[int] = []
    weights: list[float] = []
    try:
        for item in spec.split(","):
            code, _, weight = item.partition(":")
            codes.append(int(code))
            weights.append(float(weight) if weight else 1.0)
    except ValueError:
        return None
    if not all(200 <= c <= 599 for c in codes) or sum(weights) <= 0:
        return None
    return random.choices(codes, weights=weights)[0]


def index() -> Response:
    rows = "".join(f"<li><code>{path}</code>: {what}</li>\n" for path, what in ENDPOINTS)
    return html_response(
        f"<!DOCTYPE html>\n<html><head><title>httpbin</title></head><body>\n"
        f"<h1>httpbin (pilotfish sample)</h1>\n<ul>\n{rows}</ul>\n</body></html>\n"
    )


def handle(request: Request, counter: RequestCounter) -> Response:
    path = request.path
    if path == "/stats/requests":
        if request.method == "DELETE":
            return json_response(counter.snapshot(reset=True))
        return json_response(counter.snapshot())
    counter.add(path)
    if path == "/":
        return index()
    if path in BODY_METHODS:
        if request.method != BODY_METHODS[path] and not (
            path == "/get" and request.method == "HEAD"
        ):
            return json_response({"error": "method not allowed"}, 405)
        return json_response(echo(request, with_body=path != "/get"))
    if path == "/anything" or path.startswith("/anything/"):
        return json_response(echo(request, with_body=True, with_method=True))
    if path == "/headers":
        return json_response({"headers": header_dict(request)})
    if path == "/ip":
        return json_response({"origin": origin(request)})
    if path == "/user-agent":
        return json_response({"user-agent": request.header("user-agent")})
    if path.startswith("/status/"):
        code = pick_status(path.removeprefix("/status/"))
        if code is None:
            return json_response({"error": "Invalid status code"}, 400)
        if code == 418:  # httpbin's teapot, as Istio's Secure Gateways task shows it
            return text_response(
                TEAPOT, 418, (("x-more-info", "http://tools.ietf.org/html/rfc2324"),)
            )
        return Response(code, b"", "text/plain; charset=utf-8")
    if path.startswith("/delay/"):
        try:
            seconds = min(max(float(path.removeprefix("/delay/")), 0.0), MAX_DELAY_SECONDS)
        except ValueError:
            return json_response({"error": "Invalid delay"}, 400)
        time.sleep(seconds)
        return json_response(echo(request, with_body=True))
    if path == "/response-headers":
        extra = tuple((k, v) for k, values in request.query.items() for v in values)
        return json_response(args(request), headers=extra)
    return json_response({"error": "not found"}, 404)


def make_route(served_by: str, fail_status: int | None = None) -> Route:
    counter = RequestCounter()

    def route(request: Request) -> Response:
        if fail_status is not None and request.path != "/stats/requests":
            counter.add(request.path)
            failed = json_response({"error": "failing on purpose ($FAIL_STATUS)"}, fail_status)
            return failed.with_headers((("x-served-by", served_by),))
        return handle(request, counter).with_headers((("x-served-by", served_by),))

    return route


if __name__ == "__main__":
    fail = os.environ.get("FAIL_STATUS", "").strip()
    serve(make_route(pod_name(), int(fail) if fail.isdigit() else None), default_port=8080)
