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
WELL_KNOWN_PORTS = frozenset({25, 53, 3306, 27017})
"""SMTP, DNS, MySQL, MongoDB: TCP, never sniffed, when the Service port names no protocol."""
KUBERNETES_APP_PROTOCOLS = {
    "kubernetes.io/h2c": "HTTP2",  # HTTP/2 over cleartext
    "kubernetes.io/ws": "HTTP",  # WebSocket over cleartext
    "kubernetes.io/wss": "HTTPS",  # WebSocket over TLS
}
"""Kubernetes' standard `appProtocol` names, as Istio reads them (only from appProtocol)."""


def parse_protocol(name: str) -> str:
    """Istio's `protocol.Parse`: the (upper-case) name of a protocol Istio knows, case-insensitive,
    or "" for one it does not (its `UnsupportedProtocol`: sniffed)."""
    upper = name.upper()
    return upper if upper in ISTIO_PROTOCOLS else ""


def kube_port_protocol(
    number: int, name: str, transport: str = "TCP", app_protocol: str | None = None
) -> str:
    """Istio's protocol of a Kubernetes Service port (its `kube.ConvertProtocol`): UDP for a
    `protocol: UDP` port; else `appProtocol` when set (Kubernetes' own names first), otherwise the
    port name; a `grpc-web` prefix, then the name's prefix before `-`; TCP for a well-known port
    naming no protocol; "" when none is known (the protocol is detected per connection)."""
    if transport == "UDP":
        return "UDP"
    if app_protocol is not None:
        if app_protocol in KUBERNETES_APP_PROTOCOLS:
            return KUBERNETES_APP_PROTOCOLS[app_protocol]
        name = app_protocol
    if name[: len("grpc-web")].lower() == "grpc-web":
        return "GRPC-WEB"
    found = parse_protocol(name.split("-", 1)[0])
    return found or ("TCP" if number in WELL_KNOWN_PORTS else "")


ISTIO_SPELLING = {"GRPC-WEB": "GRPC-Web", "MONGO": "Mongo", "REDIS": "Redis", "MYSQL": "MySQL"}
"""Istio's own spelling of the names this module keeps upper case (its `protocol.Instance`)."""


def described_protocol(
    number: int, name: str, transport: str = "TCP", app_protocol: str | None = None
) -> str | None:
    """The protocol `istioctl x describe` prints for a Service port (its `findProtocolForPort`):
    `auto-detect` for a port with neither name nor appProtocol, else Istio's protocol in Istio's
    spelling (`GRPC-Web`, `Mongo`; `UnsupportedProtocol` for an unknown name, `HBONE` for the
    `hbone` appProtocol); None for a port istioctl leaves out (UDP, SCTP: not TCP)."""
    if transport != "TCP":
        return None
    if not name and app_protocol is None:
        return "auto-detect"
    found = kube_port_protocol(number, name, transport, app_protocol)
    if not found:
        return "HBONE" if app_protocol == "hbone" else "UnsupportedProtocol"
    return ISTIO_SPELLING.get(found, found)


TLS_FAMILY = frozenset({"HTTPS", "TLS"})
"""Carry TLS on the wire (Istio's `Protocol.IsTLS`)."""
L4_FAMILY = TLS_FAMILY | {"TCP"}
"""Gateway servers that are not plain HTTP: served by TLS/TCP filter chains."""
HTTP2_NATIVE = frozenset({"HTTP2", "GRPC", "GRPC-WEB"})
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
