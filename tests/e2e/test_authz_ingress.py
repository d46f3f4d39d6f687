"""Authorization at the ingress gateway and across trust domains, through real Envoys:

- Istio's "JWT claim based routing" task: a VirtualService on the gateway routes `/headers` only
  for tokens whose `groups` claim holds `group1` (RequestAuthentication on the gateway); no token,
  another token, a forged token or a header spelled like the claim get no route (404) or 401;
- `remoteIpBlocks` with MeshConfig `numTrustedProxies: 1` (the client address is the last
  `X-Forwarded-For` hop the trusted proxy appended: an address an attacker prepends is ignored),
  and `ipBlocks` (the connection's own peer: `X-Forwarded-For` cannot fake it); a second
  ingress gateway pod whose `proxy.istio.io/config` annotation says
  `gatewayTopology: {numTrustedProxies: 2}` trusts two proxies, the mesh's gateway still one;
- a DENY at the gateway holds on its HTTPS server as on its HTTP one;
- MeshConfig `trustDomainAliases`: a policy written for `old-td/ns/default/sa/sleep` still
  matches `sleep` in a mesh whose trust domain is `new-td`; `cluster.local/...` means the local
  trust domain; another namespace's sleep does not match.
All policies are in the mesh from the start (one mesh, no per-test applies).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.authzkit import JWKS_APP, inbound, raw_http
from tests.e2e.httpkit import SidecarClient
from tests.e2e.l4kit import https_get
from tests.e2e.meshctl import ROOT, LocalMesh, running_mesh
from tests.pki import Pki

GROUPS = (ROOT / "samples/jwt/groups-scope.jwt").read_text().strip()
DEMO = (ROOT / "samples/jwt/demo.jwt").read_text().strip()
HOST = "httpbin.example.com"
TRUSTED = "10.1.2.3"  # inside the remoteIpBlocks the gateway allows /ip from
UNTRUSTED = "10.9.9.9"
PROXY_HOP = "192.0.2.7"  # an address a proxy in front of the gateway appended
EDGE = "edge-gateway-0.istio-system"
DENIED_SOURCE = "127.0.0.10"  # a loopback address this test connects from (ipBlocks)
OTHER_SOURCE = "127.0.0.11"


def _manifest(folder: Path, pki: Pki) -> str:
    (folder / "jwks_app.py").write_text(JWKS_APP)
    cert, key = pki.issue("httpbin", [HOST])
    samples = ROOT / "samples"
    workload = """
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {ns}, labels: {{app: {name}}}}}
spec:
  ports: [{{name: http, port: {port}, targetPort: 8080}}]
  selector: {{app: {name}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {name}, namespace: {ns}}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: {ns}, labels: {{app: {name}}}}}
spec:
  serviceAccount: {name}
  command: ["{python}", "{script}"]
  ports: [8080]
---"""
    apps = [
        ("httpbin", "default", 8000, samples / "httpbin/httpbin.py"),
        ("sleep", "default", 80, samples / "sleep/sleep.py"),
        ("sleep", "other", 80, samples / "sleep/sleep.py"),
        ("jwks", "default", 8000, folder / "jwks_app.py"),
    ]
    text = (
        "apiVersion: v1\nkind: Namespace\n"
        "metadata: {name: other, labels: {istio-injection: enabled}}\n---" + EDGE_GATEWAY
    )
    for name, ns, port, script in apps:
        text += workload.format(name=name, ns=ns, port=port, python=sys.executable, script=script)
    (folder / "mesh.yaml").write_text(text + CONFIG.format(cert=cert, key=key))
    return str(folder)


EDGE_GATEWAY = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: edge-gateway, namespace: istio-system}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata:
  name: edge-gateway
  namespace: istio-system
  labels: {app: edge-gateway, istio: ingressgateway}
  annotations:
    proxy.istio.io/config: '{"gatewayTopology": {"numTrustedProxies": 2}}'
spec:
  serviceAccount: edge-gateway
  command: ["python", "-c", "import signal; signal.pause()"]
---"""

