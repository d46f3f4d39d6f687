"""Gateways beyond plain HTTP, through real Envoys: HTTPS SIMPLE from a `credentialName` Secret
(over SDS), HTTPS MUTUAL from certificate files, TLS PASSTHROUGH by SNI to an HTTPS server
outside the mesh, httpsRedirect, several servers and hosts on one port, and an egress gateway
(Istio's egress gateway task: sidecar -> egress gateway -> external service). One mesh.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.l4kit import http_server, https_get, proxy_get
from tests.e2e.meshctl import CLUSTER_STATS_MESH, LocalMesh, http, with_mesh_config
from tests.pki import Pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def secure_backend(pki: Pki) -> Iterator[tuple[str, int]]:
    names = ["secure.example", "no-mode.example"]
    with http_server("secure", tls=pki.issue("secure", names)) as server:
        yield server


@pytest.fixture(scope="module")
def plain_backend() -> Iterator[tuple[str, int]]:
    with http_server("edition") as server:
        yield server


@pytest.fixture(scope="module")
def gw_mesh(
    tmp_path_factory: pytest.TempPathFactory,
    pki: Pki,
    secure_backend: tuple[str, int],
    plain_backend: tuple[str, int],
) -> Iterator[LocalMesh]:
    extras = with_mesh_config(tmp_path_factory, "samples/extras", CLUSTER_STATS_MESH)
    mesh = LocalMesh(tmp_path_factory.mktemp("home"), extras)
    result = mesh.up()
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        mesh.apply("samples/httpbin/httpbin.yaml", "samples/sleep/sleep.yaml")
        config = tmp_path_factory.mktemp("config") / "gateway.yaml"
        config.write_text(_config(pki, secure_backend, plain_backend))
        mesh.apply(str(config))
        mesh.wait_for(
            lambda: "httpbin-v1-0.default" in mesh.info["proxies"], 30, "httpbin to start"
        )
        mesh.wait_for(lambda: "sleep-0.default" in mesh.info["proxies"], 30, "sleep to start")
        yield mesh
    finally:
        mesh.down()


NO_MODE = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: no-mode
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 8443
      name: https
      protocol: HTTPS
    tls:
      credentialName: httpbin-credential
    hosts:
    - other.example
"""


def _config(pki: Pki, secure: tuple[str, int], plain: tuple[str, int]) -> str:
    cert, key = pki.issue("httpbin", ["httpbin.example.com"])
    mtls_cert, mtls_key = pki.issue("mtls", ["mtls.example.com"])
    indent = "\n    "
    return f"""
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {{name: httpbin-credential, namespace: istio-system}}
stringData:
  tls.crt: |
    {indent.join(cert.read_text().splitlines())}
  tls.key: |
    {indent.join(key.read_text().splitlines())}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 8080, name: http, protocol: HTTP}}
    hosts: [httpbin.example.com]
    tls: {{httpsRedirect: true}}
  - port: {{number: 8080, name: http-plain, protocol: HTTP}}
    hosts: [plain.example.com]
  - port: {{number: 8443, name: https, protocol: HTTPS}}
    hosts: [httpbin.example.com]
    tls: {{mode: SIMPLE, credentialName: httpbin-credential}}
  - port: {{number: 8443, name: https-mtls, protocol: HTTPS}}
    hosts: [mtls.example.com]
    tls:
      mode: MUTUAL
      serverCertificate: {mtls_cert}
      privateKey: {mtls_key}
      caCertificates: {pki.ca_path}
  - port: {{number: 8443, name: tls-passthrough, protocol: TLS}}
    hosts: [secure.example]
    tls: {{mode: PASSTHROUGH}}
  - port: {{number: 8443, name: https-no-mode, protocol: HTTPS}}
    hosts: [no-mode.example]
    tls: {{credentialName: httpbin-credential}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin}}
spec:
  hosts: [httpbin.example.com, mtls.example.com, plain.example.com, no-mode.example]
  gateways: [gw]
  http:
  - route: [{{destination: {{host: httpbin, port: {{number: 8000}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: secure}}
spec:
  hosts: [secure.example]
  resolution: STATIC
  ports: [{{number: 443, name: tls, protocol: TLS}}]
  endpoints: [{{address: {secure[0]}, ports: {{tls: {secure[1]}}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: secure}}
spec:
  hosts: [secure.example, no-mode.example]
  gateways: [gw]
  tls:
  - match: [{{port: 8443, sniHosts: [secure.example, no-mode.example]}}]
    route: [{{destination: {{host: secure.example, port: {{number: 443}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: edition}}
spec:
  hosts: [edition.example]
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: {plain[0]}, ports: {{http: {plain[1]}}}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: istio-egressgateway}}
spec:
  selector: {{istio: egressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: [edition.example]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: direct-edition-through-egress-gateway}}
spec:
  hosts: [edition.example]
  gateways: [istio-egressgateway, mesh]
  http:
  - match: [{{gateways: [mesh], port: 80}}]
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        port: {{number: 80}}
  - match: [{{gateways: [istio-egressgateway], port: 80}}]
    route:
    - destination: {{host: edition.example, port: {{number: 80}}}}
"""


