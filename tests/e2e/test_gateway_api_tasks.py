"""Istio's tasks in their "Gateway API" tab, through real Envoys: Getting Started's Gateway
(class `istio`: its own proxy `bookinfo-gateway-istio`, deployed for it) and HTTPRoute to
productpage, waited for and addressed as Istio's docs do (`wait --for=condition=programmed gtw`,
`.status.addresses[0].value`); then the request-routing task's HTTPRoutes with a Service parent
(GAMMA: mesh routing of `reviews`), seen on the product page. The tests share one mesh and run
in order, as a user walks through the tasks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.l4kit import https_get
from tests.e2e.meshctl import SERVED_BY, LocalMesh, PortForward, http, running_mesh
from tests.pki import Pki

API = "samples/bookinfo/gateway-api"
JASON_V2 = """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reviews
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: reviews
    port: 9080
  rules:
  - matches:
    - headers:
      - name: end-user
        value: jason
    backendRefs:
    - name: reviews-v2
      port: 9080
  - backendRefs:
    - name: reviews-v1
      port: 9080
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/bookinfo") as found:
        yield found


def gateway_address(mesh: LocalMesh) -> str:
    result = mesh.pilotfish(
        "get", "gtw", "bookinfo-gateway", "-o", "jsonpath={.status.addresses[0].value}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def served_by(url: str, n: int, cookie: str | None = None) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(n):
        resp = http(url, headers={"cookie": cookie} if cookie else {})
        assert resp.status == 200, resp.status
        match = SERVED_BY.search(resp.body)
        seen[match.group(1) if match else "none"] += 1
    return seen


def test_getting_started_gateway_is_deployed_programmed_and_serves(mesh: LocalMesh) -> None:
    applied = mesh.apply(f"{API}/bookinfo-gateway.yaml").stdout
    assert "gateway.gateway.networking.k8s.io/bookinfo-gateway created" in applied, applied
    assert "httproute.gateway.networking.k8s.io/bookinfo created" in applied, applied
    for kind in ("serviceaccount", "service", "workload"):  # the controller's: kubectl is silent
        assert f"{kind}/bookinfo-gateway-istio" not in applied, applied
    waited = mesh.pilotfish(
        "wait", "--for=condition=programmed", "gtw", "bookinfo-gateway", "--timeout=60s"
    )
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert (
        waited.stdout.strip() == "gateway.gateway.networking.k8s.io/bookinfo-gateway condition met"
    )
    table = mesh.pilotfish("get", "gtw").stdout.splitlines()
    assert table[0].split() == ["NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"], table
    address = gateway_address(mesh)
    assert table[1].split()[:4] == ["bookinfo-gateway", "istio", address, "True"], table
    pods = mesh.pilotfish("get", "pods").stdout
    assert "bookinfo-gateway-istio-0" in pods, pods
    page = http(f"http://{address}:80/productpage")
    assert page.status == 200 and "<title>Simple Bookstore App</title>" in page.body, page.status
    assert http(f"http://{address}:80/details/0").status == 404  # not among the route's paths
    assert http(f"http://{address}:80/staticx").status == 404  # a prefix matches whole segments
    forward = PortForward(mesh, "svc/bookinfo-gateway-istio", ":80")  # Istio's docs: 8080:80
    try:
        assert forward.lines[0] == f"Forwarding from 127.0.0.1:{forward.ports[0]} -> 80\n"
        page = http(f"http://127.0.0.1:{forward.ports[0]}/productpage")
        assert page.status == 200 and "Simple Bookstore App" in page.body
    finally:
        forward.stop()
    classes = mesh.pilotfish("get", "gc").stdout.splitlines()
    assert [c.split()[:3] for c in classes[:2]] == [
        ["NAME", "CONTROLLER", "ACCEPTED"],
        ["istio", "istio.io/gateway-controller", "True"],
    ]
    # Istio's own Gateway of the same name is another kind: `get gw` does not show this one
    assert "bookinfo-gateway" in mesh.pilotfish("get", "gw").stdout


MANUAL = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: manual
  namespace: istio-system
spec:
  gatewayClassName: istio
  addresses:
  - type: Hostname
    value: istio-ingressgateway.istio-system.svc.cluster.local
  listeners:
  - name: http
    hostname: "*.example.com"
    port: 8080
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: All
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: manual
spec:
  parentRefs:
  - name: manual
    namespace: istio-system
  hostnames: ["shop.example.com"]
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /shop
    filters:
    - type: URLRewrite
      urlRewrite:
        path:
          type: ReplacePrefixMatch
          replacePrefixMatch: /productpage
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set:
        - name: x-served-by
          value: manual
    backendRefs:
    - name: productpage
      port: 9080
"""


def test_manual_deployment_on_the_ingress_gateway(mesh: LocalMesh) -> None:
    result = mesh.pilotfish("apply", "-f", "-", stdin=MANUAL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bookinfo-gateway-istio" not in result.stdout  # no deployment of its own
    address = mesh.pilotfish(
        "get", "gtw", "manual", "-n", "istio-system", "-o", "jsonpath={.status.addresses[0].value}"
    )
    assert address.stdout == mesh.ingress, address.stdout + address.stderr
    page = mesh.get("/shop", headers={"Host": "shop.example.com"})
    assert page.status == 200 and "Simple Bookstore App" in page.body, page.status
    assert page.headers.get("x-served-by") == "manual"
    assert mesh.get("/productpage").headers.get("x-served-by") is None  # Istio's Gateway's route
    result = mesh.pilotfish("delete", "-f", "-", stdin=MANUAL)
    assert result.returncode == 0, result.stdout + result.stderr


SECURE = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: mygateway
  namespace: istio-system
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    hostname: "bookinfo.example.com"
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs:
      - name: bookinfo-credential
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            kubernetes.io/metadata.name: default
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: secure
spec:
  parentRefs:
  - name: mygateway
    namespace: istio-system
  hostnames: ["bookinfo.example.com"]
  rules:
  - matches:
    - path:
        type: Exact
        value: /productpage
    backendRefs:
    - name: productpage
      port: 9080
"""


def test_secure_gateway_terminates_tls_from_its_certificate_ref(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """Istio's Secure Gateways task, Gateway API tab: an HTTPS listener whose certificateRefs
    names a TLS Secret created in the Gateway's namespace."""
    pki = Pki.create(tmp_path)
    cert, key = pki.issue("bookinfo", ["bookinfo.example.com"])
    created = mesh.pilotfish(
        "create", "-n", "istio-system", "secret", "tls", "bookinfo-credential",
        f"--key={key}", f"--cert={cert}",
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    result = mesh.pilotfish("apply", "-f", "-", stdin=SECURE)
    assert result.returncode == 0, result.stdout + result.stderr
    waited = mesh.pilotfish(
        "wait", "-n", "istio-system", "--for=condition=programmed", "gtw", "mygateway"
    )
    assert waited.returncode == 0, waited.stdout + waited.stderr
    jsonpath = "jsonpath={.status.addresses[0].value}"
    host = mesh.pilotfish("get", "gtw", "mygateway", "-n", "istio-system", "-o", jsonpath).stdout

    def fetched() -> bool:
        status, body = https_get(host, 443, "bookinfo.example.com", "/productpage", pki.ca_path)
        return status == 200 and "Simple Bookstore App" in body

    mesh.wait_for(fetched, 30, "the HTTPS listener with its certificate")
    status, _ = https_get(host, 443, "bookinfo.example.com", "/details/0", pki.ca_path)
    assert status == 404
    deleted = mesh.pilotfish("delete", "-f", "-", stdin=SECURE)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr


DENY_ON_GATEWAY = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-logout
spec:
  targetRefs:
  - kind: Gateway
    group: gateway.networking.k8s.io
    name: bookinfo-gateway
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/logout"]
"""


def test_authorization_policy_attached_to_the_gateway(mesh: LocalMesh) -> None:
    """A policy with `targetRefs` to the Gateway (Istio's way for a Gateway API gateway)
    applies on its own proxy only."""
    result = mesh.pilotfish("apply", "-f", "-", stdin=DENY_ON_GATEWAY)
    assert result.returncode == 0, result.stdout + result.stderr
    url = f"http://{gateway_address(mesh)}:80"
    mesh.wait_for(lambda: http(f"{url}/logout").status == 403, 20, "the policy on the gateway")
    assert http(f"{url}/productpage").status == 200
    assert mesh.get("/logout").status != 403  # Istio's ingress gateway: not its target
    deleted = mesh.pilotfish("delete", "authorizationpolicy", "deny-logout")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr


def test_httproute_all_to_v1(mesh: LocalMesh) -> None:
    mesh.apply("samples/bookinfo/platform/kube/bookinfo-versions.yaml")
    mesh.apply(f"{API}/route-reviews-v1.yaml")
    url = f"http://{gateway_address(mesh)}:80/productpage"
    assert served_by(url, 15) == {"reviews-v1-0": 15}


def test_httproute_jason_to_v2(mesh: LocalMesh) -> None:
    result = mesh.pilotfish("apply", "-f", "-", stdin=JASON_V2)
    assert result.returncode == 0, result.stdout + result.stderr
    cookie = mesh.login("jason")
    url = f"http://{gateway_address(mesh)}:80/productpage"
    assert served_by(url, 10, cookie=cookie) == {"reviews-v2-0": 10}
    assert served_by(url, 10) == {"reviews-v1-0": 10}


def test_httproute_weights_shift_traffic(mesh: LocalMesh) -> None:
    mesh.apply(f"{API}/route-reviews-50-v3.yaml")
    seen = served_by(f"http://{gateway_address(mesh)}:80/productpage", 60)
    assert set(seen) == {"reviews-v1-0", "reviews-v3-0"}, seen
    assert 12 <= seen["reviews-v3-0"] <= 48, seen


GRPC_ROUTE = """apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: echo
spec:
  parentRefs:
  - name: bookinfo-gateway
  hostnames: ["grpc.example.com"]
  rules:
  - matches:
    - method:
        service: pilotfish.Echo
        method: Stream
    backendRefs:
    - name: grpc-echo
      port: 7070
"""


def frames(*messages: bytes) -> bytes:
    return b"".join(b"\x00" + len(m).to_bytes(4, "big") + m for m in messages)


def test_grpc_route_on_the_gateway(mesh: LocalMesh) -> None:
    mesh.apply("samples/grpc-echo/grpc-echo.yaml")
    result = mesh.pilotfish("apply", "-f", "-", stdin=GRPC_ROUTE)
    assert result.returncode == 0, result.stdout + result.stderr
    headers = {"Host": "grpc.example.com", "content-type": "application/grpc", "te": "trailers"}
    url = f"http://{gateway_address(mesh)}:80/pilotfish.Echo/"
    answer = http(url + "Stream", data=frames(b"a", b"b"), headers=headers)
    assert answer.status == 200 and answer.body.count("one ") == 2, (answer.status, answer.body)
    unrouted = http(url + "Call", data=frames(b"a"), headers=headers)  # a method not matched
    assert unrouted.headers.get("grpc-status") == "12", unrouted  # Envoy's no route: UNIMPLEMENTED
    routes = mesh.pilotfish("get", "grpcroute").stdout.splitlines()
    assert routes[1].split()[:2] == ["echo", '["grpc.example.com"]'], routes


def test_deleting_the_gateway_removes_its_proxy(mesh: LocalMesh) -> None:
    address = gateway_address(mesh)
    result = mesh.pilotfish("delete", "gtw", "bookinfo-gateway")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bookinfo-gateway-istio" not in mesh.pilotfish("get", "pods").stdout
    assert "bookinfo-gateway-istio" not in mesh.pilotfish("get", "svc").stdout
    with pytest.raises(OSError):
        http(f"http://{address}:80/productpage")
    assert mesh.get("/productpage").status == 200  # Istio's Gateway of the same name stays
