"""What one xDS client may cost the control plane, and how it is refused otherwise.

| limit | default | when exceeded |
|---|---|---|
| request message | `MAX_REQUEST_BYTES` 4 MiB (gRPC's default) | stream ends: RESOURCE_EXHAUSTED |
| response message | `max_response_bytes` 256 MiB (gRPC's send cap) | stream closed, not sent |
| open ADS streams | `max_streams` 4,096 | the new stream ends: RESOURCE_EXHAUSTED |
| streams of one node id | `max_streams_per_node` 8 | the new stream is closed |
| responses queued, one stream | `max_queued` 256 | closed (a client that stopped reading) |
| one write to the client | `write_timeout` 30 s | closed (it was holding a write slot) |
| snapshots of gone nodes | `max_idle_snapshots` 1,024 | the oldest are forgotten |

Each refusal counts in `pilotfish_xds_refused_streams_total{reason}` (reasons: unauthenticated
(the observer refused its credential), streams, node_streams, queue, slow, size, response_size,
malformed, no_node, no_request) and logs a WARNING line saying which limit — at most one line
per reason every 10 s, with the count refused meanwhile, so a flood of bad clients cannot flood
the log.

A refused request ends its stream with the status gRPC itself gives (what Envoy logs as "gRPC
config stream closed: 8, Received message larger than max …"): RESOURCE_EXHAUSTED for a request
over `MAX_REQUEST_BYTES`, INTERNAL for one that is not a discovery request (grpc-go's "error
unmarshalling request"), never a clean OK. gRPC's own receive cap is `HARD_REQUEST_BYTES` (64 MiB,
what one stream may make the server buffer), so every request up to it reaches `checked` and is
counted as `size`; one declaring more is refused by gRPC from its length prefix (the server
buffers ~nothing of it, measured), with the same status, before any of our code sees it:
grpc.aio ends the handler's request stream exactly as when a client cancels (measured; no status,
no flag tells them apart). Such a first message is counted as `no_request`: a stream that ended
before its first request was read, which a conforming client (Envoy sends its first request as
it opens the stream) never does; the line logged says both causes. Past the first request, a
message over gRPC's cap looks like a client that went away and is not counted. A response is
measured before it is queued: one over `max_response_bytes` (gRPC would fail the write) is
counted, logged with its type and size, and the stream closed. Pure bookkeeping: no I/O but
logging.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger("pilotfish.xds")

MAX_REQUEST_BYTES = 4 * 1024 * 1024
HARD_REQUEST_BYTES = 64 * 1024 * 1024  # gRPC's receive cap: over it, gRPC refuses (uncounted)
MAX_RESPONSE_BYTES = 256 * 1024 * 1024
LOG_EVERY = 10.0  # seconds between two log lines of one reason

GRPC_OPTIONS: tuple[tuple[str, int], ...] = (
    # grpc.aio accepts calls one at a time: the default pending-call limits cancel streams
    # when thousands of proxies connect at once (measured: bench/xds_push.py).
    ("grpc.server.max_pending_requests", 20_000),
    ("grpc.server.max_pending_requests_hard_limit", 40_000),
    # a call gRPC holds before the server takes it is CANCELLED after this (gRPC's default:
    # 30 s; measured: a third of 600 proxies' streams at a connect storm on a starved core).
    # Go's gRPC, istiod's, has no such limit; Envoy would only reconnect and wait again.
    ("grpc.server_max_unrequested_time_in_server", 600),
    # bigger than `MAX_REQUEST_BYTES` so that `checked` sees, counts and refuses what is over it
    ("grpc.max_receive_message_length", HARD_REQUEST_BYTES),
    ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
    ("grpc.keepalive_permit_without_calls", 1),
    # gRPC sets SO_REUSEPORT by default: a second control plane started on the same xDS
    # address would bind too and silently take a share of the proxies' connections. Off, it
    # fails to bind (`XdsServer.start` says so), as istiod's listener would.
    ("grpc.so_reuseport", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
)


class RefusedRequest(ValueError):
    """A request over a limit or not a discovery request: the stream ends with `status` (a
    `grpc.StatusCode` name) and the message, as gRPC would end it."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StreamLimits:
    max_streams: int = 4096
    max_streams_per_node: int = 8
    max_queued: int = 256
    write_timeout: float = 30.0
    max_idle_snapshots: int = 1024
    max_response_bytes: int = MAX_RESPONSE_BYTES  # gRPC's send cap (`GRPC_OPTIONS`)


DEFAULT_LIMITS = StreamLimits()


@dataclass
class Refusals:
    """Counts refusals (metric) and logs them, rate-limited per reason."""

    registry: CollectorRegistry
    counter: Counter = field(init=False)
    _last_logged: dict[str, float] = field(default_factory=dict)
    _unlogged: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counter = Counter(
            "pilotfish_xds_refused_streams",
            "xDS streams refused or closed for exceeding a limit, by reason",
            ["reason"],
            registry=self.registry,
        )

    def refuse(self, reason: str, message: str) -> None:
        self.counter.labels(reason).inc()
        now = time.monotonic()
        if now - self._last_logged.get(reason, -LOG_EVERY) < LOG_EVERY:
            self._unlogged[reason] = self._unlogged.get(reason, 0) + 1
            return
        more = self._unlogged.pop(reason, 0)
        suffix = f" ({more} more refused for this reason since the last line)" if more else ""
        log.warning("xds: %s%s", message, suffix)
        self._last_logged[reason] = now

    def admit_node(self, request: Any, open_streams: int, limit: int) -> bool:
        """A stream's first request: it names a node (which has `open_streams` streams open)
        with room for one more; else the refusal is counted and logged."""
        if not request.HasField("node") or not request.node.id:
            self.refuse("no_node", "closing a stream: first request has no node id")
            return False
        if open_streams >= limit:
            self.refuse(
                "node_streams",
                f"closing a stream of {request.node.id!r}: it has {open_streams} open "
                f"(limit {limit})",
            )
            return False
        return True

    def unread(self, peer: str) -> None:
        """A stream ended before its first request was read (see the module docstring)."""
        self.refuse(
            "no_request",
            f"a stream from {peer} ended before its first request: a message over gRPC's "
            f"receive cap of {HARD_REQUEST_BYTES >> 20} MiB (refused by gRPC from its length "
            "prefix, RESOURCE_EXHAUSTED, unread), or a client that left without one",
        )


def checked(parse: Callable[[bytes], Any], refusals: Refusals) -> Callable[[bytes], Any]:
    """A gRPC request deserializer that refuses (metric + log) oversized and malformed
    messages with `RefusedRequest`; gRPC then ends the stream."""

    def deserialize(data: bytes) -> Any:
        if len(data) > MAX_REQUEST_BYTES:
            refusals.refuse(
                "size", f"refusing a request of {len(data)} bytes (limit {MAX_REQUEST_BYTES})"
            )
            text = f"Received message larger than max ({len(data)} vs. {MAX_REQUEST_BYTES})"
            raise RefusedRequest("RESOURCE_EXHAUSTED", text)
        try:
            return parse(data)
        except DecodeError:
            refusals.refuse("malformed", "refusing a request: not a discovery request")
            text = "error unmarshalling request: not a discovery request"
            raise RefusedRequest("INTERNAL", text) from None

    return deserialize
