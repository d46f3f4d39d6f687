"""Istio's "Jaeger" and then "Zipkin" distributed tracing tasks, typed as their pages type them
(Istio fidelity):
`kubectl` and `istioctl` are `pilotfish`, Bookinfo is Istio's own kube manifest.

The page's IstioOperator (`enableTracing`, the legacy tracing options off, an extension provider
`jaeger` sending OTLP over gRPC to `jaeger-collector.istio-system.svc.cluster.local:4317`) with
`istioctl install -f ./tracing.yaml --skip-confirmation`, the Telemetry `mesh-default` naming
that provider, Istio's trace generation (`curl … "http://$GATEWAY_URL/productpage"` in a loop:
Istio's 1% sampling), and `istioctl dashboard jaeger`, whose traces view reads the traces. The
collector the page deploys (`samples/addons/jaeger.yaml`; `apply` of that file says the mesh's
own collector stands for it: tests/cli/test_addons) is the mesh's own, which takes OTLP over gRPC
on the provider's port. Then the Zipkin page's IstioOperator (a `zipkin` provider on 9411)
installed over the running mesh, its Telemetry and `istioctl dashboard zipkin`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, http
from tests.e2e.pagekit import add_shims, sh, sh_ok

TRACING_YAML = """
cat <<EOF > ./tracing.yaml
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig:
    enableTracing: true
    defaultConfig:
      tracing: {} # disable legacy MeshConfig tracing options
    extensionProviders:
    - name: jaeger
      opentelemetry:
        port: 4317
        service: jaeger-collector.istio-system.svc.cluster.local
EOF
"""
INSTALL = "istioctl install -f ./tracing.yaml --skip-confirmation --ingress-address {address}\n"
TELEMETRY = """
kubectl apply -f - <<EOF
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  tracing:
  - providers:
    - name: jaeger
EOF
"""
GATEWAY_URL = """
export INGRESS_HOST=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
export INGRESS_PORT=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.spec.ports[?(@.name=="http2")].port}')
export GATEWAY_URL=$INGRESS_HOST:$INGRESS_PORT
"""  # noqa: E501 (the page's lines)
TRAFFIC = 'for i in $(seq 1 100); do curl -s -o /dev/null "http://$GATEWAY_URL/productpage"; done'


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    m = LocalMesh(tmp_path_factory.mktemp("home"), None)
    add_shims(m)
    typed_in = tmp_path_factory.mktemp("typed-in")  # where the page writes ./tracing.yaml
    try:
        installed = sh(m, TRACING_YAML + INSTALL.format(address=m.ingress), cwd=typed_in)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert (typed_in / "tracing.yaml").is_file()
        yield m
    finally:
        m.pilotfish("uninstall", "-y")
        m.down()


def _traces(ui: str, service: str) -> list[list[dict[str, Any]]]:
    answer = http(f"{ui}api/traces/traces?serviceName={service}&limit=20")
    assert answer.status == 200, answer
    found: list[list[dict[str, Any]]] = json.loads(answer.body)
    return found


def test_the_jaeger_task_as_the_page_runs_it(mesh: LocalMesh) -> None:
    sh_ok(mesh, "kubectl apply -f samples/bookinfo/platform/kube/bookinfo.yaml")
    sh_ok(mesh, "kubectl apply -f samples/bookinfo/networking/bookinfo-gateway.yaml")
    applied = sh(mesh, TELEMETRY)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "warning" not in applied.stderr, applied.stderr  # was: "no span is sent for it"
    dashboard = sh_ok(mesh, "istioctl dashboard jaeger --browser=false")
    url = dashboard.strip().splitlines()[-1]
    assert url.endswith("/ui/#traces"), dashboard
    ui = url.removesuffix("#traces")
    assert http(ui).status == 200
    traced: list[list[dict[str, Any]]] = []
    for _ in range(10):  # Istio's 1% sampling: the page sends 100 requests "at least"
        sh_ok(mesh, GATEWAY_URL + TRAFFIC)
        traced = _traces(ui, "productpage.default")
        if traced:
            break
    assert traced, "no trace of 1,000 requests reached the collector"
    services = {s["localEndpoint"]["serviceName"] for t in traced for s in t}
    assert {"istio-ingressgateway.istio-system", "productpage.default"} <= services, services
    # sent over OTLP (gRPC): Envoy's Zipkin tracer would name the endpoint's address too
    assert all(set(s["localEndpoint"]) == {"serviceName"} for t in traced for s in t), traced


def test_the_pages_collector_port_speaks_grpc(mesh: LocalMesh) -> None:
    """The sidecars' collector cluster for the provider is HTTP/2 to the collector's 4317."""
    dump = sh_ok(mesh, "istioctl proxy-config cluster deploy/productpage-v1 -o json")
    (cluster,) = [c for c in json.loads(dump) if c["name"] == "trace-collector|4317"]
    options = cluster["typedExtensionProtocolOptions"]
    http_options = options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert "http2ProtocolOptions" in http_options["explicitHttpConfig"], http_options


ZIPKIN_YAML = """
cat <<EOF > ./tracing.yaml
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig:
    enableTracing: true
    defaultConfig:
      tracing: {} # disable legacy MeshConfig tracing options
    extensionProviders:
    - name: zipkin
      zipkin:
        service: zipkin.istio-system.svc.cluster.local
        port: 9411
EOF
"""


def test_then_the_zipkin_task_over_it(mesh: LocalMesh, tmp_path: Path) -> None:
    """Istio's "Zipkin" task, the same steps with its `zipkin` provider: `istioctl install -f`
    again over the running mesh, the Telemetry naming `zipkin`, the traffic, `istioctl dashboard
    zipkin`; the spans now come over Zipkin's API (with the endpoints' addresses)."""
    installed = sh(mesh, ZIPKIN_YAML + INSTALL.format(address=mesh.ingress), cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    applied = sh(mesh, TELEMETRY.replace("name: jaeger", "name: zipkin"))
    assert applied.returncode == 0 and "warning" not in applied.stderr, applied
    url = sh_ok(mesh, "istioctl dashboard zipkin --browser=false").strip().splitlines()[-1]
    ui = url.split("#")[0]
    zipkin: list[list[dict[str, Any]]] = []
    for _ in range(10):
        sh_ok(mesh, GATEWAY_URL + TRAFFIC)
        found = _traces(ui, "productpage.default")
        zipkin = [t for t in found if any("ipv4" in s["localEndpoint"] for s in t)]
        if zipkin:
            break
    assert zipkin, "no Zipkin trace of 1,000 requests reached the collector"
