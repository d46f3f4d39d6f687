"""Tracing through real Envoys into the mesh's own collector, read back through the Zipkin v2
API: the seed's legacy `istio-tracing` ConfigMap with Istio's default 1% sampling, B3 and W3C
`traceparent` decisions honoured, a whole Bookinfo trace with its parent-child links, and the
legacy `defaultConfig.tracing.zipkin.address` a Telemetry selecting no provider turns off, the
Telemetry API (sampling, custom tags, disableSpanReporting), OpenTelemetry providers over OTLP/HTTP
and OTLP/gRPC. One mesh; tests run in order.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.httpkit import apply_yaml, delete_yaml
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.e2e.telemetrykit import ISTIO_TRACING, b3, fetch, poll

from pilotfish.agent.bootstrap import TRACER_FLUSH_MS

NET = "samples/bookinfo/networking"
# ingress (server + client span), productpage (server, client to details, client to reviews),
# details and reviews (server): 7 spans; reviews v2/v3 add a client and a ratings server span
HOPS = 7
FLUSH_SECONDS = TRACER_FLUSH_MS / 1000  # how often the sidecars' tracers send their spans


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/bookinfo") as mesh:
        yield mesh


def collector(mesh: LocalMesh) -> str:
    (url,) = mesh.info["trace_collectors"]
    return str(url)


def zipkin(mesh: LocalMesh, path: str) -> Any:
    return json.loads(fetch(f"{collector(mesh)}/api/v2{path}"))


def trace(mesh: LocalMesh, trace_id: str) -> list[dict[str, Any]]:
    try:
        spans: list[dict[str, Any]] = zipkin(mesh, f"/trace/{trace_id}")
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return []
        raise
    return spans


def test_legacy_configmap_starts_the_collector_with_istios_1_percent(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    apply_yaml(mesh, tmp_path, ISTIO_TRACING)
    mesh.wait_for(lambda: zipkin(mesh, "/services") == [], 30, "the collector")
    trace_ids = []
    for _ in range(60):  # no tracing headers: Envoy decides, at 1%
        resp = mesh.get("/productpage")
        assert resp.status == 200
    forced, headers = b3()
    assert mesh.get("/productpage", headers=headers).status == 200
    trace_ids.append(forced)
    poll(lambda: len(trace(mesh, forced)) >= HOPS, 30, "the forced trace")
    traces = zipkin(mesh, "/traces?limit=1000")
    assert len(traces) <= 6, len(traces)  # 1 forced + ~0.6 expected at 1% of 60


def test_a_bookinfo_trace_has_every_hop_with_parent_links(mesh: LocalMesh) -> None:
    mesh.apply(f"{NET}/destination-rule-all.yaml", f"{NET}/virtual-service-reviews-v3.yaml")
    trace_id, headers = b3()
    assert mesh.get("/productpage", headers=headers).status == 200
    poll(lambda: len(trace(mesh, trace_id)) >= 9, 30, "all spans of the trace")
    spans = trace(mesh, trace_id)
    by_id = {s["id"]: s for s in spans}
    assert {s["traceId"] for s in spans} == {trace_id}

    def server(service: str) -> dict[str, Any]:
        (found,) = [
            s
            for s in spans
            if s["kind"] == "SERVER" and s["localEndpoint"]["serviceName"] == service
        ]
        return found

    def caller_of(span: dict[str, Any]) -> str:
        client = by_id[span["parentId"]]
        assert client["kind"] == "CLIENT"
        return str(client["localEndpoint"]["serviceName"])

    assert caller_of(server("productpage.default")) == "istio-ingressgateway.istio-system"
    assert caller_of(server("details.default")) == "productpage.default"
    assert caller_of(server("reviews.default")) == "productpage.default"
    assert caller_of(server("ratings.default")) == "reviews.default"
    gateway = server("istio-ingressgateway.istio-system")
    assert gateway["parentId"] == headers["x-b3-spanid"]  # the caller's span is the root's parent
    assert server("details.default")["name"] == "details.default.svc.cluster.local:9080/*"
    # Istio's span names for the gateway's route, an exact match (GetRouteOperation), which the
    # server sidecar takes from the gateway's x-envoy-decorator-operation
    page = "productpage.default.svc.cluster.local:9080/productpage"
    assert server("istio-ingressgateway.istio-system")["name"] == page
    assert server("productpage.default")["name"] == page
    tags = server("reviews.default")["tags"]
    assert tags["istio.canonical_service"] == "reviews" and tags["istio.namespace"] == "default"
    assert set(zipkin(mesh, "/services")) >= {
        "istio-ingressgateway.istio-system", "productpage.default", "details.default",
        "reviews.default",
    }  # fmt: skip


def test_a_caller_that_says_not_sampled_is_honoured(mesh: LocalMesh) -> None:
    trace_id, headers = b3("0")
    assert mesh.get("/productpage", headers=headers).status == 200
    forced, forced_headers = b3(
        "1"
    )  # a later, sampled request: once it is in, so would be the first
    assert mesh.get("/productpage", headers=forced_headers).status == 200
    poll(lambda: len(trace(mesh, forced)) >= HOPS, 30, "the sampled trace")
    assert trace(mesh, trace_id) == []


LEGACY_ADDRESS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    defaultConfig:
      tracing:
        zipkin: {address: zipkin.istio-system:9411}
"""
NO_PROVIDER = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [{randomSamplingPercentage: 100}]
"""


def test_a_telemetry_selecting_no_provider_stops_the_legacy_zipkin_address(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """Istio's order: the legacy `defaultConfig.tracing.zipkin.address` (its bootstrap's
    tracer) gets the spans of a mesh without Telemetry tracing; a Telemetry whose tracing
    selects no provider (none named, no default provider) disables tracing (Telemetries.Tracing,
    configureTracingFromTelemetry): no tracing block, no span to the address."""
    delete_yaml(mesh, tmp_path, ISTIO_TRACING)  # from here, the ProxyConfig's address alone
    apply_yaml(mesh, tmp_path, LEGACY_ADDRESS, "mesh.yaml")
    proxies = mesh.info["proxies"]
    poll(
        lambda: all(tracers_and_draining(p) == ({"ZipkinConfig"}, 0) for p in proxies.values()),
        30,
        "the ProxyConfig's Zipkin address in every Envoy, the old listeners drained",
    )
    forced, headers = b3()
    assert mesh.get("/productpage", headers=headers).status == 200
    poll(lambda: len(trace(mesh, forced)) >= HOPS, 30, "the forced trace, to the legacy address")
    apply_yaml(mesh, tmp_path, NO_PROVIDER, "telemetry.yaml")
    try:
        poll(
            lambda: all(tracers_and_draining(p) == (set(), 0) for p in proxies.values()),
            30,
            "no tracer left in any Envoy, the old listeners drained",
        )
        forced, headers = b3()
        assert mesh.get("/productpage", headers=headers).status == 200
        time.sleep(10 * FLUSH_SECONDS + 1)  # a negative check: ten flushes of every tracer
        assert trace(mesh, forced) == []
    finally:
        delete_yaml(mesh, tmp_path, NO_PROVIDER)


def test_w3c_traceparent_with_the_mesh_configs_zipkin_provider(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    apply_yaml(mesh, tmp_path, """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    extensionProviders:
    - name: zipkin-w3c
      zipkin:
        service: zipkin.istio-system.svc.cluster.local
        port: 9411
        traceContextOption: USE_B3_WITH_W3C_PROPAGATION
        timeout: 3s  # Istio 1.29+'s HttpService form, which Envoy must take
        headers: [{name: x-tenant, value: bookinfo}]
    defaultProviders:
      tracing: [zipkin-w3c]
