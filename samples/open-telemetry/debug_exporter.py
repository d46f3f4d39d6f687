"""What the OpenTelemetry Collector's `debug` exporter (formerly `logging`) prints, for the
collector stand-in (`collector.py`): a line per export with its counts (`basic`), then with
`verbosity: detailed` every record in the collector's own text shape (its `otlptext`
marshaler), so that what a user greps in `kubectl logs` (a LogRecord's `Body: Str(...)`, its
`Attributes:`) reads as in a cluster. Lines start as the collector's logger writes them:
`<UTC time>\\tinfo\\t<message>\\t{"otelcol.component.id": ..., ...}`.

Logs are printed in full; spans and metrics as their counts, plus (detailed) each span's trace
and span id, name and attributes, and each metric's name. The messages are pilotfish's OTLP
classes (`pilotfish.ui.otlp_schema`). Pure but for `now`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from google.protobuf import json_format

SEVERITY_WORDS = ("Trace", "Debug", "Info", "Warn", "Error", "Fatal")


def timestamp(nanos: int) -> str:
    """Go's `time.Time.String()` in UTC, as pdata prints a timestamp."""
    seconds, fraction = divmod(int(nanos), 1_000_000_000)
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + " +0000 UTC"


def severity(number: int) -> str:
    """pdata's name of a severity number: `Unspecified`, `Trace`, `Trace2`, … `Fatal4`."""
    if not 1 <= number <= 24:
        return "Unspecified"
    word, step = SEVERITY_WORDS[(number - 1) // 4], (number - 1) % 4 + 1
    return f"{word}{step if step > 1 else ''}"


def value(any_value: Any) -> str:
    """pdata's `Type(value)` of an OTLP AnyValue: `Str(x)`, `Int(7)`, `Map({...})`, …"""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return "Empty()"
    raw = getattr(any_value, kind)
    if kind == "string_value":
        return f"Str({raw})"
    if kind == "bool_value":
        return f"Bool({'true' if raw else 'false'})"
    if kind == "int_value":
        return f"Int({raw})"
    if kind == "double_value":
        return f"Double({raw:g})"
    if kind == "bytes_value":
        return f"Bytes({json_format.MessageToDict(any_value).get('bytesValue', '')})"
    plain = json.dumps(_plain(any_value), separators=(",", ":"))
    return f"{'Map' if kind == 'kvlist_value' else 'Slice'}({plain})"


def _plain(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in any_value.kvlist_value.values}
    if kind == "array_value":
        return [_plain(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def _attributes(lines: list[str], header: str, values: Any) -> None:
    if len(values):
        lines.append(f"{header}:")
        lines.extend(f"     -> {kv.key}: {value(kv.value)}" for kv in values)


def _resource(lines: list[str], index: int, kind: str, resource: Any, schema: str) -> None:
    lines += [f"{kind} #{index}", f"Resource SchemaURL: {schema}"]
    _attributes(lines, "Resource attributes", resource.attributes)


def _scope(lines: list[str], index: int, kind: str, scope: Any, schema: str) -> None:
    lines += [f"{kind} #{index}", f"{kind} SchemaURL: {schema}"]
    lines.append(f"InstrumentationScope {scope.name} {scope.version}")
    _attributes(lines, "InstrumentationScope attributes", scope.attributes)


def logs_text(request: Any) -> str:
    """The detailed text of an ExportLogsServiceRequest (the collector's `otlptext` shape)."""
    lines: list[str] = []
    for i, resource_logs in enumerate(request.resource_logs):
        _resource(lines, i, "ResourceLog", resource_logs.resource, resource_logs.schema_url)
        for j, scope_logs in enumerate(resource_logs.scope_logs):
            _scope(lines, j, "ScopeLogs", scope_logs.scope, scope_logs.schema_url)
            for k, record in enumerate(scope_logs.log_records):
                lines += [
                    f"LogRecord #{k}",
                    f"ObservedTimestamp: {timestamp(record.observed_time_unix_nano)}",
                    f"Timestamp: {timestamp(record.time_unix_nano)}",
                    f"SeverityText: {record.severity_text}",
                    f"SeverityNumber: {severity(record.severity_number)}({record.severity_number})",
                ]
                if record.event_name:
                    lines.append(f"EventName: {record.event_name}")
                lines.append(f"Body: {value(record.body)}")
                _attributes(lines, "Attributes", record.attributes)
                lines += [
                    f"Trace ID: {record.trace_id.hex()}",
                    f"Span ID: {record.span_id.hex()}",
                    f"Flags: {record.flags}",
                ]
    return "\n".join(lines) + "\n"


def traces_text(request: Any) -> str:
    lines: list[str] = []
    for i, resource_spans in enumerate(request.resource_spans):
        _resource(lines, i, "ResourceSpans", resource_spans.resource, "")
        for j, scope_spans in enumerate(resource_spans.scope_spans):
            lines += [f"ScopeSpans #{j}"]
            for k, span in enumerate(scope_spans.spans):
                lines += [
                    f"Span #{k}",
                    f"    Trace ID       : {span.trace_id.hex()}",
                    f"    Parent ID      : {span.parent_span_id.hex()}",
                    f"    ID             : {span.span_id.hex()}",
                    f"    Name           : {span.name}",
                ]
                _attributes(lines, "Attributes", span.attributes)
    return "\n".join(lines) + "\n"


def metrics_text(request: Any) -> str:
    lines: list[str] = []
    for i, resource_metrics in enumerate(request.resource_metrics):
        _resource(lines, i, "ResourceMetrics", resource_metrics.resource, "")
        for j, scope_metrics in enumerate(resource_metrics.scope_metrics):
            lines += [f"ScopeMetrics #{j}"]
            for k, metric in enumerate(scope_metrics.metrics):
                lines += [f"Metric #{k}", "Descriptor:", f"     -> Name: {metric.name}"]
    return "\n".join(lines) + "\n"


def counts(signal: str, request: Any) -> tuple[str, dict[str, int]]:
    """The basic line's message and counts, as the exporter names them."""
    if signal == "logs":
        groups = request.resource_logs
        records = sum(len(s.log_records) for g in groups for s in g.scope_logs)
        return "Logs", {"resource logs": len(groups), "log records": records}
    if signal == "traces":
        groups = request.resource_spans
        spans = sum(len(s.spans) for g in groups for s in g.scope_spans)
        return "Traces", {"resource spans": len(groups), "spans": spans}
    groups = request.resource_metrics
    metrics = [m for g in groups for s in g.scope_metrics for m in s.metrics]
    points = sum(len(getattr(m, m.WhichOneof("data")).data_points) for m in metrics
                 if m.WhichOneof("data"))  # fmt: skip
    return "Metrics", {"resource metrics": len(groups), "metrics": len(metrics),
                       "data points": points}  # fmt: skip


DETAILED = {"logs": logs_text, "traces": traces_text, "metrics": metrics_text}


def export_text(signal: str, request: Any, name: str, verbosity: str, now: float) -> str:
    """What exporter `name` prints for one export of `signal` at `verbosity`."""
    fields = {"otelcol.component.id": name, "otelcol.component.kind": "Exporter",
              "otelcol.signal": signal}  # fmt: skip
    message, numbers = counts(signal, request)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    text = f"{stamp}\tinfo\t{message}\t{json.dumps({**fields, **numbers})}\n"
    if verbosity == "detailed":
        text += f"{stamp}\tinfo\t{DETAILED[signal](request)}\t{json.dumps(fields)}\n"
    return text
