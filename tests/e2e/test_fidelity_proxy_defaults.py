"""Istio's proxy defaults a client can see, through real Envoy sidecars and the ingress gateway.

WebSocket upgrades pass (Istio allows `websocket` on every connection manager), the upstream app
sees `x-envoy-attempt-count`, the gateway answers `server: istio-envoy` while a sidecar client
sees `server: envoy`, and a direct response may be larger than Envoy's 4 KiB default (Istio
allows 1 MiB). The mesh is built here: an aiohttp echo app behind a service, a client workload,
and a Gateway + VirtualService for the echo app.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.echokit import echo_manifest
from tests.e2e.httpkit import SidecarClient, apply_yaml
from tests.e2e.meshctl import LocalMesh, running_mesh

IDLE_APP = "import time\nwhile True:\n    time.sleep(3600)\n"

MESH = """
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: client, labels: {{app: client}}}}
spec:
  replicas: 1
  command: ["{python}", "{idle}"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: echo}}
spec:
  selector: {{istio: ingressgateway}}
  servers: [{{port: {{number: 8080, name: http, protocol: HTTP}}, hosts: ["*"]}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: echo-gateway}}
spec:
  hosts: ["*"]
  gateways: [echo]
  http: [{{route: [{{destination: {{host: echo, port: {{number: 8000}}}}}}]}}]
"""

URL = "http://echo:8000"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    directory = tmp_path_factory.mktemp("fidelity-mesh")
    apps = tmp_path_factory.mktemp("fidelity-apps")
    (apps / "idle_app.py").write_text(IDLE_APP)
    (directory / "mesh.yaml").write_text(
        echo_manifest(apps) + MESH.format(python=sys.executable, idle=apps / "idle_app.py")
    )
    with running_mesh(tmp_path_factory, str(directory)) as started:
        yield started


@pytest.fixture(scope="module")
def client(mesh: LocalMesh) -> SidecarClient:
    return SidecarClient(mesh, "client-0")


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _recv_exact(sock: socket.socket, size: int, buffered: bytes) -> tuple[bytes, bytes]:
    while len(buffered) < size:
        chunk = sock.recv(4096)
        assert chunk, "connection closed mid-frame"
        buffered += chunk
    return buffered[:size], buffered[size:]


def websocket_echo(address: tuple[str, int], target: str, host: str, text: str) -> str:
    """Open a WebSocket with a raw HTTP/1.1 upgrade, send one text frame, return the reply
    (or the status line if the upgrade is refused)."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(request.encode())
        head = _read_until(sock, b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].decode()
        if " 101 " not in status_line + " ":
            return status_line
        rest = head.split(b"\r\n\r\n", 1)[1]
        payload, mask = text.encode(), os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        header, rest = _recv_exact(sock, 2, rest)
        length = header[1] & 0x7F
        if length == 126:
            extended, rest = _recv_exact(sock, 2, rest)
            length = struct.unpack("!H", extended)[0]
        body, _ = _recv_exact(sock, length, rest)
        return body.decode()


def test_websocket_upgrades_pass_the_sidecars(mesh: LocalMesh) -> None:
    proxy = mesh.info["proxies"]["client-0.default"]
    address = (proxy["ip"], proxy["outbound_port"])
    assert websocket_echo(address, f"{URL}/ws", "echo:8000", "hi") == "echo:hi"


def test_websocket_upgrades_pass_the_gateway(mesh: LocalMesh) -> None:
    address = (mesh.ingress, 8080)
    assert websocket_echo(address, "/ws", "echo.example.com", "gw") == "echo:gw"


def test_upstream_app_sees_the_attempt_count(client: SidecarClient) -> None:
    response = client.request(f"{URL}/headers")
    assert response.status == 200, response
    seen = {k.lower(): v for k, v in json.loads(response.body).items()}
    assert seen.get("x-envoy-attempt-count") == "1", seen


def test_server_header_istio_envoy_at_the_gateway_envoy_through_a_sidecar(
    mesh: LocalMesh, client: SidecarClient
) -> None:
    through_gateway = mesh.get("/headers")
    assert through_gateway.status == 200, through_gateway
    server = {k.lower(): v for k, v in through_gateway.headers.items()}.get("server")
    assert server == "istio-envoy"
    assert client.request(f"{URL}/headers").headers.get("server") == "envoy"


def test_direct_response_larger_than_four_kib(
    mesh: LocalMesh, client: SidecarClient, tmp_path: Path
) -> None:
    body = "x" * 6000
    apply_yaml(
        mesh,
        tmp_path,
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata: {name: echo}\nspec:\n  hosts: [echo]\n  http:\n"
        "  - match: [{uri: {exact: /big}}]\n"
        f"    directResponse: {{status: 200, body: {{string: {body}}}}}\n"
        "  - route: [{destination: {host: echo}}]\n",
    )
    response = client.request(f"{URL}/big")
    assert response.status == 200 and response.body == body, response.status