""")  # fmt: skip
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = {"traceparent": f"00-{trace_id}-{parent}-01"}

    def traced() -> bool:
        assert mesh.get("/productpage", headers=traceparent).status == 200
        return len(trace(mesh, trace_id)) >= HOPS

    poll(traced, 30, "a trace continuing the caller's traceparent")


def test_telemetry_sampling_and_custom_tags(mesh: LocalMesh, tmp_path: Path) -> None:
    apply_yaml(mesh, tmp_path, """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing:
  - randomSamplingPercentage: 100
    customTags:
      team: {literal: {value: bookinfo}}
      user: {header: {name: x-user, defaultValue: anonymous}}
""")  # fmt: skip
    user = f"alice-{secrets.token_hex(6)}"  # no tracing headers: only the sampling rate decides

    def spans() -> list[dict[str, Any]]:
        found = zipkin(mesh, "/traces?serviceName=istio-ingressgateway.istio-system&limit=50")
        return [s for t in found for s in t if s["tags"].get("user") == user]

    def sampled() -> bool:
        assert mesh.get("/productpage", headers={"x-user": user}).status == 200
        return bool(spans())

    poll(sampled, 30, "a trace sampled by randomSamplingPercentage 100")
    span = next(s for s in spans() if s["kind"] == "SERVER")
    assert span["tags"]["team"] == "bookinfo"
    for _ in range(5):
        assert mesh.get("/productpage", headers={"x-user": user}).status == 200
    poll(lambda: len({s["traceId"] for s in spans()}) >= 6, 30, "every request traced")


def test_disable_span_reporting_for_one_workload(mesh: LocalMesh, tmp_path: Path) -> None:
    apply_yaml(mesh, tmp_path, """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: quiet-productpage, namespace: default}
