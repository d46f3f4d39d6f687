"""Istio's protocol names and the families translation and validation sort them into.

A protocol is named by a Service port (`http-…`, `appProtocol`), a Gateway server port or a
Sidecar ingress/egress port (`protocol: HTTP2`). This module is the one place that says which
names are served by an HTTP connection manager, which carry TLS, and which speak HTTP/2 natively.
"""

from __future__ import annotations

HTTP_FAMILY = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB"})
"""Served by an HTTP connection manager (Istio's `Protocol.IsHTTP`, HTTP_PROXY aside)."""
ISTIO_PROTOCOLS = frozenset(
    {"TCP", "UDP", "GRPC", "GRPC-WEB", "HTTP", "HTTP_PROXY", "HTTP2", "HTTPS", "TLS"}
    | {"MONGO", "REDIS", "MYSQL"}
)
"""Every name Istio's `protocol.Parse` knows (upper case; it compares case-insensitively)."""
TLS_FAMILY = frozenset({"HTTPS", "TLS"})
"""Carry TLS on the wire (Istio's `Protocol.IsTLS`)."""
L4_FAMILY = TLS_FAMILY | {"TCP"}
"""Gateway servers that are not plain HTTP: served by TLS/TCP filter chains."""
HTTP2_NATIVE = frozenset({"HTTP2", "GRPC"})
"""Speak HTTP/2 to the upstream without being told to (Istio's `Protocol.IsHTTP2`)."""
GRPC_STATUS_CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
"""gRPC status names in code order (`GRPC_STATUS_CODES.index(name)` is the number)."""