CONFIG = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: istio, namespace: istio-system}}
data:
  mesh: |
    trustDomain: new-td
    trustDomainAliases: [old-td]
    defaultConfig:
      gatewayTopology: {{numTrustedProxies: 1}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: httpbin-gateway}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 8080, name: http, protocol: HTTP}}
    hosts: ["*"]
  - port: {{number: 8443, name: https, protocol: HTTPS}}
    hosts: [httpbin.example.com]
    tls: {{mode: SIMPLE, serverCertificate: {cert}, privateKey: {key}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin}}
spec:
  hosts: ["*"]
  gateways: [httpbin-gateway]
  http:
  - match:
    - uri: {{prefix: /headers}}
      headers:
        "@request.auth.claims.groups": {{exact: group1}}
    route: [{{destination: {{host: httpbin, port: {{number: 8000}}}}}}]
  - match: [{{uri: {{prefix: /ip}}}}, {{uri: {{prefix: /anything}}}}, {{uri: {{prefix: /status}}}}]
    route: [{{destination: {{host: httpbin, port: {{number: 8000}}}}}}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: ingress-jwt, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  jwtRules:
  - issuer: testing@secure.istio.io
    jwksUri: http://jwks.default.svc.cluster.local:8000/jwks.json
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: ingress-policy, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  action: DENY
  rules:
  - from: [{{source: {{notRemoteIpBlocks: [10.1.2.0/24]}}}}]
    to: [{{operation: {{paths: [/ip]}}}}]
  - from: [{{source: {{ipBlocks: [127.0.0.10/32]}}}}]
    to: [{{operation: {{paths: [/anything/by-peer]}}}}]
  - to: [{{operation: {{paths: [/status/418]}}}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: httpbin-viewer, namespace: default}}
spec:
  selector: {{matchLabels: {{app: httpbin}}}}
  action: ALLOW
  rules:
  - from: [{{source: {{principals: [old-td/ns/default/sa/sleep]}}}}]
    to: [{{operation: {{paths: ["/anything/old"]}}}}]
  - from: [{{source: {{principals: [cluster.local/ns/default/sa/sleep]}}}}]
    to: [{{operation: {{paths: ["/anything/local"]}}}}]
  - from: [{{source: {{principals: [evil-td/ns/default/sa/sleep]}}}}]
    to: [{{operation: {{paths: ["/anything/evil"]}}}}]
  - from: [{{source: {{namespaces: [istio-system]}}}}]
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[LocalMesh]:
    folder = tmp_path_factory.mktemp("ingress-authz-mesh")
    with running_mesh(tmp_path_factory, _manifest(folder, pki)) as started:
        yield started


def gateway(
    mesh: LocalMesh, path: str, token: str = "", source: str = "", **kw: object
) -> tuple[int, str]:
    headers = list(kw.pop("headers", ()))  # type: ignore[call-overload]
    if token:
        headers.append(("authorization", f"Bearer {token}"))
    answer = raw_http(
        mesh.ingress, 8080, path, headers=tuple(headers), source=source, authority=HOST
    )
    return answer.status, answer.body


def test_jwt_claim_based_routing(mesh: LocalMesh) -> None:
    """Istio's task: 200 with group1 in the token's groups, 404 without a token or group1."""
    mesh.wait_for(lambda: gateway(mesh, "/headers", GROUPS)[0] == 200, 30, "claim route")
    assert gateway(mesh, "/headers")[0] == 404  # no token: no claims, no route
    assert gateway(mesh, "/headers", DEMO)[0] == 404  # a valid token without the group
    assert gateway(mesh, "/headers", "not.a.jwt")[0] == 401
    # an attacker: a header named like the claim is not a claim (and not even a valid name)
    forged = (("@request.auth.claims.groups", "group1"),)
    assert gateway(mesh, "/headers", headers=forged)[0] in (400, 404)
    assert gateway(mesh, "/headers", headers=(("groups", "group1"),))[0] == 404
    assert gateway(mesh, "/ip")[0] != 404  # other routes are not claim-bound


def test_remote_ip_blocks_trust_one_proxy(mesh: LocalMesh) -> None:
    """numTrustedProxies: 1: the client is the last X-Forwarded-For hop (appended by the trusted
    proxy); anything before it is the client's own claim and is ignored."""
    assert gateway(mesh, "/ip", headers=(("x-forwarded-for", TRUSTED),))[0] == 200
    assert gateway(mesh, "/ip")[0] == 403  # no proxy hop: the connection's peer, not allowed
    assert gateway(mesh, "/ip", headers=(("x-forwarded-for", UNTRUSTED),))[0] == 403
    forged = (("x-forwarded-for", f"{TRUSTED}, {UNTRUSTED}"),)  # attacker prepends TRUSTED
    assert gateway(mesh, "/ip", headers=forged)[0] == 403
    two = (("x-forwarded-for", TRUSTED), ("x-forwarded-for", UNTRUSTED))  # two headers
    assert gateway(mesh, "/ip", headers=two)[0] == 403
    assert gateway(mesh, "/ip", headers=(("x-envoy-external-address", TRUSTED),))[0] == 403


def test_a_gateway_pod_trusts_its_own_number_of_proxies(mesh: LocalMesh) -> None:
    """The edge gateway's annotation (2 proxies in front) overrides the mesh's 1 for that
    gateway only: the client is the second address from the right there, the last one at the
    mesh's gateway; what an attacker prepends is ignored by both."""
    edge = mesh.proxy(EDGE)["ip"]

    def ip(address: str, xff: str) -> int:
        headers = (("x-forwarded-for", xff),)
        return raw_http(address, 8080, "/ip", headers=headers, authority=HOST).status

    mesh.wait_for(lambda: ip(edge, f"{TRUSTED}, {PROXY_HOP}") == 200, 30, "the edge gateway")
    assert ip(edge, f"{UNTRUSTED}, {TRUSTED}") == 403  # the client is UNTRUSTED there
    assert ip(edge, f"{TRUSTED}, {UNTRUSTED}, {PROXY_HOP}") == 403  # TRUSTED prepended
    assert ip(edge, TRUSTED) == 403  # fewer hops than trusted: the connection's peer
    # the same headers at the mesh's gateway (one trusted proxy): the last address is the client
    assert ip(mesh.ingress, f"{TRUSTED}, {PROXY_HOP}") == 403
    assert ip(mesh.ingress, f"{UNTRUSTED}, {TRUSTED}") == 200


def test_ip_blocks_are_the_connection_peer(mesh: LocalMesh) -> None:
    assert gateway(mesh, "/anything/by-peer", source=DENIED_SOURCE)[0] == 403
    assert gateway(mesh, "/anything/by-peer", source=OTHER_SOURCE)[0] == 200
    xff = (("x-forwarded-for", OTHER_SOURCE),)
    assert gateway(mesh, "/anything/by-peer", source=DENIED_SOURCE, headers=xff)[0] == 403


def test_deny_holds_on_the_https_server_too(mesh: LocalMesh, pki: Pki) -> None:
    assert gateway(mesh, "/status/418")[0] == 403
    assert https_get(mesh.ingress, 8443, HOST, "/status/418", ca=pki.ca_path)[0] == 403
    assert https_get(mesh.ingress, 8443, HOST, "/status/200", ca=pki.ca_path)[0] == 200


def test_trust_domain_aliases(mesh: LocalMesh) -> None:
    sleep = SidecarClient(mesh, "sleep-0")
    url = "http://httpbin.default:8000"
    assert sleep.request(f"{url}/anything/old").status == 200  # alias old-td: same identity
    assert sleep.request(f"{url}/anything/local").status == 200  # cluster.local: the local td
    assert sleep.request(f"{url}/anything/evil").status == 403  # another trust domain
    other = SidecarClient(mesh, "sleep-0.other")
    assert other.request(f"{url}/anything/old").status == 403
    # plaintext straight to httpbin's sidecar carries no identity at all
    assert raw_http(inbound(mesh, "httpbin-0"), 8080, "/anything/old").status == 403
