"""The collector's own OTLP messages against the official `opentelemetry-proto` ones (pinned as a
dev dependency): same field names, numbers, types and enum values, so the same bytes decode the
same way. And the collector never imports the `opentelemetry.proto` modules, of which
`xds-protos` installs an old copy over the official one."""

from __future__ import annotations

import subprocess
import sys

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from pilotfish.ui import otlp_schema

OFFICIAL = {
    m.DESCRIPTOR.name: m.DESCRIPTOR
    for m in (
        common_pb2.AnyValue, common_pb2.ArrayValue, common_pb2.KeyValueList, common_pb2.KeyValue,
        resource_pb2.Resource, trace_pb2.Status, trace_pb2.Span, trace_pb2.ScopeSpans,
        trace_pb2.ResourceSpans, trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
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
