"""More Istio behaviours a client can see, through the real ingress gateway Envoy.

- `Expect: 100-continue` reaches the app (Istio sets `proxy_100_continue` on every connection
  manager), and the client still gets its `100 Continue` (from the app, through Envoy).
- A Gateway server port that no VirtualService binds answers 404 from Envoy (Istio's
  `blackhole:<port>` virtual host), not a refused connection; one that says `httpsRedirect`
  redirects to https even with no VirtualService.
- `ignoreUriCase` makes exact and prefix URI matches case-insensitive, but not a regex match
  (Istio only sets `case_sensitive: false`, which Envoy does not apply to regexes).
The mesh is built here: an aiohttp echo app behind a service and three Gateways, two of them
bound by no VirtualService.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from http.client import HTTPConnection

import pytest
from tests.e2e.echokit import echo_manifest
from tests.e2e.meshctl import LocalMesh, http, running_mesh

UNBOUND_PORT = 8081
REDIRECT_PORT = 8082

GATEWAYS = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: echo}}
spec:
  selector: {{istio: ingressgateway}}
  servers: [{{port: {{number: 8080, name: http, protocol: HTTP}}, hosts: ["*"]}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: unbound}}
spec:
  selector: {{istio: ingressgateway}}
  servers: [{{port: {{number: {unbound}, name: http-unbound, protocol: HTTP}}, hosts: ["*"]}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: redirect}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {redirect}, name: http-redirect, protocol: HTTP}}
    hosts: ["*"]
    tls: {{httpsRedirect: true}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: echo-gateway}}
spec:
  hosts: ["*"]
  gateways: [echo]
  http:
  - match: [{{uri: {{regex: "/Upper/[0-9]+"}}, ignoreUriCase: true}}]
    directResponse: {{status: 200, body: {{string: regex}}}}
  - match: [{{uri: {{exact: /Exact}}, ignoreUriCase: true}}]
    directResponse: {{status: 200, body: {{string: exact}}}}
  - route: [{{destination: {{host: echo, port: {{number: 8000}}}}}}]
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    directory = tmp_path_factory.mktemp("fidelity-more-mesh")
    apps = tmp_path_factory.mktemp("fidelity-more-apps")
    (directory / "mesh.yaml").write_text(
        echo_manifest(apps) + GATEWAYS.format(unbound=UNBOUND_PORT, redirect=REDIRECT_PORT)
    )
    with running_mesh(tmp_path_factory, str(directory)) as started:
        yield started


def _read_head(sock: socket.socket) -> tuple[str, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed before a response head: {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head.decode(), rest


def _read_to_close(sock: socket.socket, data: bytes) -> bytes:
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_expect_100_continue_reaches_the_app(mesh: LocalMesh) -> None:
    body = b"hello"
    request = (
        "POST /headers HTTP/1.1\r\nHost: echo.example.com\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    )
    with socket.create_connection((mesh.ingress, 8080), timeout=10) as sock:
        sock.sendall(request.encode())
        interim, rest = _read_head(sock)
        assert interim.startswith("HTTP/1.1 100"), interim
        sock.sendall(body)
        if b"\r\n\r\n" not in rest:
            more, rest = _read_head(sock)
            final = more
        else:
            final, rest = rest.split(b"\r\n\r\n", 1)[0].decode(), rest.split(b"\r\n\r\n", 1)[1]
        assert final.startswith("HTTP/1.1 200"), final
        payload = _read_to_close(sock, rest)
    seen = {k.lower(): v for k, v in json.loads(payload).items()}
    assert seen.get("expect") == "100-continue", seen


def test_gateway_port_no_virtual_service_binds_answers_404(mesh: LocalMesh) -> None:
    response = http(mesh.url("/headers", port=UNBOUND_PORT))
    assert response.status == 404, response
    server = {k.lower(): v for k, v in response.headers.items()}.get("server")
    assert server == "istio-envoy", response.headers
    assert http(mesh.url("/headers")).status == 200


def test_ignore_uri_case_applies_to_exact_but_not_to_regex(mesh: LocalMesh) -> None:
    assert mesh.get("/EXACT").body == "exact"
    assert mesh.get("/Upper/7").body == "regex"
    lower = mesh.get("/upper/7")
    assert lower.body != "regex" and lower.status == 404, lower


def test_https_redirect_server_without_virtual_service_redirects(mesh: LocalMesh) -> None:
    connection = HTTPConnection(mesh.ingress, REDIRECT_PORT, timeout=10)
    try:
        connection.request("GET", "/headers", headers={"Host": "shop.example.com"})
        response = connection.getresponse()
        location = response.getheader("location") or ""
    finally:
        connection.close()
    assert response.status == 301, response.status
    assert location.startswith("https://shop.example.com"), location
