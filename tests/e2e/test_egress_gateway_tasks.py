"""Istio's "Egress Gateways" task, step by step with Istio's YAML (issue 8, item 1).

Adapted only where local mode must differ: `edition.cnn.com` is a local server on a loopback
address (its ServiceEntry resolves STATIC to it instead of DNS; never the internet), and curl
trusts that server's test CA with `--cacert`. The egress gateway is `samples/extras`' (Istio's
ports 80 and 443). The requests must really pass through the gateway: its own Envoy counts them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.l4kit import http_server
from tests.e2e.meshctl import CLUSTER_STATS_MESH, LocalMesh, running_mesh
from tests.e2e.mtlskit import http_via_sidecar
from tests.pki import Pki

SERVICE_ENTRY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: cnn
spec:
  hosts:
  - edition.cnn.com
  ports:
  - number: 80
    name: http-port
    protocol: HTTP
  - number: 443
    name: https
    protocol: HTTPS
  resolution: STATIC   # local mode: Istio's task says DNS; here a loopback server stands in
  endpoints:
  - address: {address}
    ports: {{http-port: {http}, https: {https}}}
"""

HTTP_THROUGH_GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - edition.cnn.com
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: egressgateway-for-cnn
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: direct-cnn-through-egress-gateway
spec:
  hosts:
  - edition.cnn.com
  gateways:
  - istio-egressgateway
  - mesh
  http:
  - match:
    - gateways:
      - mesh
      port: 80
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: cnn
        port:
          number: 80
      weight: 100
  - match:
    - gateways:
      - istio-egressgateway
      port: 80
    route:
    - destination:
        host: edition.cnn.com
        port:
          number: 80
      weight: 100
"""

HTTPS_PASSTHROUGH = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 443
      name: tls
      protocol: TLS
    hosts:
    - edition.cnn.com
    tls:
      mode: PASSTHROUGH
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: egressgateway-for-cnn
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: direct-cnn-through-egress-gateway
spec:
  hosts:
  - edition.cnn.com
  gateways:
  - mesh
  - istio-egressgateway
  tls:
  - match:
    - gateways:
      - mesh
      port: 443
      sniHosts:
      - edition.cnn.com
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: cnn
        port:
          number: 443
  - match:
    - gateways:
      - istio-egressgateway
      port: 443
      sniHosts:
      - edition.cnn.com
    route:
    - destination:
        host: edition.cnn.com
        port:
          number: 443
      weight: 100
"""


