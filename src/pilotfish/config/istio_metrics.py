"""The names of Istio's standard metrics as Prometheus sees them (Istio's `metricToPrometheusMetric`
and its histograms), and the names Istio removed: used by telemetry to emit them and by the
analyzer that checks Prometheus rules against what the mesh exports."""

from __future__ import annotations

import re

# Telemetry API metric enum -> Prometheus name (without the `istio_` prefix).
METRIC_NAMES: dict[str, str] = {
    "REQUEST_COUNT": "requests_total",
    "REQUEST_DURATION": "request_duration_milliseconds",
    "REQUEST_SIZE": "request_bytes",
    "RESPONSE_SIZE": "response_bytes",
    "TCP_OPENED_CONNECTIONS": "tcp_connections_opened_total",
    "TCP_CLOSED_CONNECTIONS": "tcp_connections_closed_total",
    "TCP_SENT_BYTES": "tcp_sent_bytes_total",
    "TCP_RECEIVED_BYTES": "tcp_received_bytes_total",
    "GRPC_REQUEST_MESSAGES": "request_messages_total",
    "GRPC_RESPONSE_MESSAGES": "response_messages_total",
}
HISTOGRAMS = frozenset({"request_duration_milliseconds", "request_bytes", "response_bytes"})
# Names Istio no longer exports, and what replaced them (Mixer-era and pre-1.5 names).
REMOVED: dict[str, str] = {
    "istio_request_duration_seconds": "istio_request_duration_milliseconds",
    "istio_request_duration": "istio_request_duration_milliseconds",
    "istio_request_count": "istio_requests_total",
    "istio_request_size": "istio_request_bytes",
    "istio_response_size": "istio_response_bytes",
    "istio_tcp_bytes_sent": "istio_tcp_sent_bytes_total",
    "istio_tcp_bytes_received": "istio_tcp_received_bytes_total",
}


def exported_names() -> frozenset[str]:
    """Every `istio_*` series name a pilotfish mesh exports."""
    names = {"istio_build"}
    for name in METRIC_NAMES.values():
        full = f"istio_{name}"
        if name in HISTOGRAMS:
            names.update(f"{full}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(full)
    return frozenset(names)


_IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_:\"'])(istio_[A-Za-z0-9_:]+)")


def unknown_istio_metrics(expression: str) -> list[str]:
    """`istio_*` names in a PromQL expression that the mesh does not export, in order."""
    exported = exported_names()
    found = [name for name in _IDENTIFIER.findall(expression) if name not in exported]
    return list(dict.fromkeys(found))


def replacement(name: str) -> str:
    """What to use instead of a name the mesh does not export ("" if unknown)."""
    for removed, new in REMOVED.items():
        if name == removed or name.startswith(removed + "_"):
            return new + name[len(removed) :]
    return ""
