"""Unit tests: who may read the web UI (`pilotfish.ui.guard`). Over a real socket on loopback:
a foreign Host (DNS rebinding) is refused, forged forwarding headers change nothing. A peer that
is not this machine cannot be made on loopback, so that case runs on aiohttp's request with a
remote peer here, and end to end from a pod of an isolated mesh (`test_isolated_pods`)."""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import Callable
from unittest import mock

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from pilotfish.ui.guard import COOKIE, host_allowed, ui_guard

TOKEN = "s3cret-token"


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="the mesh's traffic")


def _app() -> web.Application:
    app = web.Application(middlewares=[ui_guard(TOKEN)])
    app.router.add_get("/ui/", _ok)
    app.router.add_get("/ui/api/graph", _ok)
    app.router.add_get("/uiother", _ok)
    app.router.add_get("/metrics", _ok)
    return app


def _serve(check: Callable[[int], None]) -> None:
    async def scenario() -> None:
        runner = web.AppRunner(_app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            await asyncio.to_thread(check, runner.addresses[0][1])
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp.status, body


def test_dns_rebinding_a_foreign_host_is_refused_even_from_loopback() -> None:
    def check(port: int) -> None:
        assert _get(port, "/ui/", {"Host": f"127.0.0.1:{port}"})[0] == 200
        assert _get(port, "/ui/api/graph", {"Host": f"localhost:{port}"})[0] == 200
        for host in (f"evil.example:{port}", "evil.example", "127.0.0.1.evil.example",
                     f"LOCALHOST.evil.example:{port}", "[::1].evil.example"):  # fmt: skip
            status, body = _get(port, "/ui/api/graph", {"Host": host})
            assert status == 403 and "mesh's traffic" not in body, host
            # the token does not make a rebinding page legitimate either
            status, _ = _get(port, f"/ui/api/graph?token={TOKEN}", {"Host": host})
            assert status == 403, host
        # paths outside /ui are not the UI's business
        assert _get(port, "/metrics", {"Host": "evil.example"})[0] == 200
        assert _get(port, "/uiother", {"Host": "evil.example"})[0] == 200

    _serve(check)


def test_host_names_allowed() -> None:
    for host in ("127.0.0.1", "127.18.0.1:15014", "10.18.0.1:15014", "[::1]:15014", "::1",
                 "localhost", "LocalHost:80"):  # fmt: skip
        assert host_allowed(host), host
    for host in ("", "evil.example", "localhost.evil.example", "127.0.0.1:80:80", "[::1"):
        assert not host_allowed(host), host


def _remote(path: str, headers: dict[str, str] | None = None) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: {
        "peername": ("10.18.1.7", 40000),
        "sockname": ("10.18.0.1", 15014),
    }.get(name, default)
    return make_mocked_request(
        "GET", path, headers={"Host": "10.18.0.1:15014", **(headers or {})}, transport=transport
    )


def _run(request: web.Request, token: str = TOKEN) -> web.StreamResponse:
    guard = ui_guard(token)

    async def call() -> web.StreamResponse:
        try:
            return await guard(request, _ok)
        except web.HTTPException as exc:
            return exc

    return asyncio.run(call())


def test_a_remote_peer_needs_the_token() -> None:
    forged = {"X-Forwarded-For": "127.0.0.1", "Forwarded": "for=127.0.0.1", "X-Real-IP": "::1"}
    assert _run(_remote("/ui/api/graph")).status == 401
    assert _run(_remote("/ui/api/graph", forged)).status == 401
    assert _run(_remote("/ui/api/graph?token=wrong")).status == 401
    assert _run(_remote("/ui/api/graph", {"Authorization": "Bearer wrong"})).status == 401
    assert _run(_remote("/ui/api/graph", {"Cookie": f"{COOKIE}=wrong"})).status == 401
    assert _run(_remote("/ui/api/graph", {"Authorization": f"Bearer {TOKEN}"})).status == 200
    assert _run(_remote("/ui/api/graph", {"Cookie": f"{COOKIE}={TOKEN}"})).status == 200
    # the token in the URL is traded for a cookie, and dropped from the address
    found = _run(_remote(f"/ui/?window=60&token={TOKEN}"))
    assert found.status == 302 and found.headers["Location"] == "/ui/?window=60"
    cookie = found.cookies[COOKIE]
    assert cookie.value == TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
    # other paths are left to their own rules
    assert _run(_remote("/metrics")).status == 200


def test_an_empty_token_never_matches() -> None:
    assert _run(_remote("/ui/api/graph?token="), token="").status == 401
    assert _run(_remote("/ui/api/graph", {"Authorization": "Bearer "}), token="").status == 401
