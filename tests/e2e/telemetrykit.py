"""Helpers for the telemetry end-to-end tests: scrape a Prometheus endpoint the way Prometheus
does (text format, parsed by prometheus_client), a small app that echoes the request headers
it receives and serves its own metrics (for 15020's merge), and tracing's set-up (the legacy
`istio-tracing` ConfigMap, B3 headers that start a trace)."""

from __future__ import annotations

import secrets
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# Kiali's groupBy for HTTP series (kiali/kiali graph/telemetry/istio): a series missing one of
# these is dropped from the graph. grpc_response_status is empty for plain HTTP in Istio too.
KIALI_HTTP_LABELS = (
    "source_workload_namespace", "source_workload", "source_canonical_service",
    "source_canonical_revision", "destination_service_namespace", "destination_service",
    "destination_service_name", "destination_workload_namespace", "destination_workload",
    "destination_canonical_service", "destination_canonical_revision", "request_protocol",
    "response_code", "response_flags",
)  # fmt: skip


ISTIO_TRACING = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio-tracing}
data:
  zipkin: |
    enabled: true
    endpoint: http://zipkin.istio-system:9411/api/v2/spans
"""
"""The seed's legacy `istio-tracing` ConfigMap: Zipkin tracing, into the mesh's own collector."""


def b3(sampled: str = "1") -> tuple[str, dict[str, str]]:
    """A new trace id, and the B3 headers that start that trace (sampled or not)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    headers = {"x-b3-traceid": trace_id, "x-b3-spanid": span_id, "x-b3-sampled": sampled}
    return trace_id, headers


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def fetch(url: str) -> str:
    with _DIRECT.open(url, timeout=10) as resp:
        return str(resp.read().decode())


def scrape(url: str) -> list[Sample]:
    text = fetch(url)
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)), f"a family printed twice by {url}"
    return [
        Sample(s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def select(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in select(samples, name, **labels))


def poll(check: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, AssertionError, KeyError, ValueError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last})")


PROBE_APP = """
import os
from aiohttp import web

hits = 0

async def headers(request):
    global hits
    hits += 1
    await request.read()
    return web.json_response(dict(request.headers))

async def metrics(request):
    text = "# TYPE probe_app_hits_total counter\\nprobe_app_hits_total %d\\n" % hits
    return web.Response(text=text)

app = web.Application()
app.router.add_route("*", "/headers", headers)
app.router.add_get("/metrics", metrics)
web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)
"""


def probe_manifest(apps: Path) -> str:
    """Service `probe` (port 8000 -> 8080): echoes request headers as JSON, and serves its own
    metrics on /metrics, declared with Istio's prometheus.io annotations; its 15090 also shows
    its outbound clusters' stats (`proxyStatsMatcher`, as Istio's fortio sample asks)."""
    app = apps / "probe_app.py"
    app.write_text(PROBE_APP)
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: probe, labels: {{app: probe}}}}
spec:
  ports: [{{name: http, port: 8000, targetPort: 8080}}]
  selector: {{app: probe}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata:
  name: probe-v1
  labels: {{app: probe, version: v1}}
  annotations:
    prometheus.io/scrape: "true"
    prometheus.io/port: "8080"
    prometheus.io/path: /metrics
    proxy.istio.io/config: "proxyStatsMatcher: {{inclusionPrefixes: [cluster.outbound]}}"
spec:
  command: ["{sys.executable}", "{app}"]
  ports: [8080]
"""
