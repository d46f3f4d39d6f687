"""The part of OTLP's protobufs pilotfish's receivers read, as message classes of its own: traces
(the trace collector), logs and the shape of metrics (their counts; the OpenTelemetry Collector
stand-in, samples/open-telemetry).

`xds-protos` ships an old copy of the `opentelemetry.proto` modules (no `ScopeSpans`) into the
same package directory as `opentelemetry-proto`: whichever pip installs last wins, silently, and
with the old copy an OTLP export decodes to no spans. Importing neither, the collector cannot get
the wrong copy. The wire format only knows field numbers and types: these are OTLP's
(opentelemetry-proto v1.x, `collector/{trace,logs,metrics}/v1`, `trace/v1`, `logs/v1`,
`metrics/v1`, `resource/v1`, `common/v1`), under
the same field names (so the protobuf JSON mapping matches too), in a descriptor pool of their
own (no clash with any other copy loaded in the process). Unknown fields (events, links, scope)
are skipped by the decoder. `tests/ui/test_otlp_schema.py` checks them against the official
modules. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "pilotfish.otlp.v1"
_F = descriptor_pb2.FieldDescriptorProto
_REPEATED, _OPTIONAL = _F.LABEL_REPEATED, _F.LABEL_OPTIONAL
_SCALARS = {
    "string": _F.TYPE_STRING, "bool": _F.TYPE_BOOL, "int64": _F.TYPE_INT64,
    "double": _F.TYPE_DOUBLE, "bytes": _F.TYPE_BYTES, "uint32": _F.TYPE_UINT32,
    "fixed32": _F.TYPE_FIXED32, "fixed64": _F.TYPE_FIXED64,
}  # fmt: skip
_POINTS = {  # metric kind -> its data point message
    "Gauge": "NumberDataPoint", "Sum": "NumberDataPoint", "Histogram": "HistogramDataPoint",
    "ExponentialHistogram": "ExponentialHistogramDataPoint", "Summary": "SummaryDataPoint",
}  # fmt: skip
# message -> (field name, number, type: a scalar, a message, or `enum:<Name>`, repeated?)
_MESSAGES: dict[str, list[tuple[str, int, str, bool]]] = {
    "AnyValue": [
        ("string_value", 1, "string", False), ("bool_value", 2, "bool", False),
        ("int_value", 3, "int64", False), ("double_value", 4, "double", False),
        ("array_value", 5, "ArrayValue", False), ("kvlist_value", 6, "KeyValueList", False),
        ("bytes_value", 7, "bytes", False),
    ],
    "ArrayValue": [("values", 1, "AnyValue", True)],
    "KeyValueList": [("values", 1, "KeyValue", True)],
    "KeyValue": [("key", 1, "string", False), ("value", 2, "AnyValue", False)],
    "Resource": [("attributes", 1, "KeyValue", True)],
    "InstrumentationScope": [
        ("name", 1, "string", False), ("version", 2, "string", False),
        ("attributes", 3, "KeyValue", True),
    ],
    "Status": [("message", 2, "string", False), ("code", 3, "enum:StatusCode", False)],
    "Span": [
        ("trace_id", 1, "bytes", False), ("span_id", 2, "bytes", False),
        ("trace_state", 3, "string", False), ("parent_span_id", 4, "bytes", False),
        ("name", 5, "string", False), ("kind", 6, "enum:SpanKind", False),
        ("start_time_unix_nano", 7, "fixed64", False),
        ("end_time_unix_nano", 8, "fixed64", False), ("attributes", 9, "KeyValue", True),
        ("status", 15, "Status", False), ("flags", 16, "fixed32", False),
    ],
    "ScopeSpans": [("spans", 2, "Span", True)],
    "ResourceSpans": [("resource", 1, "Resource", False), ("scope_spans", 2, "ScopeSpans", True)],
    "ExportTraceServiceRequest": [("resource_spans", 1, "ResourceSpans", True)],
    "ExportTraceServiceResponse": [],
    "LogRecord": [
        ("time_unix_nano", 1, "fixed64", False),
        ("severity_number", 2, "enum:SeverityNumber", False),
        ("severity_text", 3, "string", False), ("body", 5, "AnyValue", False),
        ("attributes", 6, "KeyValue", True), ("flags", 8, "fixed32", False),
        ("trace_id", 9, "bytes", False), ("span_id", 10, "bytes", False),
        ("observed_time_unix_nano", 11, "fixed64", False), ("event_name", 12, "string", False),
    ],
    "ScopeLogs": [
        ("scope", 1, "InstrumentationScope", False), ("log_records", 2, "LogRecord", True),
        ("schema_url", 3, "string", False),
    ],
    "ResourceLogs": [
        ("resource", 1, "Resource", False), ("scope_logs", 2, "ScopeLogs", True),
        ("schema_url", 3, "string", False),
    ],
    "ExportLogsServiceRequest": [("resource_logs", 1, "ResourceLogs", True)],
    "ExportLogsServiceResponse": [],
    # metrics: as far as counting their data points (a data point's own fields are skipped)
    **{point: [] for point in _POINTS.values()},
    **{kind: [("data_points", 1, point, True)] for kind, point in _POINTS.items()},
    "Metric": [
        ("name", 1, "string", False), ("gauge", 5, "Gauge", False), ("sum", 7, "Sum", False),
        ("histogram", 9, "Histogram", False),
        ("exponential_histogram", 10, "ExponentialHistogram", False),
        ("summary", 11, "Summary", False),
    ],
    "ScopeMetrics": [("scope", 1, "InstrumentationScope", False), ("metrics", 2, "Metric", True)],
    "ResourceMetrics": [
        ("resource", 1, "Resource", False), ("scope_metrics", 2, "ScopeMetrics", True),
    ],
    "ExportMetricsServiceRequest": [("resource_metrics", 1, "ResourceMetrics", True)],
    "ExportMetricsServiceResponse": [],
}  # fmt: skip
SEVERITIES = ["UNSPECIFIED"] + [  # SEVERITY_NUMBER_<name>: 0, then TRACE=1, TRACE2=2, ...
    f"{level}{n if n > 1 else ''}"
    for level in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
    for n in range(1, 5)
]
_ENUMS = {  # enum -> (the message it is nested in, "" at the top level; its values)
    "SpanKind": ("Span", ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]),
    "StatusCode": ("Status", ["UNSET", "OK", "ERROR"]),
    "SeverityNumber": ("", SEVERITIES),
}
_ENUM_PREFIX = {
    "SpanKind": "SPAN_KIND_", "StatusCode": "STATUS_CODE_", "SeverityNumber": "SEVERITY_NUMBER_",
}  # fmt: skip
_ONEOFS = {  # message -> (its oneof, the fields in it)
    "AnyValue": ("value", {f[0] for f in _MESSAGES["AnyValue"]}),
    "Metric": ("data", {"gauge", "sum", "histogram", "exponential_histogram", "summary"}),
}


def _field(message: descriptor_pb2.DescriptorProto, spec: tuple[str, int, str, bool]) -> None:
    name, number, kind, repeated = spec
    field = message.field.add(name=name, number=number)
    field.label = _REPEATED if repeated else _OPTIONAL
    if kind in _SCALARS:
        field.type = _SCALARS[kind]
    elif kind.startswith("enum:"):
        enum = kind.removeprefix("enum:")
        parent = f"{_ENUMS[enum][0]}." if _ENUMS[enum][0] else ""
        field.type, field.type_name = _F.TYPE_ENUM, f".{_PACKAGE}.{parent}{enum}"
    else:
        field.type, field.type_name = _F.TYPE_MESSAGE, f".{_PACKAGE}.{kind}"
    if name in _ONEOFS.get(message.name, ("", set()))[1]:
        field.oneof_index = 0


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="pilotfish/otlp/v1/otlp_trace.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        message = proto.message_type.add(name=name)
        if name in _ONEOFS:
            message.oneof_decl.add(name=_ONEOFS[name][0])
        for spec in fields:
            _field(message, spec)
    for enum, (parent, values) in _ENUMS.items():
        holder = next((m for m in proto.message_type if m.name == parent), proto)
        enum_proto = holder.enum_type.add(name=enum)
        for number, value in enumerate(values):
            enum_proto.value.add(name=_ENUM_PREFIX[enum] + value, number=number)
    return proto


def _classes() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in _MESSAGES
    }


CLASSES = _classes()  # message name -> class
ExportTraceServiceRequest: Any = CLASSES["ExportTraceServiceRequest"]
ExportTraceServiceResponse: Any = CLASSES["ExportTraceServiceResponse"]
Span: Any = CLASSES["Span"]
Status: Any = CLASSES["Status"]
ExportLogsServiceRequest: Any = CLASSES["ExportLogsServiceRequest"]
ExportMetricsServiceRequest: Any = CLASSES["ExportMetricsServiceRequest"]