def test_https_simple_from_a_credential_secret(gw_mesh: LocalMesh, pki: Pki) -> None:
    gw_mesh.wait_for(
        lambda: (
            https_get(gw_mesh.ingress, 8443, "httpbin.example.com", "/status/200", pki.ca_path)[0]
            == 200
        ),
        what="HTTPS ingress",
    )
    status, body = https_get(gw_mesh.ingress, 8443, "httpbin.example.com", "/headers", pki.ca_path)
    assert status == 200 and "httpbin.example.com" in body, body


def test_https_mutual_needs_a_client_certificate(gw_mesh: LocalMesh, pki: Pki) -> None:
    client = pki.issue("client", ["client.example.com"])
    status, _ = https_get(
        gw_mesh.ingress, 8443, "mtls.example.com", "/status/200", pki.ca_path, client
    )
    assert status == 200
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        https_get(gw_mesh.ingress, 8443, "mtls.example.com", "/status/200", pki.ca_path)
    other = Pki.create(pki.folder / "other", "another CA")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        https_get(
            gw_mesh.ingress, 8443, "mtls.example.com", "/", pki.ca_path, other.issue("x", ["x"])
        )


def test_tls_passthrough_reaches_the_backend_certificate(gw_mesh: LocalMesh, pki: Pki) -> None:
    status, body = https_get(gw_mesh.ingress, 8443, "secure.example", "/p", pki.ca_path)
    assert status == 200 and body.startswith("secure /p"), body


def test_https_with_no_tls_mode_passes_tls_through(
    gw_mesh: LocalMesh, pki: Pki, tmp_path: Path
) -> None:
    """Istio's ServerTLSSettings default mode is PASSTHROUGH: an HTTPS server with only a
    `credentialName` terminates nothing (its http route is not used) and its VirtualService's
    `tls` route carries the client's TLS to the backend, whose certificate the client sees;
    `apply` warns as Istio's validation does."""
    status, body = https_get(gw_mesh.ingress, 8443, "no-mode.example", "/p", pki.ca_path)
    assert status == 200 and body.startswith("secure /p"), body
    config = tmp_path / "no-mode.yaml"
    config.write_text(NO_MODE)
    applied = gw_mesh.apply(str(config))
    gw_mesh.pilotfish("delete", "gateway", "no-mode")
    warning = "PASSTHROUGH mode does not use certificates, they will be ignored"
    assert warning in applied.stdout + applied.stderr, applied.stdout + applied.stderr


def test_https_redirect_and_plain_http_on_one_port(gw_mesh: LocalMesh) -> None:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kw: object) -> None:
            return None

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)
    request = urllib.request.Request(
        f"http://{gw_mesh.ingress}:8080/headers", headers={"host": "httpbin.example.com"}
    )
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(request, timeout=10)
    assert redirect.value.code == 301
    assert redirect.value.headers["location"].startswith("https://httpbin.example.com")
    plain = http(f"http://{gw_mesh.ingress}:8080/headers", headers={"host": "plain.example.com"})
    assert plain.status == 200 and "plain.example.com" in plain.body


def test_egress_gateway_carries_sidecar_traffic_to_the_external_service(
    gw_mesh: LocalMesh,
) -> None:
    sleep = gw_mesh.info["proxies"]["sleep-0.default"]
    proxy = (sleep["ip"], sleep["outbound_port"])
    egress_ip = gw_mesh.info["proxies"]["istio-egressgateway-0.istio-system"]["ip"]

    def counted() -> int:
        stats = http(f"http://{egress_ip}:15000/stats?filter=edition.example").body
        total = [line for line in stats.splitlines() if line.endswith(".upstream_rq_total: 0")]
        rows = [line for line in stats.splitlines() if "upstream_rq_total" in line]
        return sum(int(line.rsplit(":", 1)[1]) for line in rows) if rows and not total else 0

    before = counted()
    for _ in range(3):
        status, _, body = proxy_get(proxy, "http://edition.example/politics")
        assert status == 200 and body.startswith("edition /politics"), (status, body)
    assert counted() >= before + 3


