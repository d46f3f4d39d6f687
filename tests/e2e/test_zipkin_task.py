"""Istio's "Zipkin" distributed tracing task typed as its page types it, from a fresh install
(Istio fidelity): `kubectl` and `istioctl` are `pilotfish`, Bookinfo is Istio's own manifest.

Before you begin: Zipkin from Istio's addon (`samples/addons/extras/zipkin.yaml`, which `apply`
recognises: the mesh's own collector stands for it) and Bookinfo with its gateway. Then the
page: the IstioOperator with a `zipkin` extension provider (`zipkin.istio-system` port 9411,
legacy tracing options off), `istioctl install -f ./tracing.yaml --skip-confirmation`, the
Telemetry `mesh-default` naming it, `istioctl dashboard zipkin`, and the trace generation
(`curl` of /productpage in loops of 100: Istio's 1% sampling). The traces are read back from
Zipkin's API by service name, and checked as istio.io's own test of this page checks them
(its verify_traces.py): every client span's interaction is one Bookinfo makes, and spans of
the gateway, productpage, details, reviews and ratings are all there, with Istio's span names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, http
from tests.e2e.pagekit import add_shims, sh, sh_ok

INSTALL = "istioctl install --skip-confirmation --ingress-address {address}\n"
ZIPKIN_ADDON = "kubectl apply -f samples/addons/extras/zipkin.yaml"
BOOKINFO = (
    "kubectl label namespace default istio-injection=enabled --overwrite\n"
    "kubectl apply -f samples/bookinfo/platform/kube/bookinfo.yaml\n"
    "kubectl apply -f samples/bookinfo/networking/bookinfo-gateway.yaml\n"
)
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
    - name: zipkin
      zipkin:
        service: zipkin.istio-system.svc.cluster.local
        port: 9411
EOF
"""
PAGE_INSTALL = (
    "istioctl install -f ./tracing.yaml --skip-confirmation --ingress-address {address}\n"
)
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
    - name: zipkin
EOF
"""
GATEWAY_URL = """
export INGRESS_HOST=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
export INGRESS_PORT=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.spec.ports[?(@.name=="http2")].port}')
export GATEWAY_URL=$INGRESS_HOST:$INGRESS_PORT
"""  # noqa: E501 (the page's lines)
TRAFFIC = 'for i in $(seq 1 100); do curl -s -o /dev/null "http://$GATEWAY_URL/productpage"; done'
EXPECTED = {  # istio.io's verify_traces.py: who may call whom
    "istio-ingressgateway.istio-system": {"productpage.default"},
    "productpage.default": {"details.default", "reviews.default"},
    "reviews.default": {"ratings.default"},
}
EVERYONE = {*EXPECTED, "details.default", "ratings.default"}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    m = LocalMesh(tmp_path_factory.mktemp("home"), None)
    add_shims(m)
    try:
        installed = sh(m, INSTALL.format(address=m.ingress))
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield m
    finally:
        m.pilotfish("uninstall", "-y")
        m.down()


def _interaction(span: dict[str, Any]) -> tuple[str, str] | None:
    """(caller, callee) of a client span, by its upstream cluster (verify_traces.py's rule)."""
    cluster = str(span.get("tags", {}).get("upstream_cluster", ""))
    if not cluster or cluster.startswith("inbound"):
        return None
    host = cluster.split("|")[3]
    return span["localEndpoint"]["serviceName"], ".".join(host.split(".")[:2])


def test_the_zipkin_task_as_the_page_runs_it(mesh: LocalMesh, tmp_path: Path) -> None:
    addon = sh(mesh, ZIPKIN_ADDON)
    assert addon.returncode == 0, addon.stdout + addon.stderr
    assert "zipkin" in addon.stdout, addon.stdout  # says what stands for the addon
    sh_ok(mesh, BOOKINFO)
    page = sh(mesh, TRACING_YAML + PAGE_INSTALL.format(address=mesh.ingress), cwd=tmp_path)
    assert page.returncode == 0, page.stdout + page.stderr
    applied = sh(mesh, TELEMETRY)
    assert applied.returncode == 0 and "warning" not in applied.stderr, applied
    url = sh_ok(mesh, "istioctl dashboard zipkin --browser=false").strip().splitlines()[-1]
    assert http(url.split("#")[0]).status == 200
    (collector,) = mesh.info["trace_collectors"]
    traces: list[list[dict[str, Any]]] = []
    services: set[str] = set()
    for _ in range(20):  # 1%: the page's loop of 100, as many times as it takes
        sh_ok(mesh, GATEWAY_URL + TRAFFIC)
        found = http(f"{collector}/api/v2/traces?serviceName=productpage.default&limit=100")
        assert found.status == 200, found
        traces = json.loads(found.body)
        services = {s["localEndpoint"]["serviceName"] for t in traces for s in t}
        if services >= EVERYONE:
            break
    assert services >= EVERYONE, services
    for trace in traces:
        for span in trace:
            interaction = _interaction(span)
            if interaction is not None:
                caller, callee = interaction
                assert callee in EXPECTED.get(caller, set()), (interaction, span)
    names = {s["name"] for t in traces for s in t}
    assert "productpage.default.svc.cluster.local:9080/productpage" in names, names
    assert "details.default.svc.cluster.local:9080/*" in names, names
