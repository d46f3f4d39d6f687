"""The mesh's trace collector: a small Zipkin server, since none can be installed here.

Speaks the Zipkin v2 HTTP API that Envoy's Zipkin tracer posts to and that Zipkin and Jaeger UIs
query: `POST /api/v2/spans` (JSON list of spans), `GET /api/v2/trace/{traceId}`,
`GET /api/v2/traces?serviceName=&spanName=&limit=&lookback=&endTs=`, `GET /api/v2/services`,
`GET /api/v2/spans?serviceName=`, and OTLP/HTTP's `POST /v1/traces` (protobuf or JSON, converted
to Zipkin v2 spans by `otlp`) for `opentelemetry` providers; with `--grpc`, OTLP over gRPC
instead (`TraceService/Export`, Envoy's OpenTelemetry tracer's default, on the port the
provider names: Istio's Jaeger task's 4317). Both OTLP transports are `otlp_receiver`'s.
Spans are kept in SQLite (`SpanStore`), one row per span with its Zipkin JSON, so a later
reader (the web UI) can use the same store or the same API.

Run as `python -m pilotfish.ui.collector --address A --port 9411 --db FILE` (what `pilotfish up`
does when a tracing provider names a host the mesh does not have).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web

from pilotfish.ui import otlp, otlp_receiver

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_id TEXT, name TEXT, kind TEXT,
    service TEXT, timestamp INTEGER, duration INTEGER, body TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id, kind)
);
CREATE INDEX IF NOT EXISTS spans_service ON spans (service, timestamp);
"""


class SpanStore:
    """Zipkin v2 spans in SQLite. Trace ids are stored lower-case, left-padded to 16/32 hex."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path))
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def add(self, spans: list[dict[str, Any]]) -> int:
        rows = []
        for span in spans:
            if not isinstance(span, dict) or not span.get("traceId") or not span.get("id"):
                raise ValueError("every span needs traceId and id")
            rows.append(
                (
                    _trace_id(str(span["traceId"])),
                    str(span["id"]).lower(),
                    span.get("parentId"),
                    str(span.get("name") or ""),
                    str(span.get("kind") or ""),
                    str((span.get("localEndpoint") or {}).get("serviceName") or ""),
                    int(span.get("timestamp") or 0),
                    int(span.get("duration") or 0),
                    json.dumps(span, sort_keys=True),
                )
            )
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO spans VALUES (?,?,?,?,?,?,?,?,?)", rows)
        return len(rows)

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT body FROM spans WHERE trace_id = ? ORDER BY timestamp, span_id",
            (_trace_id(trace_id),),
        )
        return [json.loads(body) for (body,) in rows]

    def services(self) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT service FROM spans WHERE service != ''")
        return sorted(service for (service,) in rows)

    def span_names(self, service: str) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT name FROM spans WHERE service = ?", (service,))
        return sorted(name for (name,) in rows)

    def traces(
        self, service: str = "", span_name: str = "", end_us: int = 0, lookback_us: int = 0,
        limit: int = 10,
    ) -> list[list[dict[str, Any]]]:  # fmt: skip
        """Newest traces first that have a span matching the filters."""
        end_us = end_us or int(time.time() * 1e6)
        start_us = end_us - lookback_us if lookback_us else 0
        query = "SELECT trace_id, MAX(timestamp) AS t FROM spans WHERE timestamp BETWEEN ? AND ?"
        args: list[Any] = [start_us, end_us]
        if service:
            query += " AND service = ?"
            args.append(service)
        if span_name:
            query += " AND name = ?"
            args.append(span_name)
        query += " GROUP BY trace_id ORDER BY t DESC LIMIT ?"
        args.append(limit)
        ids = [trace_id for trace_id, _ in self.db.execute(query, args)]
        return [self.trace(trace_id) for trace_id in ids]


def _trace_id(raw: str) -> str:
    text = raw.lower()
    return text.rjust(32 if len(text) > 16 else 16, "0")


def _int(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name, "")
    if not value:
        return default
    if not value.isdigit():
        raise web.HTTPBadRequest(text=f"{name} must be a number\n")
    return int(value)


def make_app(store: SpanStore) -> web.Application:
    async def post_spans(request: web.Request) -> web.Response:
        try:
            spans = json.loads(await request.read())
            if not isinstance(spans, list):
                raise ValueError("the body must be a JSON list of spans")
            store.add(spans)
        except (ValueError, TypeError) as exc:
            return web.Response(status=400, text=f"{exc}\n")
        return web.Response(status=202)

    async def get_trace(request: web.Request) -> web.Response:
        spans = store.trace(request.match_info["trace_id"])
        if not spans:
            return web.Response(status=404, text="trace not found\n")
        return web.json_response(spans)

    async def get_traces(request: web.Request) -> web.Response:
        found = store.traces(
            service=request.query.get("serviceName", ""),
            span_name=request.query.get("spanName", ""),
            end_us=_int(request, "endTs", 0) * 1000,
            lookback_us=_int(request, "lookback", 0) * 1000,
            limit=_int(request, "limit", 10),
        )
        return web.json_response(found)

    async def get_services(_: web.Request) -> web.Response:
        return web.json_response(store.services())

    async def get_span_names(request: web.Request) -> web.Response:
        return web.json_response(store.span_names(request.query.get("serviceName", "")))

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/api/v2/spans", post_spans)
    otlp_receiver.add_http_routes(app, {"traces": lambda r: _add_spans(store, r)})
    app.router.add_get("/api/v2/spans", get_span_names)
    app.router.add_get("/api/v2/trace/{trace_id}", get_trace)
    app.router.add_get("/api/v2/traces", get_traces)
    app.router.add_get("/api/v2/services", get_services)
    return app


def _add_spans(store: SpanStore, request: Any) -> None:
    store.add(otlp.zipkin_spans(request))


def grpc_server(store: SpanStore, address: str, port: int) -> tuple[grpc.aio.Server, int]:
    """OTLP over gRPC (`TraceService/Export`) into `store`; and the port bound."""
    return otlp_receiver.grpc_server({"traces": lambda r: _add_spans(store, r)}, address, port)


async def serve(address: str, port: int, db: Path, grpc_only: bool = False) -> None:
    store = SpanStore(db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if grpc_only:
        server = grpc_server(store, address, port)[0]
        await server.start()
        print(f"trace collector (OTLP over gRPC) on {address}:{port}", flush=True)
        await stop.wait()
        await server.stop(None)
    else:
        runner = web.AppRunner(make_app(store), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, address, port, reuse_address=True).start()
        print(f"trace collector on http://{address}:{port}/api/v2/", flush=True)
        await stop.wait()
        await runner.cleanup()
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="pilotfish's trace collector (Zipkin v2 API)")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9411)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--grpc", action="store_true", help="OTLP over gRPC only")
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.port, args.db, args.grpc))


if __name__ == "__main__":
    main()
