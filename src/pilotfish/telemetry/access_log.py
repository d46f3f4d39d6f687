"""Access logs as Istio writes them: Envoy's file logger with Istio's default text format or its
JSON keys, per the mesh config (`accessLogFile`, `accessLogEncoding`, `accessLogFormat`) or the
Telemetry API's `accessLogging` (providers, `disabled`, `match.mode`, `filter.expression` as a
CEL access-log filter).

`/dev/stdout` is the Envoy's output, which the agent writes to the instance's `envoy.log`: what
`pilotfish logs POD -c istio-proxy` shows, as `kubectl logs POD -c istio-proxy` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import base_pb2, substitution_format_string_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2
from google.protobuf import struct_pb2

from pilotfish.telemetry.envoy import pack

FILE_LOGGER = "envoy.access_loggers.file"
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


def file_access_log(log: FileLog) -> accesslog_pb2.AccessLog:
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
    access_log = accesslog_pb2.AccessLog(name=FILE_LOGGER, typed_config=pack(config))
    if log.filter:
        access_log.filter.extension_filter.name = CEL_FILTER
        access_log.filter.extension_filter.typed_config.CopyFrom(
            pack(cel_pb2.ExpressionFilter(expression=log.filter))
        )
    return access_log