EGRESS_DENY = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: egress-by-address, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: egressgateway}}}}
  action: DENY
  rules:
  - from: [{{source: {{ipBlocks: ["{ip}"]}}}}]
    to: [{{operation: {{paths: [/by-address]}}}}]
"""


def test_the_egress_gateway_sees_each_sidecars_pod_address(
    gw_mesh: LocalMesh, tmp_path: Path
) -> None:
    """A sidecar's connection to the egress gateway comes from its pod's address, so a DENY at
    the gateway naming sleep's address refuses sleep and not httpbin's pod (security)."""
    proxies = gw_mesh.info["proxies"]
    sleep, other = proxies["sleep-0.default"], proxies["httpbin-v1-0.default"]
    policy = tmp_path / "deny.yaml"
    policy.write_text(EGRESS_DENY.format(ip=sleep["ip"]))
    gw_mesh.apply(str(policy))
    url = "http://edition.example/by-address"
    try:
        gw_mesh.wait_for(
            lambda: proxy_get((sleep["ip"], sleep["outbound_port"]), url)[0] == 403,
            what="the DENY at the egress gateway",
        )
        status, _, body = proxy_get((other["ip"], other["outbound_port"]), url)
        assert status == 200 and body.startswith("edition /by-address"), (status, body)
    finally:
        gw_mesh.pilotfish(
            "delete", "authorizationpolicy", "egress-by-address", "-n", "istio-system"
        )


def _curl(*args: str) -> str:
    import subprocess

    result = subprocess.run(
        ["curl", "-s", "-i", "--max-time", "10", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_secure_gateway_speaks_http2_and_serves_the_teapot(gw_mesh: LocalMesh, pki: Pki) -> None:
    """Istio's Secure Gateways task: `curl -v -HHost:… --resolve … --cacert … /status/418`."""
    gw_mesh.wait_for(
        lambda: (
            https_get(gw_mesh.ingress, 8443, "httpbin.example.com", "/status/200", pki.ca_path)[0]
            == 200
        ),
        what="HTTPS ingress",
    )
    out = _curl(
        "-HHost:httpbin.example.com", "--resolve", f"httpbin.example.com:8443:{gw_mesh.ingress}",
        "--cacert", str(pki.ca_path), "https://httpbin.example.com:8443/status/418",
    )  # fmt: skip
    assert out.startswith("HTTP/2 418"), out
    assert "server: istio-envoy" in out and "-=[ teapot ]=-" in out and '`"""`' in out, out


def test_gateway_sees_the_clients_address(gw_mesh: LocalMesh) -> None:
    """As Istio's gateways (use_remote_address, no trusted hops by default): the app sees the
    client's address in X-Forwarded-For and X-Envoy-External-Address, and a forged
    X-Forwarded-For is not taken for the client's."""
    url = f"http://{gw_mesh.ingress}:8080/headers"
    body = _curl("-HHost:plain.example.com", url)
    assert (
        '"X-Forwarded-For": "127.0.0.1"' in body
        and '"X-Envoy-External-Address": "127.0.0.1"' in body
    ), body
    forged = _curl("-HHost:plain.example.com", "-H", "X-Forwarded-For: 6.6.6.6", url)
    assert '"X-Envoy-External-Address": "127.0.0.1"' in forged, forged
    assert '"X-Forwarded-For": "6.6.6.6,127.0.0.1"' in forged, forged


MISSING_CREDENTIAL = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mygateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 9443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: httpbin-credential-missing}
    hosts: [missing.example.com]
"""


def test_analyze_reports_a_missing_credential_secret(gw_mesh: LocalMesh, tmp_path: Path) -> None:
    """Issue 8 item 10: istioctl analyze's IST0101 for a Gateway whose credentialName Secret is
    not in the gateway's namespace, on the running mesh (the file analysed as if applied)."""
    config = tmp_path / "gateway.yaml"
    config.write_text(MISSING_CREDENTIAL)
    result = gw_mesh.pilotfish("analyze", "--use-mesh", "-f", str(config))
    assert result.returncode == 79, result.stdout + result.stderr  # an Error was found
    lines = [line for line in result.stdout.splitlines() if "IST0101" in line]
    assert len(lines) == 1 and "(Gateway default/mygateway " in lines[0], result.stdout
    assert 'Referenced credentialName not found: "httpbin-credential-missing"' in lines[0]
    quiet = gw_mesh.pilotfish("analyze", "--use-mesh")  # the mesh as it runs: its secrets exist
    assert "IST0101" not in quiet.stdout and "IST0161" not in quiet.stdout, quiet.stdout
