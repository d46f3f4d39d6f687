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
import secrets
import time
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


SAMPLING = """
kubectl apply -f - <<EOF
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  tracing:
    - providers:
        - name: "zipkin"
      randomSamplingPercentage: 100.00
EOF
"""
ENV_TAG = """
kubectl apply -f - <<EOF
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  tracing:
    - providers:
        - name: "zipkin"
      randomSamplingPercentage: 100.00
      customTags:
        "cluster_id":
          environment:
            name: ISTIO_META_CLUSTER_ID
            defaultValue: Kubernetes # optional
        my_tag_header:
          header:
            name: x-user
            defaultValue: nobody      # optional
EOF
"""
TAG_LENGTH = TRACING_YAML.replace(
    "        port: 9411\n", "        port: 9411\n        maxTagLength: 40\n"
)


def _traced(mesh: LocalMesh, path: str, **headers: str) -> list[dict[str, Any]]:
    """Request `path` at the gateway until its spans come back: a trace id of the test's own
    (B3 ids, no sampling decision: Envoy's random sampling decides) read back by id."""
    spans: list[dict[str, Any]] = []
    gateway = sh_ok(mesh, GATEWAY_URL + "echo $GATEWAY_URL").strip()
    (collector,) = mesh.info["trace_collectors"]

    def sent() -> bool:
        nonlocal spans
        trace_id = secrets.token_hex(16)
        ids = {"x-b3-traceid": trace_id, "x-b3-spanid": secrets.token_hex(8)}
        answer = http(f"http://{gateway}{path}", headers={**ids, **headers})
        assert answer.status == 200, answer
        time.sleep(1.5)  # the tracers' flush
        found = http(f"{collector}/api/v2/trace/{trace_id}")
        spans = json.loads(found.body) if found.status == 200 else []
        return bool(spans)

    mesh.wait_for(sent, 60, f"the spans of {path}")
    return spans


def test_then_the_telemetry_api_tracing_page(mesh: LocalMesh, tmp_path: Path) -> None:
    """Istio's "Configure tracing with Telemetry API" over the same mesh: 100% sampling, an
    environment tag and a request header tag, then the provider's maxTagLength."""
    sh_ok(mesh, SAMPLING)
    spans = _traced(mesh, "/productpage")
    assert {s["localEndpoint"]["serviceName"] for s in spans} >= {
        "istio-ingressgateway.istio-system", "productpage.default", "details.default",
    }  # fmt: skip
    sh_ok(mesh, ENV_TAG)

    def tagged() -> bool:
        found = _traced(mesh, "/productpage", **{"x-user": "alice"})
        users = {
            s["localEndpoint"]["serviceName"]: s["tags"].get("my_tag_header")
            for s in found
            if s["kind"] == "SERVER"
        }
        clusters = {s["tags"].get("cluster_id") for s in found}
        # the header where the request has it; its default where the app did not pass it on
        return (
            clusters == {"Kubernetes"}
            and users["istio-ingressgateway.istio-system"] == ("alice")
            and users.get("details.default") == "nobody"
        )

    mesh.wait_for(tagged, 60, "the custom tags")
    page = sh(mesh, TAG_LENGTH + PAGE_INSTALL.format(address=mesh.ingress), cwd=tmp_path)
    assert page.returncode == 0, page.stdout + page.stderr
    long_path = "/productpage?u=" + "x" * 80

    def cut() -> bool:
        urls = [s["tags"].get("http.url", "") for s in _traced(mesh, long_path)]
        # Envoy cuts the path (not the host) of the long request's URL; the others are short
        paths = ["/" + url.partition("//")[2].partition("/")[2] for url in urls if "?u=" in url]
        return bool(paths) and all(len(p) == 40 for p in paths)

    mesh.wait_for(cut, 60, "http.url cut at maxTagLength")
