"""Istio's protocol selection through a real sidecar: a port whose `appProtocol` is Kubernetes'
`kubernetes.io/ws` is HTTP whatever its name says (`tcp-web`), so the host's VirtualService
`http` rules apply to it; a `protocol: UDP` port gets no outbound cluster. Checked with curl
through httpbin's sidecar and with `proxy-config cluster`. A gateway server of protocol
GRPC-WEB gets Istio's gRPC-Web filter, which the gateway's Envoy serves (its config_dump, and
requests through it)."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.httpkit import apply_yaml
from tests.e2e.meshctl import LocalMesh, running_mesh

GRPC_WEB = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8090, name: grpc-web, protocol: GRPC-WEB}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: ["*"]
  gateways: [web]
  http:
  - route: [{destination: {host: httpbin, port: {number: 8000}}}]
"""

WS = """\
apiVersion: v1
kind: Service
metadata: {name: ws}
spec:
  selector: {app: httpbin}
  ports:
  - {name: tcp-web, port: 8001, targetPort: 8080, appProtocol: kubernetes.io/ws}
  - {name: statsd, port: 8125, protocol: UDP}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ws}
spec:
  hosts: [ws]
  http:
  - fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: ws, port: {number: 8001}}}]
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/httpbin") as started:
        yield started


def _code(mesh: LocalMesh, url: str) -> int:
    assert shutil.which("curl"), "curl is needed (installed by .ci/run)"
    result = mesh.pilotfish(
        "exec", "httpbin-v1-0", "--", "curl", "-s", "-o", "/dev/null", "--max-time", "5",
        "-w", "%{http_code}", url,
    )  # fmt: skip
    return int(result.stdout.strip() or 0)


def test_a_websocket_app_protocol_is_http_and_udp_gets_no_cluster(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    apply_yaml(mesh, tmp_path, WS)
    mesh.wait_for(
        lambda: _code(mesh, "http://ws:8001/status/200") == 418,
        what="the VirtualService's http fault on the kubernetes.io/ws port",
    )
    assert _code(mesh, "http://httpbin:8000/status/200") == 200
    clusters = mesh.pilotfish(
        "proxy-config", "cluster", "httpbin-v1-0", "--fqdn", "ws.default.svc.cluster.local"
    )
    assert clusters.returncode == 0, clusters.stderr
    ports = [line.split()[1] for line in clusters.stdout.splitlines()[1:]]
    assert ports == ["8001"], clusters.stdout


def _http_filters(listener: object) -> list[str]:
    """The HTTP filter names of every connection manager in a listener's config (JSON)."""
    found: list[str] = []
    if isinstance(listener, dict):
        for key, value in listener.items():
            if key in ("httpFilters", "http_filters") and isinstance(value, list):
                found += [str(f.get("name")) for f in value if isinstance(f, dict)]
            else:
                found += _http_filters(value)
    elif isinstance(listener, list):
        for item in listener:
            found += _http_filters(item)
    return found


def test_a_grpc_web_gateway_server_gets_the_grpc_web_filter(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    apply_yaml(mesh, tmp_path, GRPC_WEB)
    url = f"http://{mesh.ingress}:8090"

    def status() -> int:
        try:
            with urllib.request.urlopen(f"{url}/status/200", timeout=5) as answer:
                return int(answer.status)
        except OSError:
            return 0

    mesh.wait_for(lambda: status() == 200, what="httpbin through the GRPC-WEB server")
    dumped = mesh.pilotfish(
        "proxy-config", "listener", "istio-ingressgateway-0.istio-system", "--port", "8090",
        "-o", "json",
    )  # fmt: skip
    assert dumped.returncode == 0, dumped.stderr
    filters = _http_filters(json.loads(dumped.stdout))
    assert filters[-5:] == [  # Istio's order (buildHTTPConnectionManager)
        "envoy.filters.http.grpc_web",
        "envoy.filters.http.grpc_stats",
        "envoy.filters.http.fault",
        "envoy.filters.http.cors",
        "envoy.filters.http.router",
    ], filters
