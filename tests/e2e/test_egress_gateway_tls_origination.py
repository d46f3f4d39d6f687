"""Istio's "Egress Gateways with TLS Origination" task, TLS (SIMPLE) part, with the page's YAML:
sleep speaks HTTP to its sidecar, the sidecar sends it to `istio-egressgateway` on port 80, and
the gateway originates TLS to `edition.cnn.com:443` (DestinationRule
`originate-tls-for-edition-cnn-com`). The mutual TLS part is in `test_egress_gateway_tasks`.

Adapted only where local mode must differ (never the internet): `edition.cnn.com` is a local
server (HTTP and HTTPS on one loopback address), so its ServiceEntry says `resolution: STATIC`
with an endpoint there, and the originating rule trusts the stand-in's test CA
(`caCertificates`; Istio verifies a SIMPLE upstream against the OS bundle by default).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.l4kit import http_server
from tests.e2e.meshctl import CLUSTER_STATS_MESH, LocalMesh, running_mesh
from tests.pki import Pki

SERVICE_ENTRY = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: cnn
spec:
  hosts:
  - edition.cnn.com
  ports:
  - number: 80
    name: http
    protocol: HTTP
  - number: 443
    name: https
    protocol: HTTPS
  resolution: STATIC   # local mode: the page says DNS
  endpoints:
  - address: {address}
    ports: {{http: {http}, https: {https}}}
"""

GATEWAY = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 80
      name: http-port-for-tls-origination
      protocol: HTTP
    hosts:
    - edition.cnn.com
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: egressgateway-for-cnn
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
"""

ROUTES = """\
apiVersion: networking.istio.io/v1alpha3
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
          number: 443
      weight: 100
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: originate-tls-for-edition-cnn-com
spec:
  host: edition.cnn.com
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    portLevelSettings:
    - port:
        number: 443
      tls:
        mode: SIMPLE # initiates HTTPS for connections to edition.cnn.com
        caCertificates: {ca}   # local mode: the stand-in's test CA
"""

ACCESS_LOGS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    accessLogFile: /dev/stdout
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def cnn(pki: Pki) -> Iterator[tuple[str, int, int]]:
    with http_server("cnn-http") as (address, http_port):
        tls = pki.issue("edition", ["edition.cnn.com"])
        with http_server("cnn-https", tls=tls, address=address) as (_, https_port):
            yield address, http_port, https_port


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/extras", mesh_config=CLUSTER_STATS_MESH) as m:
        m.apply("samples/sleep/sleep.yaml")
        yield m


def _apply(mesh: LocalMesh, text: str, tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    path.write_text(text)
    result = mesh.pilotfish("apply", "-f", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def _politics(mesh: LocalMesh) -> str:
    result = mesh.pilotfish(
        "exec", "sleep", "-c", "sleep", "--",
        "curl", "-sL", "-o", "/dev/null", "-D", "-", "http://edition.cnn.com/politics",
    )  # fmt: skip
    return result.stdout


def test_tls_origination_at_the_egress_gateway(
    mesh: LocalMesh, cnn: tuple[str, int, int], pki: Pki, tmp_path: Path
) -> None:
    address, http_port, https_port = cnn
    entry = SERVICE_ENTRY.format(address=address, http=http_port, https=https_port)
    _apply(mesh, entry + "---\n" + ACCESS_LOGS, tmp_path)
    mesh.wait_for(lambda: _politics(mesh).startswith("HTTP/1.1 200"), 30, "cnn over HTTP")
    _apply(mesh, GATEWAY, tmp_path)
    _apply(mesh, ROUTES.format(ca=pki.ca_path), tmp_path)

    def gateway_lines() -> list[str]:
        logs = mesh.pilotfish(
            "logs", "-l", "istio=egressgateway", "-c", "istio-proxy", "-n", "istio-system"
        ).stdout
        # as on the page: the sidecar-to-gateway hop is HTTP/2 (mTLS)
        return [x for x in logs.splitlines() if '"GET /politics HTTP/2" 200 ' in x]

    def through_gateway() -> bool:
        return _politics(mesh).startswith("HTTP/1.1 200") and bool(gateway_lines())

    mesh.wait_for(through_gateway, 40, "the gateway to carry /politics")
    assert _politics(mesh).startswith("HTTP/1.1 200 OK\n")
    line = gateway_lines()[-1]
    # the gateway's Envoy sent it to cnn's HTTPS port, over TLS it originated
    assert f'"{address}:{https_port}" outbound|443||edition.cnn.com ' in line, line
    stats = mesh.pilotfish(
        "exec", "-n", "istio-system", "deploy/istio-egressgateway", "-c", "istio-proxy", "--",
        "pilot-agent", "request", "GET", "stats",
    ).stdout  # fmt: skip
    found = re.search(r"^cluster\.outbound\|443\|\|edition\.cnn\.com;\.ssl\.handshake: (\d+)$",
                      stats, re.M)  # fmt: skip
    assert found is not None and int(found.group(1)) >= 1, stats[-500:]
