"""Access logs as Istio writes them: Envoy's file logger with Istio's default text format or its
JSON keys, per the mesh config (`accessLogFile`, `accessLogEncoding`, `accessLogFormat`) or the
Telemetry API's `accessLogging` (providers, `disabled`, `match.mode`, `filter.expression` as a
CEL access-log filter); and an `envoyOtelAls` provider's OpenTelemetry logger (`OtelLog`), as
Istio builds it (`openTelemetryLog` in pilot/pkg/model/telemetry_logging.go): OTLP over gRPC to
the provider's outbound cluster, log name `otel_envoy_accesslog` unless `logName`, the body
`logFormat.text` (else Istio's default text format), `logFormat.labels` as the record's
attributes (none by default), Envoy's built-in resource labels off, and the peer filter-state
objects Istio names. `access_log` builds either, with the same filter.

`/dev/stdout` is the Envoy's output, which the agent writes to the instance's `envoy.log`: what
`pilotfish logs POD -c istio-proxy` shows, as `kubectl logs POD -c istio-proxy` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import (
    base_pb2,
    config_source_pb2,
    grpc_service_pb2,
    substitution_format_string_pb2,
)
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2
from envoy.extensions.access_loggers.grpc.v3 import als_pb2
from envoy.extensions.access_loggers.open_telemetry.v3 import logs_service_pb2
from google.protobuf import struct_pb2

from pilotfish.telemetry.envoy import pack

FILE_LOGGER = "envoy.access_loggers.file"
OTEL_LOGGER = "envoy.access_loggers.open_telemetry"
OTEL_LOG_NAME = "otel_envoy_accesslog"  # Istio's default `logName`
# the filter-state objects Istio's OTel logger names (its peer metadata, old and new keys)
OTEL_FILTER_STATE = (
    "upstream_peer", "downstream_peer", "wasm.upstream_peer", "wasm.upstream_peer_id",
    "wasm.downstream_peer", "wasm.downstream_peer_id",
)  # fmt: skip
CEL_FILTER = "envoy.access_loggers.extension_filters.cel"
STDOUT = "/dev/stdout"

# Istio's default text format (pilot/pkg/model/telemetry_logging.go, 1.24 and later).
ISTIO_TEXT_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% '
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
    "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"
)
# Istio's JSON keys (EnvoyJSONLogFormatIstio), with the same operators.
ISTIO_JSON_FORMAT: dict[str, str] = {
    "start_time": "%START_TIME%",
    "route_name": "%ROUTE_NAME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "duration": "%DURATION%",
    "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
    "user_agent": "%REQ(USER-AGENT)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "authority": "%REQ(:AUTHORITY)%",
    "upstream_host": "%UPSTREAM_HOST%",
    "upstream_cluster": "%UPSTREAM_CLUSTER_RAW%",
    "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%",
    "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "requested_server_name": "%REQUESTED_SERVER_NAME%",
    "upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
}


@dataclass(frozen=True)
class FileLog:
    """One file access log to write: where, in what format, for which requests."""

    path: str = STDOUT
    text: str = ""  # a text format ("" = Istio's default, unless `labels`)
    labels: tuple[tuple[str, str], ...] = ()  # JSON keys -> operators
    json: bool = False  # Istio's JSON keys (accessLogEncoding: JSON) when no labels
    filter: str = ""  # CEL expression; only requests where it is true are logged


@dataclass(frozen=True)
class OtelLog:
    """One OpenTelemetry access log (`envoyOtelAls`): where, what body and attributes, for
    which requests."""

    cluster: str  # the provider's outbound cluster
    authority: str  # its service's hostname
    log_name: str = OTEL_LOG_NAME
    text: str = ""  # the body's format ("" = Istio's default text format)
    labels: tuple[tuple[str, str], ...] = ()  # attributes -> operators
    filter: str = ""  # CEL expression; only requests where it is true are logged


def access_log(log: FileLog | OtelLog) -> accesslog_pb2.AccessLog:
    """The Envoy access log for `log`, with its CEL filter when it has one."""
    access_log = _file_access_log(log) if isinstance(log, FileLog) else _otel_access_log(log)
    if log.filter:
        access_log.filter.extension_filter.name = CEL_FILTER
        access_log.filter.extension_filter.typed_config.CopyFrom(
            pack(cel_pb2.ExpressionFilter(expression=log.filter))
        )
    return access_log


def _otel_access_log(log: OtelLog) -> accesslog_pb2.AccessLog:
    grpc = grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=log.cluster, authority=log.authority)
    config = logs_service_pb2.OpenTelemetryAccessLogConfig(
        common_config=als_pb2.CommonGrpcAccessLogConfig(
            log_name=log.log_name,
            grpc_service=grpc_service_pb2.GrpcService(envoy_grpc=grpc),
            transport_api_version=config_source_pb2.V3,
            filter_state_objects_to_log=OTEL_FILTER_STATE,
        ),
        disable_builtin_labels=True,
    )
    config.body.string_value = log.text or ISTIO_TEXT_FORMAT  # as Istio: no newline added
    for key, operator in sorted(log.labels):  # Istio sorts them (stable config)
        config.attributes.values.add(key=key).value.string_value = operator
    return accesslog_pb2.AccessLog(name=OTEL_LOGGER, typed_config=pack(config))


def _file_access_log(log: FileLog) -> accesslog_pb2.AccessLog:
    if log.labels or log.json:
        fields = struct_pb2.Struct()
        fields.update(dict(log.labels) if log.labels else ISTIO_JSON_FORMAT)
        log_format = substitution_format_string_pb2.SubstitutionFormatString(json_format=fields)
    else:
        text = log.text or ISTIO_TEXT_FORMAT
        log_format = substitution_format_string_pb2.SubstitutionFormatString(
            text_format_source=base_pb2.DataSource(
                inline_string=text if text.endswith("\n") else text + "\n"
            )
        )
    config = file_pb2.FileAccessLog(path=log.path, log_format=log_format)
    return accesslog_pb2.AccessLog(name=FILE_LOGGER, typed_config=pack(config))
