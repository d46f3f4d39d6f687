"""Samples a newcomer expects (issue 8, items 11 and 12), through real Envoys: Istio's helloworld
(v1 and v2 behind Istio's `helloworld-gateway.yaml`), `curl` (Istio's newer name for sleep), and
the websockets sample reached through a sidecar as an HTTP proxy (absolute-form
`GET http://tornado:8888/ws` with `Upgrade: websocket`), as proxy-aware clients do in local
mode, by a raw socket and by aiohttp; and `GET ws://tornado:8888/ws` (what aiohttp sends for a
`ws://` URL through WS_PROXY) from a pod annotated `pilotfish.io/ws-proxy: "true"`, whose
sidecar's `ws://` listener takes it; without the annotation Envoy's HTTP/1 codec refuses it
(400, `http1.invalid_scheme`), as the README says."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, http, running_mesh

# A WebSocket client on a plain socket, through the pod's sidecar (HTTP_PROXY): the upgrade is
# sent in absolute form, as proxy-aware clients send it; then one masked text frame, one reply.
WS_CLIENT = r"""
import base64, os, socket, sys, urllib.parse
proxy = urllib.parse.urlsplit(os.environ[sys.argv[2]])
s = socket.create_connection((proxy.hostname, proxy.port), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET {sys.argv[1]} HTTP/1.1\r\nHost: tornado:8888\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
print(head.split(b"\r\n")[0].decode())
text, mask = b"hello mesh", os.urandom(4)
masked = bytes(b ^ mask[i % 4] for i, b in enumerate(text))
s.sendall(bytes([0x81, 0x80 | len(text)]) + mask + masked)
first, size = s.recv(2)
data = b""
while len(data) < (size & 0x7F):
    data += s.recv(64)
print(data.decode())
"""

# aiohttp as the README says to use it in local mode: a session with `trust_env=True`; the
# `http://` form of the URL goes through HTTP_PROXY, the `ws://` form through WS_PROXY.
AIOHTTP_CLIENT = r"""
import asyncio, sys, aiohttp
async def main() -> None:
    async with aiohttp.ClientSession(trust_env=True) as session:
        for url in sys.argv[1:]:
            async with session.ws_connect(url) as ws:
                await ws.send_str("hello aiohttp")
                print((await ws.receive(timeout=10)).data)
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/helloworld") as m:
        m.apply(
            "samples/curl/curl.yaml",
            "samples/websockets/app.yaml",
            "samples/websockets/ws-client.yaml",
        )
        yield m


def test_helloworld_v1_and_v2_behind_istios_gateway(mesh: LocalMesh) -> None:
    seen = set()
    for _ in range(30):
        reply = http(mesh.url("/hello", port=80))
        assert reply.status == 200, reply
        seen.add(reply.body.strip())
        if len(seen) == 2:
            break
    assert seen == {
        "Hello version: v1, instance: helloworld-v1-0",
        "Hello version: v2, instance: helloworld-v2-0",
    }


def test_curl_is_the_client_to_exec_into(mesh: LocalMesh) -> None:
    result = mesh.pilotfish(
        "exec", "deploy/curl", "--", "curl", "-s", "http://helloworld:5000/hello"
    )
    assert result.returncode == 0 and result.stdout.startswith("Hello version: v"), result.stdout


@pytest.mark.parametrize(
    ("pod", "url", "proxy", "status"),
    [
        ("curl", "http://tornado:8888/ws", "HTTP_PROXY", "101 Switching Protocols"),
        ("ws-client", "ws://tornado:8888/ws", "WS_PROXY", "101 Switching Protocols"),
        ("curl", "ws://tornado:8888/ws", "HTTP_PROXY", "400 Bad Request"),  # no ws:// listener
    ],
)
def test_websocket_upgrade_through_the_sidecar(
    mesh: LocalMesh, pod: str, url: str, proxy: str, status: str
) -> None:
    result = mesh.pilotfish("exec", pod, "--", "python3", "-c", WS_CLIENT, url, proxy)
    if status.startswith("400"):  # the codec's answer; the client then finds no frame
        assert result.stdout.splitlines()[0] == f"HTTP/1.1 {status}", result.stdout
        return
    assert result.returncode == 0, result.stderr
    head, echo = result.stdout.splitlines()
    assert head == f"HTTP/1.1 {status}"
    assert echo == "tornado-0: hello mesh"


def test_aiohttp_websocket_through_the_sidecar(mesh: LocalMesh) -> None:
    urls = ["http://tornado:8888/ws", "ws://tornado:8888/ws"]
    result = mesh.pilotfish("exec", "ws-client", "--", sys.executable, "-c", AIOHTTP_CLIENT, *urls)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["tornado-0: hello aiohttp"] * 2, result.stdout
    env = mesh.pilotfish("exec", "ws-client", "--", "env")
    ws_proxy = f"WS_PROXY=http://{mesh.proxy('ws-client-0')['ip']}:15002"
    assert ws_proxy in env.stdout.splitlines(), env.stdout
    plain = mesh.pilotfish("exec", "curl", "--", "env")
    assert "WS_PROXY" not in plain.stdout, plain.stdout  # off unless the pod asks
