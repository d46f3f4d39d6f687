"""OTLP traces into the collector's Zipkin v2 model: what lets an `opentelemetry` tracing
provider (Envoy's OpenTelemetry tracer over OTLP/HTTP) point at pilotfish's collector.

`zipkin_spans(request)` takes an OTLP `ExportTraceServiceRequest` (decoded by `otlp_receiver`)
and returns the spans as Zipkin v2 JSON objects, mapped as the OpenTelemetry
Collector's Zipkin exporter maps them: the resource's `service.name` becomes the local
endpoint's service name, attributes become string tags, an error status the `error` tag, kinds
SERVER/CLIENT/PRODUCER/CONSUMER keep their names. The messages are `otlp_schema`'s, not the
`opentelemetry.proto` modules (two packages install different copies of those). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from pilotfish.ui.otlp_schema import Span, Status

_KINDS = {
    Span.SPAN_KIND_SERVER: "SERVER",
    Span.SPAN_KIND_CLIENT: "CLIENT",
    Span.SPAN_KIND_PRODUCER: "PRODUCER",
    Span.SPAN_KIND_CONSUMER: "CONSUMER",
}


def _text(value: Any) -> str:
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind in ("array_value", "kvlist_value", "bytes_value"):
        return str(json_format.MessageToJson(value, indent=None))
    raw = getattr(value, kind)
    return ("true" if raw else "false") if kind == "bool_value" else str(raw)


def _attributes(values: Any) -> dict[str, str]:
    return {kv.key: _text(kv.value) for kv in values}


def zipkin_span(span: Any, service: str) -> dict[str, Any]:
    tags = _attributes(span.attributes)
    if span.status.code == Status.STATUS_CODE_ERROR:
        tags["error"] = span.status.message or "true"
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    zipkin: dict[str, Any] = {
        "traceId": span.trace_id.hex(),
        "id": span.span_id.hex(),
        "name": span.name,
        "timestamp": start // 1000,
        "duration": max(end - start, 0) // 1000,
        "localEndpoint": {"serviceName": service},
        "tags": tags,
    }
    if span.parent_span_id:
        zipkin["parentId"] = span.parent_span_id.hex()
    if span.kind in _KINDS:
        zipkin["kind"] = _KINDS[span.kind]
    return zipkin


def zipkin_spans(request: Any) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = resource.get("service.name", "")
        for scope_spans in resource_spans.scope_spans:
            spans.extend(zipkin_span(span, service) for span in scope_spans.spans)
    return spans
