"""Istio's standard metric labels, in Istio's order, and where each value comes from.

The values are Envoy access-log operators evaluated per request (or TCP connection) by the
`stats` access logger. The local side of a report is known at translation time (literals from
the proxy's identity); the peer side is learned (`exchange`), read from the peer certificate
(`principal`), from cluster metadata (`destination_service*`, set on every outbound cluster) or,
for TCP, from the upstream endpoint's metadata. Unknown values are `unknown`, as in Istio.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from envoy.config.core.v3 import base_pb2
from google.protobuf import struct_pb2

from pilotfish.telemetry.exchange import Identity, peer_value

HTTP_LABELS = (
    "reporter",
    "source_workload",
    "source_canonical_service",
    "source_canonical_revision",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_service_name",
    "destination_service_namespace",
    "destination_cluster",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
)
TCP_LABELS = tuple(
    label for label in HTTP_LABELS if label not in ("response_code", "grpc_response_status")
)

SERVICE_METADATA = "pilotfish.service"  # outbound cluster metadata: host, name, namespace
ENDPOINT_METADATA = "pilotfish"  # endpoint metadata: workload, namespace, app, version, ...
UNKNOWN = "unknown"

_SERVER_PRINCIPAL = "%CEL(connection.mtls ? connection.uri_san_peer_certificate : 'unknown')%"
_LOCAL_PRINCIPAL = "%CEL(connection.mtls ? connection.uri_san_local_certificate : 'unknown')%"
_UPSTREAM_PRINCIPAL = (
    "%CEL(has(upstream.uri_san_peer_certificate) && upstream.uri_san_peer_certificate != ''"
    " ? upstream.uri_san_peer_certificate : 'unknown')%"
)
_UPSTREAM_LOCAL_PRINCIPAL = (
    "%CEL(has(upstream.uri_san_local_certificate) && upstream.uri_san_local_certificate != ''"
    " ? upstream.uri_san_local_certificate : 'unknown')%"
)
_PROTOCOL = (
    "%CEL('content-type' in request.headers && "
    "request.headers['content-type'].startsWith('application/grpc') ? 'grpc' : 'http')%"
)


class Reporter(StrEnum):
    SOURCE = "source"  # the client sidecar, and gateways
    DESTINATION = "destination"  # the server sidecar


@dataclass(frozen=True)
class ServiceLabels:
    """The destination service of an inbound port, known at translation time."""

    host: str
    name: str
    namespace: str


def literal(value: str) -> str:
    """A fixed tag value (a format string with no operator; never empty, never `%`)."""
    return value.replace("%", "") or UNKNOWN


def _local(prefix: str, me: Identity) -> dict[str, str]:
    return {
        f"{prefix}_workload": literal(me.workload),
        f"{prefix}_workload_namespace": literal(me.namespace),
        f"{prefix}_canonical_service": literal(me.canonical_service),
        f"{prefix}_canonical_revision": literal(me.canonical_revision),
        f"{prefix}_app": literal(me.app),
        f"{prefix}_version": literal(me.version),
        f"{prefix}_cluster": literal(me.cluster),
    }


def _peer(prefix: str) -> dict[str, str]:
    return {
        f"{prefix}_workload": peer_value("workload"),
        f"{prefix}_workload_namespace": peer_value("namespace"),
        f"{prefix}_canonical_service": peer_value("canonical_service"),
        f"{prefix}_canonical_revision": peer_value("canonical_revision"),
        f"{prefix}_app": peer_value("app"),
        f"{prefix}_version": peer_value("version"),
        f"{prefix}_cluster": peer_value("cluster"),
    }


def _endpoint_peer(prefix: str) -> dict[str, str]:
    """TCP outbound: no headers to exchange, so the peer is the chosen endpoint (as Istio's
    fallback to the endpoint's `istio.workload` metadata)."""
    return {
        f"{prefix}_workload": f"%UPSTREAM_METADATA({ENDPOINT_METADATA}:workload)%",
        f"{prefix}_workload_namespace": f"%UPSTREAM_METADATA({ENDPOINT_METADATA}:namespace)%",
        f"{prefix}_canonical_service": (
            f"%UPSTREAM_METADATA({ENDPOINT_METADATA}:canonical_service)%"
        ),
        f"{prefix}_canonical_revision": (
            f"%UPSTREAM_METADATA({ENDPOINT_METADATA}:canonical_revision)%"
        ),
        f"{prefix}_app": f"%UPSTREAM_METADATA({ENDPOINT_METADATA}:app)%",
        f"{prefix}_version": f"%UPSTREAM_METADATA({ENDPOINT_METADATA}:version)%",
        f"{prefix}_cluster": f"%UPSTREAM_METADATA({ENDPOINT_METADATA}:cluster)%",
    }


def _unknown_peer(prefix: str) -> dict[str, str]:
    values = dict.fromkeys(_peer(prefix), UNKNOWN)
    values[f"{prefix}_canonical_revision"] = "latest"
    return values


def label_values(
    reporter: Reporter,
    me: Identity,
    service: ServiceLabels | None,
    *,
    tcp: bool,
    mtls: bool | None = None,
) -> dict[str, str]:
    """Every label of one report, as format strings, in Istio's order. `mtls`: whether the
    inbound filter chain terminates Istio mutual TLS (None: not known, decided per connection
    by CEL). Known per chain, the principals and the security policy cost no CEL evaluation
    (which is most of the metrics' CPU cost: see BENCHMARKS.md)."""
    values: dict[str, str] = {"reporter": reporter.value}
    if reporter is Reporter.DESTINATION:
        values |= _unknown_peer("source") if tcp else _peer("source")
        values |= _local("destination", me)
        values["source_principal"] = _SERVER_PRINCIPAL
        values["destination_principal"] = _LOCAL_PRINCIPAL
        policy = "%CEL(connection.mtls ? 'mutual_tls' : 'none')%"
        if mtls is True:
            values["source_principal"] = "%DOWNSTREAM_PEER_URI_SAN%"
            values["destination_principal"] = "%DOWNSTREAM_LOCAL_URI_SAN%"
            policy = "mutual_tls"
        elif mtls is False:
            values["source_principal"] = values["destination_principal"] = UNKNOWN
            policy = "none"
        target = service or ServiceLabels(me.canonical_service, me.canonical_service, me.namespace)
        values["destination_service"] = literal(target.host)
        values["destination_service_name"] = literal(target.name)
        values["destination_service_namespace"] = literal(me.namespace)
        values["connection_security_policy"] = policy
    else:
        values |= _local("source", me)
        values |= _endpoint_peer("destination") if tcp else _peer("destination")
        values["source_principal"] = _UPSTREAM_LOCAL_PRINCIPAL
        values["destination_principal"] = _UPSTREAM_PRINCIPAL
        for key in ("host", "name", "namespace"):
            label = "destination_service" + ("" if key == "host" else f"_{key}")
            values[label] = f"%CLUSTER_METADATA({SERVICE_METADATA}:{key})%"
        values["connection_security_policy"] = UNKNOWN  # Istio: always unknown client side
    values["request_protocol"] = "tcp" if tcp else _PROTOCOL
    if not tcp:
        values["response_code"] = "%RESPONSE_CODE%"
        values["grpc_response_status"] = "%GRPC_STATUS_NUMBER%"
    values["response_flags"] = "%RESPONSE_FLAGS%"
    order = TCP_LABELS if tcp else HTTP_LABELS
    return {label: values[label] for label in order}


def service_metadata(host: str, name: str, namespace: str) -> base_pb2.Metadata:
    """Cluster metadata the client side reads `destination_service*` from (Istio keeps the same
    facts in `istio.services`)."""
    fields = struct_pb2.Struct()
    fields.update({"host": host, "name": name, "namespace": namespace})
    metadata = base_pb2.Metadata()
    metadata.filter_metadata[SERVICE_METADATA].CopyFrom(fields)
    return metadata


def endpoint_fields(me: Identity) -> dict[str, str]:
    """Endpoint metadata (under `ENDPOINT_METADATA`) a TCP client reads its peer from."""
    return {
        "workload": me.workload,
        "namespace": me.namespace,
        "canonical_service": me.canonical_service,
        "canonical_revision": me.canonical_revision,
        "app": me.app or UNKNOWN,
        "version": me.version or UNKNOWN,
        "cluster": me.cluster,
    }
