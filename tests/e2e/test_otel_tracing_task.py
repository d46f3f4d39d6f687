"""Istio's "OpenTelemetry" distributed tracing task (Tasks > Observability > Distributed
Tracing), typed as its page types it (Istio fidelity): `kubectl` and `istioctl` are `pilotfish`,
Bookinfo is Istio's own kube manifest, and the page's `otel.yaml` is samples/open-telemetry/
otel.yaml (shaped as Istio's: its image runs pilotfish's OpenTelemetry Collector stand-in, which
prints spans as the collector's `debug` exporter does).

In the page's order: the Collector's namespace and Deployment first, before Istio is installed
(`kubectl create namespace otel-collector`, `kubectl -n otel-collector apply -f otel.yaml`: kept
for the mesh's start, as a cluster keeps them), then the page's `tracing.yaml` (the
`otel-tracing` provider, OTLP/gRPC to `opentelemetry-collector.otel-collector.svc.cluster.local:
4317`) with `istioctl install -f ./tracing.yaml --skip-confirmation` (and the test's ingress
address), the Telemetry `otel-demo` (100 % sampling, the custom tag `my-attribute`), Bookinfo,
requests to /productpage, and the Collector's log (`kubectl logs -n otel-collector
deploy/opentelemetry-collector`) showing the page's lines: spans of `productpage.default` carrying
`my-attribute: default-value` and Istio's tags.

Before: the page's second command failed ("no mesh is running"), so the Collector never ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh
from tests.e2e.pagekit import add_shims, exported, sh, sh_ok

COLLECTOR = """
kubectl create namespace otel-collector
kubectl -n otel-collector apply -f samples/open-telemetry/otel.yaml
"""
TRACING_YAML = """
cat <<'EOF' > tracing.yaml
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig:
    extensionProviders:
    - name: otel-tracing
      opentelemetry:
        port: 4317
        service: opentelemetry-collector.otel-collector.svc.cluster.local
EOF
istioctl install -f ./tracing.yaml --skip-confirmation --ingress-address {address}
kubectl label namespace default istio-injection=enabled
"""
TELEMETRY = """
kubectl apply -f - <<EOF
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata:
  name: otel-demo
  namespace: istio-system
spec:
  tracing:
  - providers:
    - name: otel-tracing
    randomSamplingPercentage: 100
    customTags:
      "my-attribute":
        literal:
          value: "default-value"
EOF
"""
BOOKINFO = """
kubectl apply -f samples/bookinfo/platform/kube/bookinfo.yaml
kubectl apply -f samples/bookinfo/networking/bookinfo-gateway.yaml
"""
GATEWAY_URL = """
export INGRESS_HOST=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
export INGRESS_PORT=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.spec.ports[?(@.name=="http2")].port}')
export GATEWAY_URL=$INGRESS_HOST:$INGRESS_PORT
"""  # noqa: E501 (the page's lines)
LOGS = "kubectl logs -n otel-collector deploy/opentelemetry-collector"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    m = LocalMesh(tmp_path_factory.mktemp("home"), None)
    add_shims(m)
    try:
        yield m
    finally:
        m.pilotfish("uninstall", "-y")
        m.down()


def test_the_opentelemetry_task_as_the_page_runs_it(mesh: LocalMesh, tmp_path: Path) -> None:
    """`tmp_path`: where the page writes ./tracing.yaml."""
    stored = sh(mesh, COLLECTOR)
    assert stored.returncode == 0, stored.stdout + stored.stderr
    assert stored.stdout == (
        "namespace/otel-collector created\n"
        "configmap/opentelemetry-collector-conf created\n"
        "service/opentelemetry-collector created\n"
        "deployment.apps/opentelemetry-collector created\n"
    ), stored.stdout + stored.stderr
    installed = sh(mesh, TRACING_YAML.format(address=mesh.ingress), cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    pods = sh_ok(mesh, "kubectl get pods -n otel-collector")
    assert "opentelemetry-collector-" in pods and "Running" in pods, pods
    sh_ok(mesh, TELEMETRY)
    sh_ok(mesh, BOOKINFO)
    url = exported(mesh, GATEWAY_URL)
    seen = ""

    def traced() -> bool:
        nonlocal seen
        code = sh_ok(
            mesh, url + 'curl -s -o /dev/null -w "%{http_code}" "http://$GATEWAY_URL/productpage"'
        )
        seen = sh_ok(mesh, LOGS)
        return code == "200" and "service.name: Str(productpage.default)" in seen

    mesh.wait_for(traced, 60, "productpage's spans in the Collector's log")
    spans = seen.split("ResourceSpans #")
    productpage = [s for s in spans if "service.name: Str(productpage.default)" in s]
    assert productpage, seen[-3000:]
    span = productpage[0]
    for line in (
        "-> my-attribute: Str(default-value)",
        "-> istio.canonical_service: Str(productpage)",
        "-> istio.namespace: Str(default)",
        "-> istio.mesh_id: Str(cluster.local)",
        "-> component: Str(proxy)",
    ):
        assert line in span, span
