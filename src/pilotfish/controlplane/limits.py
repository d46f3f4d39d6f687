"""What one API request may cost the control plane (15014), and how it is refused otherwise.

| limit | value | when exceeded |
|---|---|---|
| request body | `MAX_REQUEST_BYTES` (8 MiB, one input file's cap) | 413 |
| JSON body | an object, nested less deeply than Python's parser allows | 400 |
| writes (apply, delete) waiting for the one before them | `MAX_PENDING_WRITES` | 429 |

One object is capped at 1.5 MiB by validation (`config.yaml_text.MAX_OBJECT_BYTES`, Kubernetes'
limit), so no single change can be arbitrarily large. Each refusal logs one WARNING line saying
which limit, and counts in `pilotfish_api_refused_requests_total{reason}`. The body of a refusal
is JSON with a `diagnostics` entry, so `pilotfish apply` prints the reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from pilotfish.config.yaml_text import MAX_BYTES

log = logging.getLogger("pilotfish.controlplane")

MAX_REQUEST_BYTES = MAX_BYTES
MAX_PENDING_WRITES = 32
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Refused(Exception):
    """A request over a limit: HTTP status, metric reason, message for the user."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


class ApiLimits:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.refused = Counter(
            "pilotfish_api_refused_requests",
            "API requests refused for exceeding a limit",
            ["reason"],
            registry=registry,
        )
        self.pending_writes = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            size = request.content_length
            if size is not None and size > MAX_REQUEST_BYTES:
                raise _too_large(size)
            return await handler(request)
        except web.HTTPRequestEntityTooLarge as exc:
            refusal = _too_large(int(getattr(exc, "actual_size", 0) or 0))
        except Refused as exc:
            refusal = exc
        self.refused.labels(refusal.reason).inc()
        log.warning(
            "refused %s %s from %s: %s", request.method, request.path, request.remote, refusal
        )
        diagnostic = {"level": "error", "message": str(refusal), "text": str(refusal)}
        body = {"ok": False, "error": str(refusal), "diagnostics": [diagnostic]}
        return web.json_response(body, status=refusal.status)

    def begin_write(self) -> None:
        """Count a write waiting for the control plane; refuse it when too many wait."""
        if self.pending_writes >= MAX_PENDING_WRITES:
            raise Refused(
                429,
                "queue",
                f"{self.pending_writes} changes are already waiting to be applied "
                f"(limit {MAX_PENDING_WRITES}); retry later",
            )
        self.pending_writes += 1

    def end_write(self) -> None:
        self.pending_writes -= 1


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (within the size limit), or `Refused`."""
    raw = await request.read()
    if len(raw) > MAX_REQUEST_BYTES:
        raise _too_large(len(raw))
    try:
        body = json.loads(raw or b"{}")
    except RecursionError:
        raise Refused(400, "depth", "the request body is nested too deeply") from None
    except ValueError as exc:
        raise Refused(400, "malformed", f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise Refused(400, "malformed", "the request body must be a JSON object")
    return body


def text_pairs(value: Any, field: str) -> list[tuple[str, str]]:
    """`[[source, text], ...]` from a request body field, or `Refused`."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in value
    ):
        raise Refused(400, "malformed", f"{field} must be a list of [source, text] pairs")
    return [(p[0], p[1]) for p in value]


def _too_large(size: int) -> Refused:
    actual = f"{size} bytes" if size else "the request body"
    return Refused(
        413,
        "size",
        f"{actual} is over the {MAX_REQUEST_BYTES // (1024 * 1024)} MiB an API request may be",
    )
