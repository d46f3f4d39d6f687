"""Istio's "Ingress Access Control" authorization task, typed as its page types it (Istio
fidelity): `kubectl` and `istioctl` are `pilotfish`, httpbin is Istio's own manifest and its
gateway files are Istio's `samples/httpbin/httpbin-gateway.yaml` and
`samples/httpbin/gateway-api/httpbin-gateway.yaml`, as written there.

Both tabs, each as the page runs it: httpbin in `foo`, the gateway's Envoy at `rbac:debug`
(`istioctl proxy-config log "$pod" --level rbac:debug` on the pods the page selects), 200, the
Service patched to `externalTrafficPolicy: Local`, the `ingress-policy` ALLOW of two foreign
blocks (403), the client's address read back from the gateway's RBAC debug log as the page does
(`kubectl logs "$pod" | grep remoteIP | … | awk -F, '{print $3}'` for ipBlocks, `$4` for
remoteIpBlocks), the ALLOW with it (200), the DENY of it (403), the page's cleanup. The Gateway
API tab selects the pods of Istio's automated deployment by their current label
(`gateway.networking.k8s.io/gateway-name`; pages of Istio before 1.24 wrote
`istio.io/gateway-name`, which Istio no longer sets). One mesh (`istioctl install`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh
from tests.e2e.pagekit import SAMPLES, add_shims, sh, sh_ok

SETUP = f"""
kubectl create ns foo
kubectl label namespace foo istio-injection=enabled
kubectl apply -f {SAMPLES}/httpbin.yaml -n foo
"""
HTTPBIN_GATEWAY = """
kubectl apply -n foo -f - <<EOF
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "*"
  gateways:
  - httpbin-gateway
  http:
  - route:
    - destination:
        host: httpbin
        port:
          number: 8000
EOF
"""  # Istio's samples/httpbin/httpbin-gateway.yaml
K8S_HTTPBIN_GATEWAY = """
kubectl apply -n foo -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: All
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httpbin
spec:
  parentRefs:
  - name: httpbin-gateway
  rules:
  - backendRefs:
    - name: httpbin
      port: 8000
EOF
kubectl wait --for=condition=programmed gtw -n foo httpbin-gateway
"""  # Istio's samples/httpbin/gateway-api/httpbin-gateway.yaml, then the page's wait
ISTIO = {
    "pods": "kubectl get pods -n istio-system -o name -l istio=ingressgateway",
    "ns": "istio-system",
    "selector": "app: istio-ingressgateway",
    "ingress": """
export INGRESS_HOST=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
export INGRESS_PORT=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.spec.ports[?(@.name=="http2")].port}')
""",  # noqa: E501 (the page's lines)
    "patch": 'kubectl patch svc istio-ingressgateway -n istio-system -p \'{"spec":{"externalTrafficPolicy":"Local"}}\'',  # noqa: E501
}
K8S = {
    "pods": "kubectl get pods -n foo -o name -l gateway.networking.k8s.io/gateway-name=httpbin-gateway",  # noqa: E501
    "ns": "foo",
    "selector": "gateway.networking.k8s.io/gateway-name: httpbin-gateway",
    "ingress": """
export INGRESS_HOST=$(kubectl get gtw httpbin-gateway -n foo -o jsonpath='{.status.addresses[0].value}')
export INGRESS_PORT=$(kubectl get gtw httpbin-gateway -n foo -o jsonpath='{.spec.listeners[?(@.name=="http")].port}')
""",  # noqa: E501 (the page's lines)
    "patch": 'kubectl patch svc httpbin-gateway-istio -n foo -p \'{"spec":{"externalTrafficPolicy":"Local"}}\'',  # noqa: E501
}
DEBUG = """{pods} | sed 's|pod/||' | while read -r pod; do istioctl proxy-config log "$pod" -n {ns} --level rbac:debug; done"""  # noqa: E501
POLICY = """
kubectl apply -f - <<EOF
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ingress-policy
  namespace: {ns}
spec:
  selector:
    matchLabels:
      {selector}
  action: {action}
  rules:
  - from:
    - source:
        {field}: {blocks}