spec:
  selector: {matchLabels: {app: productpage}}
  tracing:
  - disableSpanReporting: true
""")  # fmt: skip
    trace_id, headers = b3()
    assert mesh.get("/productpage", headers=headers).status == 200

    def others_reported() -> bool:
        services = {s["localEndpoint"]["serviceName"] for s in trace(mesh, trace_id)}
        return {"istio-ingressgateway.istio-system", "details.default"} <= services

    poll(others_reported, 30, "spans of the other workloads")
    time.sleep(10 * FLUSH_SECONDS + 1)  # a negative check: give productpage ten flushes
    services = {s["localEndpoint"]["serviceName"] for s in trace(mesh, trace_id)}
    assert "productpage.default" not in services, services


def servers(mesh: LocalMesh, trace_id: str) -> set[str]:
    spans = trace(mesh, trace_id)
    return {s["localEndpoint"]["serviceName"] for s in spans if s.get("kind") == "SERVER"}


def tracers_and_draining(proxy: dict[str, Any]) -> tuple[set[str], int]:
    """The tracer configs in a proxy's listeners, and how many replaced listeners or filter
    chains are still draining (their connections keep the old tracer until they close)."""
    admin = f"http://{proxy['ip']}:15000"
    dump = fetch(f"{admin}/config_dump?resource=dynamic_listeners")
    tracers = set(re.findall(r"type\.googleapis\.com/envoy\.config\.trace\.v3\.(\w+)", dump))
    stats = fetch(f"{admin}/stats?filter=^listener_manager\\.total_.*_draining$")
    return tracers, sum(int(line.rsplit(":", 1)[1]) for line in stats.splitlines())


def test_an_opentelemetry_provider_sends_otlp_to_the_collector(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """Envoy's OpenTelemetry tracer (OTLP/HTTP protobuf on /v1/traces) into the same collector,
    read back through the Zipkin API. Last: it switches the mesh's default provider. The switch
    replaces every listener; a request made at once still rides pooled connections of the old
    ones (the Zipkin tracer) while they drain: none of its spans may be lost."""
    apply_yaml(mesh, tmp_path, """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    extensionProviders:
    - name: otel
      opentelemetry:
        service: otel-collector.istio-system.svc.cluster.local
        port: 9411
        http: {path: /v1/traces}
    defaultProviders:
      tracing: [otel]