# Istio's task reads the gateway's access log ("if access logging is enabled"): enable it.
ACCESS_LOGS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    accessLogFile: /dev/stdout
"""


def _gateway_logged(mesh: LocalMesh, request_line: str) -> bool:
    """`kubectl logs -l istio=egressgateway -c istio-proxy -n istio-system`, as the task reads
    it, has a line for `request_line` ("GET /politics") answered 200."""
    logs = mesh.pilotfish(
        "logs", "-l", "istio=egressgateway", "-c", "istio-proxy", "-n", "istio-system"
    ).stdout
    pattern = re.compile(rf'"{re.escape(request_line)} HTTP/(1\.1|2)" 200 ')
    return any(pattern.search(line) for line in logs.splitlines())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def cnn(pki: Pki) -> Iterator[tuple[str, int, int]]:
    """`edition.cnn.com`: one loopback address, HTTP and HTTPS ports."""
    with http_server("cnn-http") as (address, http_port):
        tls = pki.issue("edition", ["edition.cnn.com"])
        with http_server("cnn-https", tls=tls, address=address) as (_, https_port):
            yield address, http_port, https_port


@pytest.fixture(scope="module")
def mesh(
    tmp_path_factory: pytest.TempPathFactory, cnn: tuple[str, int, int]
) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/extras", mesh_config=CLUSTER_STATS_MESH) as m:
        m.apply("samples/sleep/sleep.yaml")
        address, http_port, https_port = cnn
        entry = SERVICE_ENTRY.format(address=address, http=http_port, https=https_port)
        applied = m.pilotfish("apply", "-f", "-", stdin=entry + "---\n" + ACCESS_LOGS)
        assert applied.returncode == 0, applied.stderr
        yield m


def _apply(mesh: LocalMesh, text: str, tmp_path: Path) -> str:
    path = tmp_path / "task.yaml"
    path.write_text(text)
    result = mesh.pilotfish("apply", "-f", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _gateway_stat(mesh: LocalMesh, name: str) -> int:
    stats = mesh.pilotfish(
        "exec", "-n", "istio-system", "deploy/istio-egressgateway", "-c", "istio-proxy", "--",
        "pilot-agent", "request", "GET", "stats",
    )  # fmt: skip
    assert stats.returncode == 0, stats.stderr
    found = re.search(rf"^{re.escape(name)}: (\d+)$", stats.stdout, re.M)
    return int(found.group(1)) if found else 0


def _curl(mesh: LocalMesh, *args: str) -> str:
    result = mesh.pilotfish("exec", "sleep", "--", "curl", "-sS", "--max-time", "10", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_http_through_the_egress_gateway(mesh: LocalMesh, tmp_path: Path) -> None:
    out = _apply(mesh, HTTP_THROUGH_GATEWAY, tmp_path)
    assert "is not defined" not in out, out  # subset cnn: defined in the same apply
    before = _gateway_stat(mesh, "cluster.outbound|80||edition.cnn.com;.upstream_rq_200")
    body = _curl(mesh, "-D", "-", "http://edition.cnn.com/politics")
    assert body.startswith("HTTP/1.1 200"), body
    assert "cnn-http /politics host=edition.cnn.com" in body, body
    after = _gateway_stat(mesh, "cluster.outbound|80||edition.cnn.com;.upstream_rq_200")
    assert after == before + 1  # the request passed through the egress gateway's Envoy
    mesh.wait_for(lambda: _gateway_logged(mesh, "GET /politics"), 20, "the gateway's log line")


def test_https_passthrough_through_the_egress_gateway(
    mesh: LocalMesh, tmp_path: Path, pki: Pki
) -> None:
    _apply(mesh, HTTPS_PASSTHROUGH, tmp_path)
    before = _gateway_stat(mesh, "cluster.outbound|443||edition.cnn.com;.upstream_cx_total")
    body = _curl(mesh, "-D", "-", "--cacert", str(pki.ca_path), "https://edition.cnn.com/politics")
    assert "cnn-https /politics host=edition.cnn.com" in body, body
    after = _gateway_stat(mesh, "cluster.outbound|443||edition.cnn.com;.upstream_cx_total")
    assert after >= before + 1  # CONNECT followed the VirtualService tls route to the gateway


TLS_ORIGINATION = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: edition-cnn-com
spec:
  hosts:
  - edition.cnn.com
  ports:
  - number: 80
    name: http-port
    protocol: HTTP
    targetPort: 443
  - number: 443
    name: https-port
    protocol: HTTPS
  resolution: STATIC   # local mode: Istio's task says DNS; here a loopback server stands in
  endpoints:
  - address: {address}
    ports: {{http-port: {https}, https-port: {https}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: edition-cnn-com
spec:
  host: edition.cnn.com
  trafficPolicy:
    portLevelSettings:
    - port:
        number: 80
      tls:
        mode: SIMPLE # initiates HTTPS when accessing edition.cnn.com
        caCertificates: {ca}   # local mode: the stand-in server's test CA
"""


def test_egress_tls_origination(
    mesh: LocalMesh, tmp_path: Path, pki: Pki, cnn: tuple[str, int, int]
) -> None:
    """Istio's "Egress TLS Origination" task: the app speaks HTTP, its sidecar speaks TLS."""
    for kind, name in [
        ("gateway", "istio-egressgateway"), ("destinationrule", "egressgateway-for-cnn"),
        ("virtualservice", "direct-cnn-through-egress-gateway"), ("serviceentry", "cnn"),
    ]:  # fmt: skip
        assert mesh.pilotfish("delete", kind, name).returncode == 0
    address, _, https_port = cnn
    _apply(
        mesh, TLS_ORIGINATION.format(address=address, https=https_port, ca=pki.ca_path), tmp_path
    )
    body = _curl(mesh, "-D", "-", "http://edition.cnn.com/politics")
    assert body.startswith("HTTP/1.1 200"), body
    assert "cnn-https /politics host=edition.cnn.com" in body, body  # reached over TLS


