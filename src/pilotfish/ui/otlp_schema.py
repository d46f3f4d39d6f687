"""The part of OTLP's trace protobufs the collector reads, as message classes of pilotfish's own.

`xds-protos` ships an old copy of the `opentelemetry.proto` modules (no `ScopeSpans`) into the
same package directory as `opentelemetry-proto`: whichever pip installs last wins, silently, and
with the old copy an OTLP export decodes to no spans. Importing neither, the collector cannot get
the wrong copy. The wire format only knows field numbers and types: these are OTLP's
(opentelemetry-proto v1.x, `collector/trace/v1`, `trace/v1`, `resource/v1`, `common/v1`), under
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
}  # fmt: skip
_ENUMS = {  # nested in: (message, enum, values)
    "SpanKind": ("Span", ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]),
    "StatusCode": ("Status", ["UNSET", "OK", "ERROR"]),
}
_ENUM_PREFIX = {"SpanKind": "SPAN_KIND_", "StatusCode": "STATUS_CODE_"}
_ONEOF_VALUE = "AnyValue"  # AnyValue's fields are the oneof `value`


def _field(message: descriptor_pb2.DescriptorProto, spec: tuple[str, int, str, bool]) -> None:
    name, number, kind, repeated = spec
    field = message.field.add(name=name, number=number)
    field.label = _REPEATED if repeated else _OPTIONAL
    if kind in _SCALARS:
        field.type = _SCALARS[kind]
    elif kind.startswith("enum:"):
        enum = kind.removeprefix("enum:")
        field.type, field.type_name = _F.TYPE_ENUM, f".{_PACKAGE}.{_ENUMS[enum][0]}.{enum}"
    else:
        field.type, field.type_name = _F.TYPE_MESSAGE, f".{_PACKAGE}.{kind}"
    if message.name == _ONEOF_VALUE:
        field.oneof_index = 0


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="pilotfish/otlp/v1/otlp_trace.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        message = proto.message_type.add(name=name)
        if name == _ONEOF_VALUE:
            message.oneof_decl.add(name="value")
        for spec in fields:
            _field(message, spec)
    for enum, (parent, values) in _ENUMS.items():
        holder = next(m for m in proto.message_type if m.name == parent)
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
