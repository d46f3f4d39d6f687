"""Gauges of Envoy's `stats` access logger, a field (`Config.gauges`, number 5) Envoy 1.40 has and
the xds-protos bindings do not have yet.

The message is declared here with Envoy's field numbers and types (`Gauge`: `stat`,
`value_format`, `value_fixed`, `add_subtract`, `set`) in a descriptor of our own, and merged into
a `stats_pb2.Config` as encoded bytes: protobuf keeps them through serialisation as an unknown
field, and Envoy reads them as its `gauges`. `gauges_of` reads them back (golden files, and the
JSON given to Envoy's validation in tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from envoy.data.accesslog.v3 import accesslog_pb2 as log_data_pb2
from envoy.extensions.access_loggers.stats.v3 import stats_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2
from google.protobuf.message import Message

_PACKAGE = "pilotfish.compat.stats"
_F = descriptor_pb2.FieldDescriptorProto


def _field(name: str, number: int, kind: int, type_name: str = "", repeated: bool = False) -> Any:
    label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    field = _F(name=name, number=number, type=kind, label=label)
    if type_name:
        field.type_name = type_name
    return field


def _declare() -> tuple[type[Message], type[Message]]:
    log_type = "." + log_data_pb2.AccessLogType.DESCRIPTOR.full_name
    gauge = descriptor_pb2.DescriptorProto(
        name="Gauge",
        field=[
            _field("stat", 1, _F.TYPE_MESSAGE, "." + stats_pb2.Config.Stat.DESCRIPTOR.full_name),
            _field("value_format", 2, _F.TYPE_STRING),
            _field("value_fixed", 3, _F.TYPE_MESSAGE, ".google.protobuf.UInt64Value"),
            _field("add_subtract", 4, _F.TYPE_MESSAGE, f".{_PACKAGE}.Gauge.PairedAddSubtract"),
            _field("set", 5, _F.TYPE_MESSAGE, f".{_PACKAGE}.Gauge.Set"),
        ],
        nested_type=[
            descriptor_pb2.DescriptorProto(
                name="PairedAddSubtract",
                field=[
                    _field("add_log_type", 1, _F.TYPE_ENUM, log_type),
                    _field("sub_log_type", 2, _F.TYPE_ENUM, log_type),
                ],
            ),
            descriptor_pb2.DescriptorProto(
                name="Set", field=[_field("log_type", 1, _F.TYPE_ENUM, log_type)]
            ),
        ],
    )
    envelope = descriptor_pb2.DescriptorProto(
        name="Gauges",
        field=[_field("gauges", 5, _F.TYPE_MESSAGE, f".{_PACKAGE}.Gauge", repeated=True)],
    )
    file = descriptor_pb2.FileDescriptorProto(
        name="pilotfish/compat/stats_gauges.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=[
            stats_pb2.DESCRIPTOR.name,
            log_data_pb2.DESCRIPTOR.name,
            wrappers_pb2.DESCRIPTOR.name,
        ],
        message_type=[gauge, envelope],
    )
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(file.name)
    except KeyError:
        pool.AddSerializedFile(file.SerializeToString())
    find = pool.FindMessageTypeByName
    return (
        message_factory.GetMessageClass(find(f"{_PACKAGE}.Gauge")),
        message_factory.GetMessageClass(find(f"{_PACKAGE}.Gauges")),
    )


Gauge, _Gauges = _declare()


def set_gauge(stat: stats_pb2.Config.Stat, value_format: str, log_type: int) -> Message:
    """A gauge set to `value_format` when the access log of `log_type` is written."""
    gauge = Gauge(stat=stat, value_format=value_format)
    gauge.set.log_type = log_type
    return gauge


def add_gauges(config: stats_pb2.Config, gauges: Iterable[Message]) -> None:
    config.MergeFromString(_Gauges(gauges=list(gauges)).SerializeToString())


def gauges_of(config: stats_pb2.Config) -> list[Message]:
    return list(_Gauges.FromString(config.SerializeToString()).gauges)
