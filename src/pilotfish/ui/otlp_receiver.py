"""OTLP receiving, one implementation for every receiver pilotfish has: the mesh's trace
collector (`collector`) and the OpenTelemetry Collector stand-in (samples/open-telemetry, which
Istio's OpenTelemetry access log task deploys).

Three signals (`SIGNALS`: traces, logs, metrics), each over both of OTLP's transports: gRPC
(`opentelemetry.proto.collector.<signal>.v1.<Signal>Service/Export`; `grpc_server`) and HTTP
(`POST /v1/<signal>`, protobuf or its JSON mapping, answered in the same encoding;
`add_http_routes`). A receiver gives a `Handler` per signal it takes: it gets the decoded
`Export<Signal>ServiceRequest` (`otlp_schema`'s classes, never the `opentelemetry.proto`
modules) and raises ValueError to refuse it (gRPC `INVALID_ARGUMENT`, HTTP 400). A body that is
no such export is refused the same way. Every answer is an empty `Export<Signal>ServiceResponse`
(full success).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from pilotfish.ui import otlp_schema

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
GRPC_PORT, HTTP_PORT = 4317, 4318  # OTLP's default ports


@dataclass(frozen=True)
class Signal:
    name: str  # traces | logs | metrics
    service: str  # the gRPC service (its method: Export)
    path: str  # OTLP/HTTP's default path
    request: Any  # the Export*ServiceRequest class


SIGNALS = {
    signal.name: signal
    for signal in (
        Signal("traces", "opentelemetry.proto.collector.trace.v1.TraceService", "/v1/traces",
               otlp_schema.ExportTraceServiceRequest),
        Signal("logs", "opentelemetry.proto.collector.logs.v1.LogsService", "/v1/logs",
               otlp_schema.ExportLogsServiceRequest),
        Signal("metrics", "opentelemetry.proto.collector.metrics.v1.MetricsService",
               "/v1/metrics", otlp_schema.ExportMetricsServiceRequest),
    )
}  # fmt: skip
Handler = Callable[[Any], None]  # the decoded request; ValueError refuses it


def decode(signal: Signal, body: bytes, content_type: str = PROTOBUF) -> Any:
    """`body` as the signal's export request; ValueError when it is not one."""
    request = signal.request()
    try:
        if content_type.split(";")[0].strip() == JSON:
            json_format.Parse(body, request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(body)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError) as exc:
        raise ValueError(f"not an OTLP {signal.request.__name__}: {exc}") from exc
    return request


def grpc_server(
    handlers: Mapping[str, Handler], address: str, port: int
) -> tuple[grpc.aio.Server, int]:
    """A gRPC server (not started) with `Export` of each signal in `handlers`; and the port
    bound (0 asks for any)."""
    server = grpc.aio.server()
    for name, handler in handlers.items():
        signal = SIGNALS[name]
        method = grpc.unary_unary_rpc_method_handler(_grpc_export(signal, handler))
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(signal.service, {"Export": method}),)
        )
    return server, server.add_insecure_port(f"{address}:{port}")


def _grpc_export(
    signal: Signal, handler: Handler
) -> Callable[[bytes, grpc.aio.ServicerContext[bytes, bytes]], Awaitable[bytes]]:
    async def export(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        try:
            handler(decode(signal, request))
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return b""  # an empty Export*ServiceResponse

    return export


def add_http_routes(app: web.Application, handlers: Mapping[str, Handler]) -> None:
    """`POST /v1/<signal>` on `app` for each signal in `handlers`."""
    for name, handler in handlers.items():
        signal = SIGNALS[name]
        app.router.add_post(signal.path, _http_export(signal, handler))


def _http_export(
    signal: Signal, handler: Handler
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def export(request: web.Request) -> web.Response:
        try:
            handler(decode(signal, await request.read(), request.content_type))
        except ValueError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        if request.content_type == JSON:
            return web.Response(text="{}", content_type=JSON)
        return web.Response(body=b"", content_type=PROTOBUF)

    return export
