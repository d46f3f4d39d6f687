"""Unit tests: the trace collector's span store and its Zipkin v2 HTTP API (a real aiohttp
server on loopback, queried over a socket)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from pilotfish.config.mesh_telemetry import Provider
from pilotfish.telemetry.tracing import collector_ports
from pilotfish.ui.collector import SpanStore, grpc_server, make_app
from pilotfish.ui.otlp_receiver import SIGNALS

OTLP_GRPC_SERVICE = SIGNALS["traces"].service

TRACE = "463ac35c9f6413ad48485a3953bb6124"


def _span(
    span_id: str, parent: str | None, service: str, ts: int, kind: str = "SERVER"
) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": TRACE, "id": span_id, "name": f"{service}:9080/*", "kind": kind,
        "timestamp": ts, "duration": 10, "localEndpoint": {"serviceName": service},
    }  # fmt: skip
    if parent:
        span["parentId"] = parent
    return span


def test_store_keeps_spans_by_trace_and_service(tmp_path: Path) -> None:
    store = SpanStore(tmp_path / "t.sqlite")
    store.add(
        [_span("a" * 16, None, "gateway", 1_000), _span("b" * 16, "a" * 16, "reviews", 2_000)]
    )
    assert [s["id"] for s in store.trace(TRACE.upper())] == ["a" * 16, "b" * 16]
    assert store.services() == ["gateway", "reviews"]
    assert store.span_names("reviews") == ["reviews:9080/*"]
    assert [len(t) for t in store.traces(service="reviews", end_us=3_000)] == [2]
    assert store.traces(service="reviews", end_us=3_000, lookback_us=500) == []
    store.add([_span("a" * 16, None, "gateway", 1_000)])  # a resent span replaces itself
    assert len(store.trace(TRACE)) == 2


def test_zipkin_api_round_trip(tmp_path: Path) -> None:
    async def scenario() -> None:
        runner = web.AppRunner(make_app(SpanStore(tmp_path / "t.sqlite")))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}/api/v2"

        def call(path: str, body: object | None = None) -> tuple[int, object]:
            data = json.dumps(body).encode() if body is not None else None
            request = urllib.request.Request(
                base + path, data=data, method="POST" if data else "GET"
            )
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(request, timeout=5) as resp:
                    text = resp.read()
                    return resp.status, json.loads(text) if text else None
            except urllib.error.HTTPError as err:
                return err.code, None

        try:
            spans = [_span("a" * 16, None, "gateway", 1_000), _span("b" * 16, "a" * 16, "x", 2_000)]
            assert await asyncio.to_thread(call, "/spans", spans) == (202, None)
            status, found = await asyncio.to_thread(call, f"/trace/{TRACE}")
            assert status == 200 and isinstance(found, list) and len(found) == 2
            assert await asyncio.to_thread(call, "/services") == (200, ["gateway", "x"])
            assert (await asyncio.to_thread(call, "/trace/00ff"))[0] == 404
            assert (await asyncio.to_thread(call, "/spans", {"not": "a list"}))[0] == 400
            assert (await asyncio.to_thread(call, "/traces?limit=x"))[0] == 400
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def _otlp_export() -> bytes:
    span = trace_pb2.Span(
        trace_id=bytes.fromhex(TRACE), span_id=bytes.fromhex("c" * 16),
        parent_span_id=bytes.fromhex("a" * 16), name="reviews:9080/*",
        kind=trace_pb2.Span.SPAN_KIND_SERVER, start_time_unix_nano=5_000_000,
        end_time_unix_nano=7_500_000,
        attributes=[common_pb2.KeyValue(key="http.status_code",
                                        value=common_pb2.AnyValue(string_value="503"))],
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR),
    )  # fmt: skip
    resource = resource_pb2.Resource(
        attributes=[
            common_pb2.KeyValue(
                key="service.name", value=common_pb2.AnyValue(string_value="reviews.default")
            )
        ]
    )
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource, scope_spans=[trace_pb2.ScopeSpans(spans=[span])]
            )
        ]
    )
    return bytes(request.SerializeToString())


def test_otlp_http_export_becomes_zipkin_spans(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SpanStore(tmp_path / "t.sqlite")
        runner = web.AppRunner(make_app(store))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/traces"

        def post(body: bytes) -> tuple[int, bytes]:
            request = urllib.request.Request(
                url, data=body, headers={"Content-Type": "application/x-protobuf"}
            )
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(request, timeout=5) as resp:
                    return resp.status, resp.read()
            except urllib.error.HTTPError as err:
                return err.code, b""

        try:
            status, answer = await asyncio.to_thread(post, _otlp_export())
            assert status == 200
            trace_service_pb2.ExportTraceServiceResponse().ParseFromString(answer)
            assert (await asyncio.to_thread(post, b"\xff\xff not protobuf"))[0] == 400
        finally:
            await runner.cleanup()
        (span,) = store.trace(TRACE)
        assert span == {
            "traceId": TRACE, "id": "c" * 16, "parentId": "a" * 16, "name": "reviews:9080/*",
            "kind": "SERVER", "timestamp": 5_000, "duration": 2_500,
            "localEndpoint": {"serviceName": "reviews.default"},
            "tags": {"http.status_code": "503", "error": "true"},
        }  # fmt: skip

    asyncio.run(scenario())


def test_otlp_grpc_export_becomes_zipkin_spans(tmp_path: Path) -> None:
    """Envoy's OpenTelemetry tracer's default transport (Istio's Jaeger task, port 4317): a real
    gRPC call of `TraceService/Export` on a loopback port, then a body that is no export."""

    async def scenario() -> None:
        store = SpanStore(tmp_path / "t.sqlite")
        server, port = grpc_server(store, "127.0.0.1", 0)
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                export = channel.unary_unary(f"/{OTLP_GRPC_SERVICE}/Export")
                answer = await export(_otlp_export(), timeout=5)
                trace_service_pb2.ExportTraceServiceResponse().ParseFromString(answer)
                try:
                    await export(b"\xff\xff not protobuf", timeout=5)
                    raise AssertionError("a body that is no export was taken")
                except grpc.aio.AioRpcError as err:
                    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
        finally:
            await server.stop(None)
        (span,) = store.trace(TRACE)
        assert (span["name"], span["localEndpoint"]) == (
            "reviews:9080/*", {"serviceName": "reviews.default"},
        )  # fmt: skip

    asyncio.run(scenario())


def test_collector_ports_for_grpc_providers() -> None:
    """OTLP over gRPC on the provider's port, and the Zipkin port beside it for the query API;
    providers whose host is a service of the mesh need none."""
    host = "jaeger-collector.istio-system.svc.cluster.local"
    jaeger = Provider("jaeger", "opentelemetry", service=host, port=4317)
    http = Provider("otel-http", "opentelemetry", service="otel.observability", otel_http=True)
    zipkin = Provider("zipkin", "zipkin", service="zipkin.istio-system")
    inside = {host}
    assert collector_ports((jaeger,), set()) == [(4317, True), (9411, False)]
    assert collector_ports((jaeger, http, zipkin), set()) == [
        (4317, True), (4318, False), (9411, False),
    ]  # fmt: skip
    assert collector_ports((jaeger,), inside) == []
    assert collector_ports((zipkin,), set()) == [(9411, False)]