""")  # fmt: skip
    during = secrets.token_hex(16)  # W3C: both tracers read it
    traceparent = {"traceparent": f"00-{during}-{secrets.token_hex(8)}-01"}
    assert mesh.get("/productpage", headers=traceparent).status == 200
    proxies = mesh.info["proxies"]

    def switched() -> bool:  # no Zipkin tracer left, not even on a draining connection
        states = {name: tracers_and_draining(p) for name, p in proxies.items()}
        gateway = states.pop("istio-ingressgateway-0.istio-system")
        return gateway == ({"OpenTelemetryConfig"}, 0) and all(
            tracers <= {"OpenTelemetryConfig"} and not draining
            for tracers, draining in states.values()
        )

    poll(switched, 30, "the opentelemetry provider in every Envoy, the old listeners drained")
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = {"traceparent": f"00-{trace_id}-{parent}-01"}
    assert mesh.get("/productpage", headers=traceparent).status == 200
    # productpage stays quiet: the Telemetry of the test above still disables its spans
    wanted = {"istio-ingressgateway.istio-system", "details.default", "reviews.default"}

    def arrived() -> bool:
        return wanted <= servers(mesh, trace_id) and wanted <= servers(mesh, during)

    try:
        poll(arrived, 30, "the OTLP trace, and every hop of the one made during the switch")
    except AssertionError as err:
        stats = {
            name: [line for line in fetch(f"http://{p['ip']}:15000/stats").splitlines()
                   if line.startswith("tracing.") and not line.endswith(": 0")]
            for name, p in proxies.items()
        }  # fmt: skip
        raise AssertionError(
            f"{err}: spans {trace(mesh, trace_id)}; during the switch {trace(mesh, during)}; "
            f"tracer stats {stats}"
        ) from None
    spans = trace(mesh, trace_id)
    assert "productpage.default" not in servers(mesh, trace_id)
    # through OTLP, not Zipkin: Envoy's Zipkin spans carry the endpoint's address, OTLP's do not
    assert all(set(s["localEndpoint"]) == {"serviceName"} for s in spans), spans
    ids = {s["id"] for s in spans}
    entry = [s for s in spans if s.get("parentId") == parent]
    assert entry and all(s.get("parentId") in ids | {parent} for s in spans)


def test_opentelemetry_follows_the_callers_traceparent_at_a_tiny_rate(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """Envoy's OpenTelemetry tracer with a sampling rate near zero: a caller's sampled
    `traceparent` (`-01`) still gives a whole trace under its trace id, a `-00` gives none.
    Runs after the OTLP test (the mesh's provider is OpenTelemetry)."""
    apply_yaml(mesh, tmp_path, """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing:
  - randomSamplingPercentage: 0.0001
""")  # fmt: skip
    proxies = mesh.info["proxies"]

    def tiny_rate_everywhere() -> bool:  # one in a million, no listener left with the old rate
        traced = 0
        for proxy in proxies.values():  # productpage has no tracer (disableSpanReporting)
            admin = f"http://{proxy['ip']}:15000"
            dump = fetch(f"{admin}/config_dump?resource=dynamic_listeners")
            rates = re.findall(r'"sampling_percentage": \{([^}]*)\}', dump)
            if any('"numerator": 1,' not in r for r in rates):
                return False
            traced += bool(rates)
        return traced >= 4 and all(not tracers_and_draining(p)[1] for p in proxies.values())

    poll(tiny_rate_everywhere, 30, "the new sampling rate in every Envoy")
    sampled, parent = secrets.token_hex(16), secrets.token_hex(8)
    unsampled = secrets.token_hex(16)
    headers = {"traceparent": f"00-{sampled}-{parent}-01"}
    assert mesh.get("/productpage", headers=headers).status == 200
    headers = {"traceparent": f"00-{unsampled}-{secrets.token_hex(8)}-00"}
    assert mesh.get("/productpage", headers=headers).status == 200
    wanted = {"istio-ingressgateway.istio-system", "details.default", "reviews.default"}
    poll(lambda: wanted <= servers(mesh, sampled), 30, "the caller's sampled trace")
    assert any(s.get("parentId") == parent for s in trace(mesh, sampled))
    time.sleep(10 * FLUSH_SECONDS + 1)  # a negative check: give every tracer ten flushes
    assert trace(mesh, unsampled) == []


OTEL_GRPC = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    extensionProviders:
    - name: otel-tracing
      opentelemetry:
        port: 4317
        service: opentelemetry-collector.observability.svc.cluster.local
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: otel-demo
spec:
  tracing:
  - providers:
    - name: otel-tracing
    randomSamplingPercentage: 100
    customTags:
      "my-attribute":
        literal:
          value: "default-value"
"""
"""Istio's "OpenTelemetry" tracing task: its provider (OTLP/gRPC to the collector the task
deploys in `observability`) and its Telemetry, as written."""


def test_an_otlp_grpc_provider_outside_the_mesh_sends_to_the_collector(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """The OpenTelemetry task's provider sends OTLP over gRPC (Envoy's default transport) to a
    host the mesh does not have: the mesh's own collector takes it on the provider's port
    (4317, HTTP/2), with no warning; a caller's sampled trace arrives there, the Telemetry's
    literal tag on its spans. (Was: "no span is sent for it".)"""
    path = tmp_path / "otel.yaml"
    path.write_text(OTEL_GRPC)
    result = mesh.pilotfish("apply", "-f", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stderr, result.stderr
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = {"traceparent": f"00-{trace_id}-{parent}-01"}
    wanted = {"details.default", "reviews.default"}

    def arrived() -> bool:
        assert mesh.get("/productpage", headers=traceparent).status == 200
        return wanted <= servers(mesh, trace_id)

    poll(arrived, 30, "the trace sent over OTLP/gRPC")
    tagged = [s for s in trace(mesh, trace_id) if s["localEndpoint"]["serviceName"] in wanted]
    assert all(s["tags"].get("my-attribute") == "default-value" for s in tagged), tagged
