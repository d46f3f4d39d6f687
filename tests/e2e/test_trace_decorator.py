"""`x-envoy-decorator-operation` through real Envoys, with Istio's default install (no tracing
provider, no Telemetry): istiod still gives every HTTP connection manager a `tracing` block, so
a client sidecar sends its route's decorator operation (`<host>:<port>/*`, Istio's span name)
upstream, a server sidecar takes it off before its app (and off its answer back), and an app
without a sidecar sees it, as Istio's docs show it in httpbin's `/headers` echo.

sleep (with a sidecar) calls httpbin in `foo` (with one) and in `legacy` (without one). A
VirtualService route's operation is Istio's GetRouteOperation: its match's path after the one
destination's `<host>:<port>`, or after `<VirtualService name>:<port>` when it splits traffic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.httpkit import apply_yaml, delete_yaml
from tests.e2e.meshctl import ROOT, LocalMesh, running_mesh
from tests.e2e.mtlskit import http_via_sidecar
from tests.e2e.telemetrykit import fetch

HTTPBIN = ROOT / "samples" / "httpbin" / "httpbin.py"
SLEEP = ROOT / "samples" / "sleep" / "sleep.py"
HEADER = "X-Envoy-Decorator-Operation"
POD_TRACING = json.dumps(
    {
        "tracing": {
            "sampling": 10,
            "max_path_tag_length": 99,
            "custom_tags": {"my_tag_header": {"header": {"name": "host"}}},
        }
    }
)


def _manifest() -> str:
    docs = []
    for ns in ("foo", "legacy"):
        inject = ', annotations: {sidecar.istio.io/inject: "false"}'
        if ns == "foo":  # the page's sleep annotation (Configure tracing using MeshConfig …)
            inject = f", annotations: {{proxy.istio.io/config: '{POD_TRACING}'}}"
        docs.append(f"""apiVersion: v1
kind: Service
metadata: {{name: httpbin, namespace: {ns}, labels: {{app: httpbin}}}}
spec:
  ports: [{{name: http, port: 8000, targetPort: 8080}}]
  selector: {{app: httpbin}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: httpbin-{ns}, namespace: {ns}, labels: {{app: httpbin}}{inject}}}
spec:
  command: ["python", "{HTTPBIN}"]
  ports: [8080]
---
""")
    docs.append(f"""apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: sleep, namespace: foo, labels: {{app: sleep}}}}
spec:
  command: ["python", "{SLEEP}"]
""")
    return "".join(docs)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    folder = tmp_path_factory.mktemp("decorator")
    (folder / "mesh.yaml").write_text(_manifest())
    with running_mesh(tmp_path_factory, str(folder)) as running:
        yield running


def _headers(mesh: LocalMesh, url: str) -> dict[str, str]:
    proxy = f"http://{mesh.proxy('sleep-0')['ip']}:15001"
    status, body = http_via_sidecar(proxy, url)
    assert status == 200, body
    headers: dict[str, str] = json.loads(body)["headers"]
    return headers


def test_an_app_without_a_sidecar_sees_the_routes_operation(mesh: LocalMesh) -> None:
    headers = _headers(mesh, "http://httpbin.legacy:8000/headers")
    assert headers.get(HEADER) == "httpbin.legacy.svc.cluster.local:8000/*", headers


def test_a_server_sidecar_takes_it_off_before_its_app(mesh: LocalMesh) -> None:
    headers = _headers(mesh, "http://httpbin.foo:8000/headers")
    assert HEADER not in headers, headers


ROUTES = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: legacy-routes, namespace: foo}
spec:
  hosts: [httpbin.legacy.svc.cluster.local]
  http:
  - match: [{uri: {prefix: /anything/one}}]
    route: [{destination: {host: httpbin.legacy.svc.cluster.local}}]
  - match: [{uri: {exact: /headers}}]
    route:
    - {destination: {host: httpbin.legacy.svc.cluster.local, subset: a}, weight: 50}
    - {destination: {host: httpbin.legacy.svc.cluster.local, subset: b}, weight: 50}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: legacy-subsets, namespace: foo}
spec:
  host: httpbin.legacy.svc.cluster.local
  subsets:
  - {name: a, labels: {app: httpbin}}
  - {name: b, labels: {app: httpbin}}
"""


