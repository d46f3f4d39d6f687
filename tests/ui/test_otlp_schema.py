"""The collector's own OTLP messages against the official `opentelemetry-proto` ones (pinned as a
dev dependency): same field names, numbers, types and enum values, so the same bytes decode the
same way. And the collector never imports the `opentelemetry.proto` modules, of which
`xds-protos` installs an old copy over the official one."""

from __future__ import annotations

import subprocess
import sys

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from pilotfish.ui import otlp_schema

OFFICIAL = {
    m.DESCRIPTOR.name: m.DESCRIPTOR
    for m in (
        common_pb2.AnyValue, common_pb2.ArrayValue, common_pb2.KeyValueList, common_pb2.KeyValue,
        resource_pb2.Resource, trace_pb2.Status, trace_pb2.Span, trace_pb2.ScopeSpans,
        trace_pb2.ResourceSpans, trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse, common_pb2.InstrumentationScope,
        logs_pb2.LogRecord, logs_pb2.ScopeLogs, logs_pb2.ResourceLogs,
        logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse,
        metrics_pb2.NumberDataPoint, metrics_pb2.HistogramDataPoint,
        metrics_pb2.ExponentialHistogramDataPoint, metrics_pb2.SummaryDataPoint,
        metrics_pb2.Gauge, metrics_pb2.Sum, metrics_pb2.Histogram,
        metrics_pb2.ExponentialHistogram, metrics_pb2.Summary, metrics_pb2.Metric,
        metrics_pb2.ScopeMetrics, metrics_pb2.ResourceMetrics,
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
    )
}  # fmt: skip


def _shape(field: FieldDescriptor) -> tuple[object, ...]:
    target = field.message_type or field.enum_type
    repeated = field.is_repeated
    oneof = field.containing_oneof.name if field.containing_oneof else None
    return (field.number, field.type, repeated, target.name if target else None, oneof)


def _enums(descriptor: Descriptor) -> dict[str, list[tuple[str, int]]]:
    return {e.name: [(v.name, v.number) for v in e.values] for e in descriptor.enum_types}


def test_every_field_is_otlps() -> None:
    assert set(otlp_schema.CLASSES) == set(OFFICIAL)
    for name, message in otlp_schema.CLASSES.items():
        ours, official = message.DESCRIPTOR, OFFICIAL[name]
        for field in ours.fields:
            assert _shape(field) == _shape(official.fields_by_name[field.name]), (name, field.name)
        assert _enums(ours) == _enums(official), name


def test_the_top_level_severity_enum_is_otlps() -> None:
    ours = otlp_schema.CLASSES["LogRecord"].DESCRIPTOR.fields_by_name["severity_number"]
    official = logs_pb2.SeverityNumber.DESCRIPTOR
    assert [(v.name, v.number) for v in ours.enum_type.values] == [
        (v.name, v.number) for v in official.values
    ]


def test_an_official_logs_and_metrics_export_decode() -> None:
    logs = logs_service_pb2.ExportLogsServiceRequest()
    record = (
        logs.resource_logs.add()
        .scope_logs.add()
        .log_records.add(severity_number=logs_pb2.SEVERITY_NUMBER_INFO2, time_unix_nano=7)
    )
    record.body.string_value = "GET /status/418"
    record.attributes.add(key="pod").value.string_value = "curl-0"
    ours = otlp_schema.ExportLogsServiceRequest.FromString(logs.SerializeToString())
    (decoded,) = ours.resource_logs[0].scope_logs[0].log_records
    assert (decoded.body.string_value, decoded.severity_number, decoded.time_unix_nano) == (
        "GET /status/418", 10, 7,
    )  # fmt: skip
    metrics = metrics_service_pb2.ExportMetricsServiceRequest()
    scope = metrics.resource_metrics.add().scope_metrics.add()
    scope.metrics.add(name="a").sum.data_points.add(as_int=3)
    scope.metrics.add(name="b").histogram.data_points.add(count=2)
    ours = otlp_schema.ExportMetricsServiceRequest.FromString(metrics.SerializeToString())
    a, b = ours.resource_metrics[0].scope_metrics[0].metrics
    assert (a.WhichOneof("data"), len(a.sum.data_points)) == ("sum", 1)
    assert (b.WhichOneof("data"), len(b.histogram.data_points)) == ("histogram", 1)


def test_an_official_export_decodes_to_the_same_message() -> None:
    request = trace_service_pb2.ExportTraceServiceRequest()
    span = (
        request.resource_spans.add()
        .scope_spans.add()
        .spans.add(trace_id=b"\x01" * 16, name="x", kind=trace_pb2.Span.SPAN_KIND_CLIENT)
    )
    span.attributes.add(key="k").value.int_value = 7
    span.events.add(name="skipped by ours")
    ours = otlp_schema.ExportTraceServiceRequest.FromString(request.SerializeToString())
    (decoded,) = ours.resource_spans[0].scope_spans[0].spans
    assert (decoded.name, decoded.kind, decoded.attributes[0].value.int_value) == ("x", 3, 7)


def test_the_collector_never_imports_the_opentelemetry_protos() -> None:
    code = (
        "import sys, pilotfish.ui.collector; "
        "print(any(m.startswith('opentelemetry') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
