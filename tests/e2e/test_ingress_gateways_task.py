"""Istio's "Ingress Gateways" task (Traffic Management > Ingress), typed as its page types it
(Istio fidelity: the project is checked from outside with Istio's files): `kubectl` and
`istioctl` are `pilotfish`, the page's `samples/httpbin/httpbin.yaml` is Istio's own file
(tests/data/istio-samples), nothing else changed.

Its "Istio APIs" tab: the Gateway `httpbin-gateway` for `httpbin.example.com` on port 80 and the
VirtualService routing /status and /delay to httpbin, INGRESS_HOST and INGRESS_PORT read from the
`istio-ingressgateway` Service as the page reads them, `curl -s -I -HHost:httpbin.example.com`
(200 from `server: istio-envoy`, then 404 for /headers), the "using a browser" variant (hosts
`*`, /headers), the troubleshooting listing, and the page's cleanup, whose last line is `kubectl
delete --ignore-not-found=true -f samples/httpbin/httpbin.yaml` (Go's boolean flag with a value).
Then its "Gateway API" tab: the Gateway with a listener for the host, `kubectl wait
--for=condition=programmed gtw httpbin-gateway`, the HTTPRoute, INGRESS_HOST from the Gateway's
status, the same requests, and that tab's cleanup. One mesh, tests in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh
from tests.e2e.pagekit import SAMPLES, add_shims, exported, sh, sh_ok

HTTPBIN = f"kubectl apply -f {SAMPLES}/httpbin.yaml\n"
ISTIO_GATEWAY = """
kubectl apply -f - <<EOF
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  # The selector matches the ingress gateway pod labels.
  # If you installed Istio using Helm following the standard documentation, this would be "istio=ingress"
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "httpbin.example.com"
EOF
kubectl apply -f - <<EOF
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
EOF
"""  # noqa: E501 (the page's comment)
INGRESS = """
export INGRESS_NAME=istio-ingressgateway
export INGRESS_NS=istio-system
export INGRESS_HOST=$(kubectl -n "$INGRESS_NS" get service "$INGRESS_NAME" -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
export INGRESS_PORT=$(kubectl -n "$INGRESS_NS" get service "$INGRESS_NAME" -o jsonpath='{.spec.ports[?(@.name=="http2")].port}')
export SECURE_INGRESS_PORT=$(kubectl -n "$INGRESS_NS" get service "$INGRESS_NAME" -o jsonpath='{.spec.ports[?(@.name=="https")].port}')
export TCP_INGRESS_PORT=$(kubectl -n "$INGRESS_NS" get service "$INGRESS_NAME" -o jsonpath='{.spec.ports[?(@.name=="tcp")].port}')
"""  # noqa: E501 (the page's lines)
GATEWAY_API_INGRESS = """
export INGRESS_HOST=$(kubectl get gtw httpbin-gateway -o jsonpath='{.status.addresses[0].value}')
export INGRESS_PORT=$(kubectl get gtw httpbin-gateway -o jsonpath='{.spec.listeners[?(@.name=="http")].port}')
"""  # noqa: E501 (the page's lines)
STATUS = 'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"\n'
HEADERS = 'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"\n'
BROWSER = """
kubectl apply -f - <<EOF
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  # The selector matches the ingress gateway pod labels.
  # If you installed Istio using Helm following the standard documentation, this would be "istio=ingress"
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
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "*"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /headers
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
EOF
"""  # noqa: E501 (the page's comment)
CLEANUP = f"""
kubectl delete gateway httpbin-gateway
kubectl delete virtualservice httpbin
kubectl delete --ignore-not-found=true -f {SAMPLES}/httpbin.yaml
"""
K8S_GATEWAY = """
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    hostname: "httpbin.example.com"
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
EOF
kubectl wait --for=condition=programmed gtw httpbin-gateway
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: httpbin
spec:
  parentRefs:
  - name: httpbin-gateway
  hostnames: ["httpbin.example.com"]
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /status
    - path:
        type: PathPrefix
        value: /delay
    backendRefs:
    - name: httpbin
      port: 8000
EOF
"""
K8S_BROWSER = """
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1beta1
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
        from: Same
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: httpbin
spec:
  parentRefs:
  - name: httpbin-gateway
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /headers
    backendRefs:
    - name: httpbin
      port: 8000
EOF
"""
K8S_CLEANUP = f"""
kubectl delete gtw httpbin-gateway
kubectl delete httproute httpbin
kubectl delete --ignore-not-found=true -f {SAMPLES}/httpbin.yaml
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    """Istio installed as the page's "Before you begin" has it (`istioctl install`, the default
    profile: its ingress gateway Service has Istio's ports), on the test's ingress address."""
    m = LocalMesh(tmp_path_factory.mktemp("home"), None)
    add_shims(m)
    try:
        installed = sh(m, f"istioctl install -y --ingress-address {m.ingress}")
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield m
    finally:
        m.pilotfish("uninstall", "-y")
        m.down()


def _status_line(mesh: LocalMesh, address: str, request: str) -> list[str]:
    """The response head `curl -s -I` prints for the page's request, line by line."""
    head = sh_ok(mesh, address + request).replace("\r\n", "\n").splitlines()
    assert head, request
    return head


def test_istio_apis_tab(mesh: LocalMesh) -> None:
    sh_ok(mesh, HTTPBIN)
    sh_ok(mesh, ISTIO_GATEWAY)
    session = exported(mesh, INGRESS)  # the page's exports, once
    listing = sh_ok(mesh, session + 'kubectl get svc "$INGRESS_NAME" -n "$INGRESS_NS"')
    header, row = listing.splitlines()
    assert header.split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert row.split()[:2] == ["istio-ingressgateway", "LoadBalancer"], listing
    assert row.split()[3] == mesh.ingress, listing
    assert "80:80/TCP" in row.split()[4].split(","), listing  # its node port: the port itself
    ports = sh_ok(mesh, session + 'echo "$INGRESS_HOST $INGRESS_PORT $SECURE_INGRESS_PORT"')
    assert ports.split() == [mesh.ingress, "80", "443"], ports
    head = _status_line(mesh, session, STATUS)
    assert head[0] == "HTTP/1.1 200 OK" and "server: istio-envoy" in head, head
    assert _status_line(mesh, session, HEADERS)[0] == "HTTP/1.1 404 Not Found"
    # "Accessing ingress services using a browser": any host, /headers only
    sh_ok(mesh, BROWSER)
    headers = sh_ok(mesh, session + 'curl -s "http://$INGRESS_HOST:$INGRESS_PORT/headers"')
    assert f'"Host": "{mesh.ingress}"' in headers, headers
    status = (
        'curl -s -o /dev/null -w "%{http_code}" "http://$INGRESS_HOST:$INGRESS_PORT/status/200"'
    )
    assert sh_ok(mesh, session + status) == "404"
    # troubleshooting: the Gateway is listed
    gateways = sh_ok(mesh, "kubectl get gateway --all-namespaces").splitlines()
    listed = [line.split()[:2] for line in gateways]
    assert listed == [["NAMESPACE", "NAME"], ["default", "httpbin-gateway"]], gateways
    # the page's cleanup, verbatim (a boolean flag given a value: `--ignore-not-found=true`)
    cleanup = sh(mesh, CLEANUP)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert 'gateway.networking.istio.io "httpbin-gateway" deleted' in cleanup.stdout
    assert 'deployment.apps "httpbin" deleted' in cleanup.stdout, cleanup.stdout
    assert "does not take a value" not in cleanup.stderr, cleanup.stderr
    again = sh(mesh, CLEANUP.splitlines()[-1])
    assert again.returncode == 0 and "NotFound" not in again.stderr, again


def test_gateway_api_tab(mesh: LocalMesh) -> None:
    sh_ok(mesh, HTTPBIN)
    waited = sh_ok(mesh, K8S_GATEWAY)
    assert "gateway.gateway.networking.k8s.io/httpbin-gateway condition met" in waited, waited
    session = exported(mesh, GATEWAY_API_INGRESS)  # the page's exports, once
    address = sh_ok(mesh, session + 'echo "$INGRESS_HOST $INGRESS_PORT"').split()
    assert len(address) == 2 and address[1] == "80", address
    head = _status_line(mesh, session, STATUS)
    assert head[0] == "HTTP/1.1 200 OK" and "server: istio-envoy" in head, head
    assert _status_line(mesh, session, HEADERS)[0] == "HTTP/1.1 404 Not Found"
    sh_ok(mesh, K8S_BROWSER)
    read = session + 'curl -s "http://$INGRESS_HOST:$INGRESS_PORT/headers"'
    assert f'"Host": "{address[0]}"' in sh_ok(mesh, read)
    cleanup = sh(mesh, K8S_CLEANUP)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert 'gateway.gateway.networking.k8s.io "httpbin-gateway" deleted' in cleanup.stdout
    assert 'httproute.gateway.networking.k8s.io "httpbin" deleted' in cleanup.stdout
    assert 'deployment.apps "httpbin" deleted' in cleanup.stdout, cleanup.stdout
    gone = sh(mesh, "kubectl get gtw")
    assert gone.stdout == "" and gone.stderr == "No resources found in default namespace.\n"


GATEWAY_API_PAGE = """
kubectl create namespace istio-ingress
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata:
  name: gateway
  namespace: istio-ingress
spec:
  gatewayClassName: istio
  listeners:
  - name: default
    hostname: "*.example.com"
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: All
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: http
  namespace: default
spec:
  parentRefs:
  - name: gateway
    namespace: istio-ingress
  hostnames: ["httpbin.example.com"]
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /get
    backendRefs:
    - name: httpbin
      port: 8000
EOF
kubectl wait -n istio-ingress --for=condition=programmed gateways.gateway.networking.k8s.io gateway
"""
GATEWAY_API_HOST = "export INGRESS_HOST=$(kubectl get gateways.gateway.networking.k8s.io gateway -n istio-ingress -ojsonpath='{.status.addresses[0].value}')\n"  # noqa: E501
HEADER_ROUTE = """
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: http
  namespace: default
spec:
  parentRefs:
  - name: gateway
    namespace: istio-ingress
  hostnames: ["httpbin.example.com"]
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /get
    - path:
        type: PathPrefix
        value: /headers
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        add:
        - name: my-added-header
          value: added-value
    backendRefs:
    - name: httpbin
      port: 8000
EOF
"""
GATEWAY_API_CLEANUP = f"""
kubectl delete -f {SAMPLES}/httpbin.yaml
kubectl delete httproute http
kubectl delete gateways.gateway.networking.k8s.io gateway -n istio-ingress
"""


def test_the_kubernetes_gateway_api_task(mesh: LocalMesh) -> None:
    """Istio's "Kubernetes Gateway API" task (Traffic Management > Ingress): its CRD check, the
    Gateway in `istio-ingress` for `*.example.com` with a route from `default`, the wait and
    INGRESS_HOST by the full resource name, /get 200 and /headers 404, then the route with a
    RequestHeaderModifier (`My-Added-Header: added-value` reaches httpbin), the cleanup."""
    check = "kubectl get crd gateways.gateway.networking.k8s.io &> /dev/null && echo installed"
    assert sh_ok(mesh, check) == "installed\n"
    sh_ok(mesh, HTTPBIN)
    waited = sh_ok(mesh, GATEWAY_API_PAGE)
    assert "gateway.gateway.networking.k8s.io/gateway condition met" in waited, waited
    get = 'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST/get"'
    head = sh_ok(mesh, GATEWAY_API_HOST + get).replace("\r\n", "\n").splitlines()
    assert head[0] == "HTTP/1.1 200 OK" and "server: istio-envoy" in head, head
    headers = 'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST/headers"'
    assert sh_ok(mesh, GATEWAY_API_HOST + headers).startswith("HTTP/1.1 404 Not Found")
    sh_ok(mesh, HEADER_ROUTE)
    read = 'curl -s -HHost:httpbin.example.com "http://$INGRESS_HOST/headers"'
    assert '"My-Added-Header": "added-value"' in sh_ok(mesh, GATEWAY_API_HOST + read)
    cleanup = sh(mesh, GATEWAY_API_CLEANUP)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert 'gateway.gateway.networking.k8s.io "gateway" deleted' in cleanup.stdout