def test_virtual_service_routes_are_named_as_istio_names_them(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    apply_yaml(mesh, tmp_path, ROUTES)
    host = "httpbin.legacy.svc.cluster.local"

    def operation(path: str) -> str | None:
        return _headers(mesh, f"http://httpbin.legacy:8000{path}").get(HEADER)

    mesh.wait_for(lambda: operation("/headers") == "legacy-routes:8000/headers", 30, "routes")
    proxy = f"http://{mesh.proxy('sleep-0')['ip']}:15001"
    status, body = http_via_sidecar(proxy, "http://httpbin.legacy:8000/anything/one")
    assert status == 200, body
    assert json.loads(body)["headers"].get(HEADER) == f"{host}:8000/anything/one*"


def _tracing(mesh: LocalMesh, pod: str) -> dict[str, Any]:
    """The `tracing` of the pod's Envoy's first HTTP connection manager (inbound first)."""
    admin = f"http://{mesh.proxy(pod)['ip']}:15000"
    dump = json.loads(fetch(f"{admin}/config_dump?resource=dynamic_listeners"))
    managers = [
        f["typed_config"]
        for listener in dump["configs"]
        for chain in listener["active_state"]["listener"].get("filter_chains", [])
        for f in chain["filters"]
        if f["name"] == "envoy.filters.network.http_connection_manager"
    ]
    assert managers, dump
    tracing: dict[str, Any] = managers[0].get("tracing", {})
    return tracing


def _tags(tracing: dict[str, Any]) -> dict[str, Any]:
    return {t["tag"]: t for t in tracing.get("custom_tags", [])}


def test_a_pods_tracing_annotation_reaches_its_envoy(mesh: LocalMesh) -> None:
    """The page's proxy.istio.io/config: sampling 10, the path tag length, a header tag; a pod
    without one has Istio's 1% and Envoy's default length."""
    own = _tracing(mesh, "httpbin-foo-0")
    assert own["random_sampling"] == {"value": 10}
    assert own["max_path_tag_length"] == 99
    assert _tags(own)["my_tag_header"]["request_header"] == {"name": "host"}
    default = _tracing(mesh, "sleep-0")
    assert default["random_sampling"] == {"value": 1} and "max_path_tag_length" not in default
    assert "istio.canonical_service" in _tags(default)


MESH_TRACING = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    enableTracing: true
    defaultConfig:
      tracing:
        sampling: 50
        custom_tags:
          my_tag_literal:
            literal:
              value: from-mesh
"""


def test_the_meshs_default_config_tracing_and_the_pods_own(mesh: LocalMesh, tmp_path: Path) -> None:
    """The page's MeshConfig options reach every proxy but the annotated pod, whose own
    `tracing` replaces them whole (the page's warning)."""
    apply_yaml(mesh, tmp_path, MESH_TRACING, name="mesh.yaml")

    def sleep_has_them() -> bool:
        tracing = _tracing(mesh, "sleep-0")
        literal = _tags(tracing).get("my_tag_literal", {}).get("literal")
        return bool(
            tracing["random_sampling"] == {"value": 50} and literal == {"value": "from-mesh"}
        )

    mesh.wait_for(sleep_has_them, 30, "the mesh's tracing options")
    own = _tracing(mesh, "httpbin-foo-0")
    assert own["random_sampling"] == {"value": 10} and "my_tag_literal" not in _tags(own)


BACKENDS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    extensionProviders:
    - name: datadog
      datadog: {service: httpbin.legacy.svc.cluster.local, port: 8000}
    - name: skywalking
      skywalking: {service: httpbin.legacy.svc.cluster.local, port: 8000}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: sleep-traces, namespace: foo}
spec:
  selector: {matchLabels: {app: sleep}}
  tracing: [{providers: [{name: datadog}], useRequestIdForTraceSampling: false}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: httpbin-traces, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  tracing: [{providers: [{name: skywalking}]}]
"""


def test_datadog_and_skywalking_tracers_are_taken_by_envoy(mesh: LocalMesh, tmp_path: Path) -> None:
    """Their collectors cannot run here: sleep's Envoy takes Istio's Datadog config (and the
    Telemetry's useRequestIdForTraceSampling: false, its request id extension), httpbin's
    its SkyWalking config (SkyWalking's gRPC stream to a plain HTTP/1 service fails), and a
    request still goes through both."""
    apply_yaml(mesh, tmp_path, BACKENDS, name="backends.yaml")

    def tracers(pod: str) -> set[str]:
        admin = f"http://{mesh.proxy(pod)['ip']}:15000"
        dump = fetch(f"{admin}/config_dump?resource=dynamic_listeners")
        return set(re.findall(r"type\.googleapis\.com/envoy\.config\.trace\.v3\.(\w+)", dump))

    mesh.wait_for(lambda: tracers("sleep-0") == {"DatadogConfig"}, 30, "sleep's tracer")
    mesh.wait_for(lambda: tracers("httpbin-foo-0") == {"SkyWalkingConfig"}, 30, "httpbin's")
    admin = f"http://{mesh.proxy('sleep-0')['ip']}:15000"
    dump = fetch(f"{admin}/config_dump?resource=dynamic_listeners")
    assert '"use_request_id_for_trace_sampling": false' in dump  # Envoy took the extension
    assert _headers(mesh, "http://httpbin.foo:8000/headers")


ZIPKIN_FOR_SLEEP = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    extensionProviders:
    - name: zipkin
      zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: sleep-traces, namespace: foo}
spec:
  selector: {matchLabels: {app: sleep}}
  tracing: [{providers: [{name: zipkin}], randomSamplingPercentage: 100%s}]
"""
TRACE_HEADERS = ("X-B3-Traceid", "X-B3-Spanid", "X-B3-Sampled", "Traceparent")


def test_disable_context_propagation_keeps_the_span_and_sends_no_trace_headers(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """Istio 1.30+'s disableContextPropagation: sleep's Envoy still reports its span to the
    collector, but sends no trace context upstream (httpbin in `legacy`, without a sidecar,
    echoes what it got): Envoy's no_context_propagation."""
    apply_yaml(mesh, tmp_path, ZIPKIN_FOR_SLEEP % "", name="zipkin.yaml")
    url = "http://httpbin.legacy:8000/headers"

    def propagated() -> bool:
        return all(h in _headers(mesh, url) for h in ("X-B3-Traceid", "X-B3-Sampled"))

    mesh.wait_for(propagated, 30, "sleep's Zipkin tracer sending B3 headers upstream")
    off = ", disableContextPropagation: true"
    apply_yaml(mesh, tmp_path, ZIPKIN_FOR_SLEEP % off, name="off.yaml")
    admin = f"http://{mesh.proxy('sleep-0')['ip']}:15000"

    def taken() -> bool:  # and no listener of the old config left draining
        dump = fetch(f"{admin}/config_dump?resource=dynamic_listeners")
        stats = fetch(f"{admin}/stats?filter=^listener_manager\\.total_.*_draining$")
        drained = all(line.endswith(": 0") for line in stats.splitlines())
        return '"no_context_propagation": true' in dump and drained

    mesh.wait_for(taken, 30, "no_context_propagation in sleep's Envoy")
    (collector,) = mesh.info["trace_collectors"]
    before = len(json.loads(fetch(f"{collector}/api/v2/traces?serviceName=sleep.foo&limit=1000")))
    for _ in range(3):
        headers = _headers(mesh, url)
        assert not [h for h in TRACE_HEADERS if h in headers], headers

    def reported() -> bool:
        found = fetch(f"{collector}/api/v2/traces?serviceName=sleep.foo&limit=1000")
        return len(json.loads(found)) >= before + 3

    mesh.wait_for(reported, 30, "sleep's spans, still reported")


DYNATRACE = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    extensionProviders:
    - name: otel-tracing
      opentelemetry:
        service: zipkin.istio-system.svc.cluster.local
        port: 9411
        http: {path: /v1/traces, timeout: 10s, headers: [{name: Authorization, value: Api-Token t}]}
        resource_detectors: {environment: {}, dynatrace: {}}
        dynatrace_sampler: {tenant: abc12345, cluster_id: -1743916452, root_spans_per_minute: 2000}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: sleep-traces, namespace: foo}
spec:
  selector: {matchLabels: {app: sleep}}
  tracing: [{providers: [{name: otel-tracing}]}]
"""


def test_the_dynatrace_detector_and_sampler_are_taken_by_envoy(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """An OpenTelemetry provider with Istio's Dynatrace resource detector and sampler (snake_case
    as Istio's sampling page writes its provider): sleep's Envoy takes both, and the sampler
    (which asks the exporter's host for its configuration: the mesh's collector has none, so
    it keeps its defaults) still lets sleep's spans through to the collector over OTLP/HTTP."""
    apply_yaml(mesh, tmp_path, DYNATRACE, name="dynatrace.yaml")
    admin = f"http://{mesh.proxy('sleep-0')['ip']}:15000"

    def taken() -> bool:
        dump = fetch(f"{admin}/config_dump?resource=dynamic_listeners")
        return "DynatraceSamplerConfig" in dump and "DynatraceResourceDetectorConfig" in dump

    mesh.wait_for(taken, 30, "the Dynatrace sampler and detector in sleep's Envoy")
    (collector,) = mesh.info["trace_collectors"]
    query = f"{collector}/api/v2/traces?serviceName=sleep.foo&limit=1000"
    before = len(json.loads(fetch(query)))

    def reported() -> bool:
        assert _headers(mesh, "http://httpbin.legacy:8000/headers")
        return len(json.loads(fetch(query))) > before

    mesh.wait_for(reported, 30, "sleep's spans through the Dynatrace sampler")


def test_enable_tracing_false_end_to_end(mesh: LocalMesh, tmp_path: Path) -> None:
    """MeshConfig `enableTracing: false` with no Telemetry tracing: istiod writes no tracing
    block at all, so Envoy neither traces nor names its route upstream (no decorator header at
    the app without a sidecar); true again (Istio's default) brings the block back."""
    delete_yaml(mesh, tmp_path, BACKENDS.split("---", 1)[1])  # the module's two Telemetries
    url = "http://httpbin.legacy:8000/headers"
    mesh.wait_for(lambda: HEADER in _headers(mesh, url), 30, "Istio's default tracing block")
    off = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"
    apply_yaml(mesh, tmp_path, off + "data:\n  mesh: |\n    enableTracing: false\n", "off.yaml")
    mesh.wait_for(lambda: not _tracing(mesh, "sleep-0"), 30, "no tracing block in sleep's Envoy")
    assert HEADER not in _headers(mesh, url)
    apply_yaml(mesh, tmp_path, off + "data:\n  mesh: |\n    enableTracing: true\n", "on.yaml")
    mesh.wait_for(lambda: HEADER in _headers(mesh, url), 30, "the tracing block back")
