"""What a sidecar's AuthorizationPolicy sees of a request a gateway sends it (security, Istio
fidelity; no issue number): as in a cluster, the gateway's connection comes from the gateway
pod's address, in a mesh sharing the host's network and in an isolated one (pods in their own
network namespaces, the ingress gateway on the pods' bridge).

One mesh per mode (isolated: root), each: Istio's sleep and httpbin, the ingress gateway routing
every host to httpbin (an Istio Gateway and VirtualService) and a Gateway API Gateway with an
HTTPRoute to it. In the isolated mode sleep (no container port) is a captured pod with no
inbound listener (before: an empty `virtualInbound`, NACKed, so it never got ready) and the
Gateway API gateway's pod has no capture rules, as Istio injects none into a gateway (before:
its listener's port was redirected to an inbound listener it does not have). httpbin's policies
name the gateways' pod addresses (`get pod ... status.podIP`), each rule on its own path
(`/status/<code>` answers `<code>`):

- DENY `ipBlocks: [<ingress gateway>, <Gateway API gateway>]` on /status/201: both gateways are
  refused, sleep is not (before, the ingress gateway's requests came from 127.0.0.1: the DENY
  never matched);
- ALLOW `ipBlocks: [<ingress gateway>]` on /status/202 (everything else allowed): the gateway
  passes, sleep is refused;
- DENY `notIpBlocks: [<ingress gateway>]` on /status/203: sleep is refused, the gateway passes;
- Istio's `remoteIpBlocks` at a sidecar (inbound `use_remote_address: false`, no trusted hops):
  the last `X-Forwarded-For` hop, the one the gateway appended for its own peer. A client of the
  gateway forging `X-Forwarded-For` moves neither: its forged hop comes first, so a DENY on its
  real address holds on /status/204 and a DENY on the forged one does not fire on /status/205;
  nor does it move `ipBlocks`, which stays the gateway's (/status/201 refused whatever the
  header says, /status/206 denying the client's address never fires for `ipBlocks`).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.authzkit import raw_http
from tests.e2e.meshctl import NEEDS_ISOLATION, LocalMesh, pilotfish_ok

CLIENT, OTHER = "127.0.0.10", "127.0.0.11"  # loopback addresses the gateway's client uses
API_PORT = 8081
ROUTES = f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: httpbin-gateway}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 8080, name: http, protocol: HTTP}}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin}}
spec:
  hosts: ["*"]
  gateways: [httpbin-gateway]
  http:
  - route: [{{destination: {{host: httpbin, port: {{number: 8000}}}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: api}}
spec:
  gatewayClassName: istio
  listeners:
  - {{name: http, port: {API_PORT}, protocol: HTTP}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: httpbin}}
spec:
  parentRefs: [{{name: api}}]
  rules:
  - backendRefs: [{{name: httpbin, port: 8000}}]
"""
POLICIES = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: gateway-addresses}}
spec:
  selector: {{matchLabels: {{app: httpbin}}}}
  action: DENY
  rules:
  - from: [{{source: {{ipBlocks: ["{ingress}", "{api}"]}}}}]
    to: [{{operation: {{paths: [/status/201]}}}}]
  - from: [{{source: {{notIpBlocks: ["{ingress}/32"]}}}}]
    to: [{{operation: {{paths: [/status/203]}}}}]
  - from: [{{source: {{remoteIpBlocks: ["{client}"]}}}}]
    to: [{{operation: {{paths: [/status/204]}}}}]
  - from: [{{source: {{remoteIpBlocks: ["{forged}"]}}}}]
    to: [{{operation: {{paths: [/status/205]}}}}]
  - from: [{{source: {{ipBlocks: ["{client}", "{forged}"]}}}}]
    to: [{{operation: {{paths: [/status/206]}}}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: only-the-gateway}}
spec:
  selector: {{matchLabels: {{app: httpbin}}}}
  action: ALLOW
  rules:
  - from: [{{source: {{ipBlocks: ["{ingress}"]}}}}]
    to: [{{operation: {{paths: [/status/202]}}}}]
  - to: [{{operation: {{notPaths: [/status/202]}}}}]
"""
ISOLATED = NEEDS_ISOLATION


def _ok(mesh: LocalMesh, command: str, stdin: str | None = None) -> str:
    return pilotfish_ok(mesh, *shlex.split(command), stdin=stdin)


def _pod_ip(mesh: LocalMesh, selector: str, namespace: str = "default") -> str:
    path = "jsonpath={.items[0].status.podIP}"
    return _ok(mesh, f"get pod -n {namespace} -l {selector} -o {path}").strip()


def _client_address(mesh: LocalMesh) -> str:
    """Where a client on the host reaches the Gateway API gateway: its Gateway's address."""
    return _ok(mesh, "get gtw api -o jsonpath={.status.addresses[0].value}").strip()


