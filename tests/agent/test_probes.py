"""Readiness probes as the agent runs them, against real sockets: kubelet's 200-399 rule, the
path and headers sent, TCP probes, and a closed port."""

from __future__ import annotations

import asyncio

from pilotfish.agent.probes import USER_AGENT, run_probe
from pilotfish.registry.workloads import ReadinessProbe


async def _serve(status: int, seen: list[bytes]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


def test_http_probe_follows_kubelets_status_rule() -> None:
    async def main() -> dict[int, bool]:
        results = {}
        for status in (200, 204, 302, 399, 400, 404, 500, 503):
            seen: list[bytes] = []
            server = await _serve(status, seen)
            probe = ReadinessProbe("app", "http", 8080, path="/healthz")
            results[status] = await run_probe(probe, "127.0.0.1", _port(server))
            server.close()
            await server.wait_closed()
        return results

    results = asyncio.run(main())
    assert results == {
        200: True, 204: True, 302: True, 399: True,
        400: False, 404: False, 500: False, 503: False,
    }  # fmt: skip


def test_http_probe_sends_path_and_headers() -> None:
    async def main() -> tuple[bool, bytes]:
        seen: list[bytes] = []
        server = await _serve(200, seen)
        probe = ReadinessProbe("app", "http", 80, path="/ready?x=1", headers=(("X-Probe", "yes"),))
        ok = await run_probe(probe, "127.0.0.1", _port(server))
        server.close()
        await server.wait_closed()
        return ok, seen[0]

    ok, request = asyncio.run(main())
    assert ok
    assert request.startswith(b"GET /ready?x=1 HTTP/1.1\r\n")
    assert b"\r\nX-Probe: yes\r\n" in request
    assert f"\r\nUser-Agent: {USER_AGENT}\r\n".encode() in request


def test_tcp_probe_and_closed_port() -> None:
    async def main() -> tuple[bool, bool, bool]:
        server = await _serve(200, [])
        port = _port(server)
        tcp = await run_probe(ReadinessProbe("app", "tcp", 1), "127.0.0.1", port)
        server.close()
        await server.wait_closed()
        closed_tcp = await run_probe(ReadinessProbe("app", "tcp", 1), "127.0.0.1", port)
        closed_http = await run_probe(ReadinessProbe("app", "http", 1), "127.0.0.1", port)
        return tcp, closed_tcp, closed_http

    assert asyncio.run(main()) == (True, False, False)


def test_a_server_that_never_answers_fails_within_the_timeout() -> None:
    async def main() -> bool:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(5)
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        probe = ReadinessProbe("app", "http", 1, timeout_seconds=1)
        ok = await asyncio.wait_for(run_probe(probe, "127.0.0.1", _port(server)), 4)
        server.close()
        return ok

    assert asyncio.run(main()) is False