MTLS_ORIGINATION = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: my-nginx   # local mode: stands in for Istio's Service my-nginx in mesh-external
spec:
  hosts:
  - my-nginx.mesh-external.svc.cluster.local
  ports:
  - number: 80
    name: http
    protocol: HTTP
  - number: 443
    name: https
    protocol: HTTPS
  resolution: STATIC
  endpoints:
  - address: {address}
    ports: {{http: {port}, https: {port}}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    hosts:
    - my-nginx.mesh-external.svc.cluster.local
    tls:
      mode: ISTIO_MUTUAL
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: egressgateway-for-nginx
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: nginx
    trafficPolicy:
      loadBalancer:
        simple: ROUND_ROBIN
      portLevelSettings:
      - port:
          number: 443
        tls:
          mode: ISTIO_MUTUAL
          sni: my-nginx.mesh-external.svc.cluster.local
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: direct-nginx-through-egress-gateway
spec:
  hosts:
  - my-nginx.mesh-external.svc.cluster.local
  gateways:
  - istio-egressgateway
  - mesh
  http:
  - match:
    - gateways:
      - mesh
      port: 80
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: nginx
        port:
          number: 443
      weight: 100
  - match:
    - gateways:
      - istio-egressgateway
      port: 443
    route:
    - destination:
        host: my-nginx.mesh-external.svc.cluster.local
        port:
          number: 443
      weight: 100
"""

ORIGINATE_MTLS = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: originate-mtls-for-nginx
spec:
  host: my-nginx.mesh-external.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    portLevelSettings:
    - port:
        number: 443
      tls:
        mode: MUTUAL
        credentialName: client-credential # this must match the secret created earlier
        sni: my-nginx.mesh-external.svc.cluster.local
"""


def test_egress_gateway_mutual_tls_origination(mesh: LocalMesh, tmp_path: Path, pki: Pki) -> None:
    """Istio's "Egress Gateways with TLS Origination", mutual TLS part: sleep speaks HTTP, its
    sidecar reaches the egress gateway over the mesh's mTLS (ISTIO_MUTUAL), and the gateway
    originates mutual TLS with the client certificate of the Secret `client-credential` — read
    from the gateway's own namespace only (the same Secret in `default` does not count)."""
    server_cert = pki.issue("my-nginx", ["my-nginx.mesh-external.svc.cluster.local"])
    client_cert, client_key = pki.issue("client", ["client.example.com"])
    with http_server("my-nginx", tls=server_cert, client_ca=pki.ca_path) as (address, port):
        _apply(mesh, MTLS_ORIGINATION.format(address=address, port=port), tmp_path)
        (tmp_path / "originate.yaml").write_text(ORIGINATE_MTLS)
        applied = mesh.pilotfish(
            "apply", "-n", "istio-system", "-f", str(tmp_path / "originate.yaml")
        )
        assert applied.returncode == 0, applied.stderr

        def create(namespace: str) -> None:
            created = mesh.pilotfish(
                "create", "secret", "generic", "client-credential", "-n", namespace,
                f"--from-file=tls.key={client_key}", f"--from-file=tls.crt={client_cert}",
                f"--from-file=ca.crt={pki.ca_path}",
            )  # fmt: skip
            assert created.returncode == 0, created.stderr

        url = "http://my-nginx.mesh-external.svc.cluster.local"
        sidecar = f"http://{mesh.proxy('sleep-0')['ip']}:15001"  # what sleep's curl goes through

        def get() -> tuple[int, str]:  # polling without a CLI process per try
            return http_via_sidecar(sidecar, url + "/", timeout=10)

        create("istio-system")
        mesh.wait_for(
            lambda: "client=client.example.com" in get()[1],
            timeout=60,
            what="the gateway to originate mTLS with the istio-system Secret",
        )
        body = _curl(mesh, "-D", "-", url + "/index.html")
        assert body.startswith("HTTP/1.1 200"), body
        assert "my-nginx /index.html host=my-nginx.mesh-external.svc.cluster.local" in body
        assert "client=client.example.com" in body  # the server saw the Secret's certificate
        sent = _gateway_stat(
            mesh, "cluster.outbound|443||my-nginx.mesh-external.svc.cluster.local;.ssl.handshake"
        )
        assert sent >= 1  # the gateway's Envoy made the TLS connection, not the sidecar
        # the same Secret in another namespace (`default`) is never the gateway's
        create("default")
        deleted = mesh.pilotfish("delete", "secret", "client-credential", "-n", "istio-system")
        assert deleted.returncode == 0, deleted.stderr
        mesh.wait_for(lambda: get()[0] == 503, timeout=60, what="no client certificate, no answer")