EOF
"""
CLIENT_IP = """CLIENT_IP=$({pods} | sed 's|pod/||' | while read -r pod; do kubectl logs "$pod" -n {ns} | grep remoteIP; done | tail -1 | awk -F, '{{print ${column}}}' | awk -F: '{{print $2}}' | sed 's/ //') && echo "$CLIENT_IP"
"""  # noqa: E501 (the page's line)
CODE = 'curl "$INGRESS_HOST:$INGRESS_PORT"/headers -s -o /dev/null -w "%{http_code}\\n"'


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    m = LocalMesh(tmp_path_factory.mktemp("home"), None)
    add_shims(m)
    try:
        installed = sh(m, f"istioctl install -y --ingress-address {m.ingress}")
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield m
    finally:
        m.pilotfish("uninstall", "-y")
        m.down()


def _walk_the_page(mesh: LocalMesh, tab: dict[str, str], field: str, column: int) -> None:
    """The page's steps for one kind of block (`ipBlocks`: the log's 3rd field, the
    connection's peer; `remoteIpBlocks`: the 4th, the client as the gateway trusts it). The
    page's exports are run once and their values given to the later steps."""
    debug = sh_ok(mesh, DEBUG.format(**tab))
    assert "rbac: debug" in debug, debug
    ingress = sh_ok(mesh, tab["ingress"] + 'echo "$INGRESS_HOST $INGRESS_PORT"').split()
    code = f"INGRESS_HOST={ingress[0]} INGRESS_PORT={ingress[1]}\n{CODE}"
    assert sh_ok(mesh, code) == "200\n"
    sh_ok(mesh, tab["patch"])
    policy = {**tab, "field": field}
    sh_ok(mesh, POLICY.format(**policy, action="ALLOW", blocks='["1.2.3.4", "5.6.7.0/24"]'))
    assert sh_ok(mesh, code) == "403\n"
    client_ip = sh_ok(mesh, CLIENT_IP.format(**tab, column=column))
    assert client_ip == "127.0.0.1\n"  # the test's curl, on loopback
    known = f"CLIENT_IP={client_ip}"
    blocks = '["1.2.3.4", "5.6.7.0/24", "$CLIENT_IP"]'
    sh_ok(mesh, known + POLICY.format(**policy, action="ALLOW", blocks=blocks))
    assert sh_ok(mesh, code) == "200\n"
    sh_ok(mesh, known + POLICY.format(**policy, action="DENY", blocks='["$CLIENT_IP"]'))
    assert sh_ok(mesh, code) == "403\n"
    sh_ok(mesh, f"kubectl delete authorizationpolicy ingress-policy -n {tab['ns']}")
    assert sh_ok(mesh, code) == "200\n"


def test_istio_apis_tab(mesh: LocalMesh) -> None:
    sh_ok(mesh, SETUP)
    sh_ok(mesh, HTTPBIN_GATEWAY)
    _walk_the_page(mesh, ISTIO, "ipBlocks", 3)
    _walk_the_page(mesh, ISTIO, "remoteIpBlocks", 4)
    every = "| sed 's|pod/||' | while read -r pod; do kubectl logs \"$pod\" -n istio-system; done"
    logs = sh_ok(mesh, ISTIO["pods"] + every)
    assert "enforced denied, matched policy ns[istio-system]-policy[ingress-policy]-rule[0]" in logs
    deleted = sh_ok(mesh, "kubectl delete namespace foo")
    assert deleted.count('namespace "foo" deleted') == 1, deleted


def test_gateway_api_tab(mesh: LocalMesh) -> None:
    sh_ok(mesh, SETUP)
    waited = sh_ok(mesh, K8S_HTTPBIN_GATEWAY)
    assert "httpbin-gateway condition met" in waited, waited
    assert sh_ok(mesh, K8S["pods"]) == "pod/httpbin-gateway-istio-0\n"
    _walk_the_page(mesh, K8S, "remoteIpBlocks", 4)  # ipBlocks: the same steps as above
    sh_ok(mesh, "kubectl delete namespace foo")