@pytest.fixture(scope="module", params=["shared", pytest.param("isolated", marks=ISOLATED)])
def mesh(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[LocalMesh]:
    isolated = request.param == "isolated"
    started = LocalMesh(tmp_path_factory.mktemp("home"), None, isolated=isolated)
    try:
        result = started.up()
        assert result.returncode == 0, result.stdout + result.stderr
        for sample in ("sleep", "httpbin"):
            _ok(started, f"apply -f tests/data/istio-samples/{sample}.yaml")
        _ok(started, "apply -f -", stdin=ROUTES)
        _ok(started, "wait --for=condition=programmed gtw api --timeout=60s")
        _ok(started, "wait --for=condition=ready pod --all --timeout=60s")
        ingress = _pod_ip(started, "app=istio-ingressgateway", "istio-system")
        api = _pod_ip(started, "gateway.networking.k8s.io/gateway-name=api")
        text = POLICIES.format(ingress=ingress, api=api, client=CLIENT, forged=OTHER)
        _ok(started, "apply -f -", stdin=text)
        started.wait_for(lambda: sleep_get(started, "/status/203") == 403, 30, "the policies")
        yield started
    finally:
        started.down()


def sleep_get(mesh: LocalMesh, path: str) -> int:
    """What sleep's curl gets from httpbin (through its sidecar)."""
    code = _ok(
        mesh, f"exec deploy/sleep -- curl -s -o /dev/null -w %{{http_code}} httpbin:8000{path}"
    )
    return int(code)


def ingress_get(mesh: LocalMesh, path: str, source: str = "", forwarded_for: str = "") -> int:
    headers = (("x-forwarded-for", forwarded_for),) if forwarded_for else ()
    answer = raw_http(mesh.ingress, 8080, path, headers=headers, source=source)
    return answer.status


def test_a_deny_on_the_gateways_pod_addresses_holds(mesh: LocalMesh) -> None:
    assert ingress_get(mesh, "/status/201") == 403
    assert ingress_get(mesh, "/status/201", CLIENT, forwarded_for=OTHER) == 403
    assert raw_http(_client_address(mesh), API_PORT, "/status/201").status == 403
    assert sleep_get(mesh, "/status/201") == 201
    assert ingress_get(mesh, "/status/200") == 200  # the gateways reach httpbin
    assert raw_http(_client_address(mesh), API_PORT, "/status/200").status == 200


def test_an_allow_on_the_gateways_pod_address_lets_only_the_gateway_in(mesh: LocalMesh) -> None:
    assert ingress_get(mesh, "/status/202") == 202
    assert ingress_get(mesh, "/status/202", CLIENT, forwarded_for="10.1.2.3") == 202
    assert sleep_get(mesh, "/status/202") == 403
    assert raw_http(_client_address(mesh), API_PORT, "/status/202").status == 403


def test_a_deny_on_not_the_gateways_address(mesh: LocalMesh) -> None:
    assert ingress_get(mesh, "/status/203") == 203
    assert sleep_get(mesh, "/status/203") == 403


def test_remote_ip_blocks_at_the_sidecar_are_what_the_gateway_saw(mesh: LocalMesh) -> None:
    assert ingress_get(mesh, "/status/204", CLIENT) == 403
    assert ingress_get(mesh, "/status/204", CLIENT, forwarded_for=OTHER) == 403
    assert ingress_get(mesh, "/status/204", OTHER) == 204
    assert ingress_get(mesh, "/status/205", CLIENT, forwarded_for=OTHER) == 205
    assert ingress_get(mesh, "/status/205", OTHER) == 403
    # the connection's peer is the gateway, whatever the client or its header says
    assert ingress_get(mesh, "/status/206", CLIENT) == 206
    assert ingress_get(mesh, "/status/206", OTHER, forwarded_for=CLIENT) == 206
    assert sleep_get(mesh, "/status/204") == 204


def test_the_gateways_envoy_admin_is_out_of_the_pods_reach(mesh: LocalMesh) -> None:
    """In the isolated mode the gateway's address is on the pods' bridge, its admin (15000) is
    not (on the host's loopback, where `pilotfish` reaches it), as a gateway pod's admin is its
    localhost in Istio; its Prometheus page (15090) is on its address for pods and host alike.
    (Sharing the host's network, every pod shares the host's loopback: nothing to keep apart.)"""
    gateway = _pod_ip(mesh, "app=istio-ingressgateway", "istio-system")
    probe = "curl -s -o /dev/null -w %{http_code} --max-time 5"
    stats = _ok(mesh, f"exec deploy/sleep -- {probe} http://{gateway}:15090/stats/prometheus")
    assert stats == "200"
    if mesh.isolated:
        url = f"http://{gateway}:15000/server_info"
        admin = mesh.pilotfish("exec", "deploy/sleep", "--", *probe.split(), url)
        assert admin.stdout == "000", admin.stdout + admin.stderr
    config = _ok(mesh, "proxy-config listeners -n istio-system deploy/istio-ingressgateway")
    assert "8080" in config, config


THROUGH_AN_ENTRY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: httpbin-vm}}
spec:
  hosts: [vm.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 8000, name: http, protocol: HTTP, targetPort: 8080}}]
  endpoints: [{{address: {address}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin-vm}}
spec:
  hosts: [vm.example]
  gateways: [httpbin-gateway]
  http:
  - route: [{{destination: {{host: vm.example, port: {{number: 8000}}}}}}]
"""


def test_the_gateways_address_holds_through_a_mesh_internal_entry(mesh: LocalMesh) -> None:
    """httpbin's pod behind a MESH_INTERNAL ServiceEntry (its own endpoint: in the isolated
    mode off the host's loopback, on the pods' bridge). Only a proxy bound to loopback reaches
    such a service from the node (`translate.source_bind`); the isolated mesh's ingress
    gateway, bound to its address on the bridge, keeps it, so the DENY naming it holds."""
    address = _pod_ip(mesh, "app=httpbin")
    text = THROUGH_AN_ENTRY.format(address=address)
    _ok(mesh, "apply -f -", stdin=text)

    def get(path: str) -> int:
        return raw_http(mesh.ingress, 8080, path, authority="vm.example").status

    try:
        mesh.wait_for(lambda: get("/status/200") == 200, 30, "the gateway's route to vm.example")
        assert get("/status/201") == 403
        assert get("/status/203") == 203
    finally:
        _ok(mesh, "delete -f -", stdin=text)
