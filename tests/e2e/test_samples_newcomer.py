"""Samples a newcomer expects (issue 8, items 11 and 12), through real Envoys: Istio's helloworld
(v1 and v2 behind Istio's `helloworld-gateway.yaml`), `curl` (Istio's newer name for sleep), and
the websockets sample reached through a sidecar as an HTTP proxy (absolute-form
`GET http://tornado:8888/ws` with `Upgrade: websocket`), as proxy-aware clients do in local
mode, by a raw socket and by aiohttp; and the README's limit: `GET ws://…` is refused by Envoy's
HTTP/1 codec (400, `http1.invalid_scheme`)."""

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
proxy = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])
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

# aiohttp as the README says to use it in local mode: a session with `trust_env=True` (HTTP_PROXY)
# and the `http://` form of the URL; then `ws://` through the sidecar as an explicit proxy.
AIOHTTP_CLIENT = r"""
import asyncio, os, aiohttp
async def main() -> None:
    async with aiohttp.ClientSession(trust_env=True) as session:
        async with session.ws_connect("http://tornado:8888/ws") as ws:
            await ws.send_str("hello aiohttp")
            print((await ws.receive(timeout=10)).data)
        try:
            await session.ws_connect("ws://tornado:8888/ws", proxy=os.environ["HTTP_PROXY"])
        except aiohttp.WSServerHandshakeError as err:
            print(err.status)
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/helloworld") as m:
        m.apply("samples/curl/curl.yaml", "samples/websockets/app.yaml")
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


def test_websocket_upgrade_through_the_sidecar(mesh: LocalMesh) -> None:
    url = "http://tornado:8888/ws"  # `ws://` in the request line: not accepted yet (README)
    result = mesh.pilotfish("exec", "curl", "--", "python3", "-c", WS_CLIENT, url)
    assert result.returncode == 0, result.stderr
    status, echo = result.stdout.splitlines()
    assert status == "HTTP/1.1 101 Switching Protocols"
    assert echo == "tornado-0: hello mesh"


def test_aiohttp_websocket_through_the_sidecar(mesh: LocalMesh) -> None:
    result = mesh.pilotfish("exec", "curl", "--", sys.executable, "-c", AIOHTTP_CLIENT)
    assert result.returncode == 0, result.stderr
    echo, ws_scheme_status = result.stdout.splitlines()
    assert echo == "tornado-0: hello aiohttp"
    # README "Which clients work": Envoy's HTTP/1 codec accepts only http/https in an
    # absolute-form request line, with no option to widen it
    assert ws_scheme_status == "400"
