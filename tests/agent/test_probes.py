"""Probes as the kubelet and the agent run them, against real sockets and processes: kubelet's
200-399 rule, the path and headers sent, TCP probes, a closed port, exec and gRPC probes, the
kubelet's words for each failure, Istio's rewrite and its status server's answers."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import grpc

from pilotfish.agent.pod_probes import answer
from pilotfish.agent.probes import USER_AGENT, Outcome, check, rewritten, run_exec, run_probe
from pilotfish.registry.workloads import Probe


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
            probe = Probe("app", "http", 8080, path="/healthz")
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
        probe = Probe("app", "http", 80, path="/ready?x=1", headers=(("X-Probe", "yes"),))
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
        tcp = await run_probe(Probe("app", "tcp", 1), "127.0.0.1", port)
        server.close()
        await server.wait_closed()
        closed_tcp = await run_probe(Probe("app", "tcp", 1), "127.0.0.1", port)
        closed_http = await run_probe(Probe("app", "http", 1), "127.0.0.1", port)
        return tcp, closed_tcp, closed_http

    assert asyncio.run(main()) == (True, False, False)


def test_a_server_that_never_answers_fails_within_the_timeout() -> None:
    async def main() -> bool:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(5)
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        probe = Probe("app", "http", 1, timeout_seconds=1)
        ok = await asyncio.wait_for(run_probe(probe, "127.0.0.1", _port(server)), 4)
        server.close()
        return ok

    assert asyncio.run(main()) is False


def test_failures_in_the_kubelets_words() -> None:
    async def main() -> list[str]:
        server = await _serve(404, [])
        port = _port(server)
        found = [(await check(Probe("c", "http", 1, path="/foo"), "127.0.0.1", port)).output]
        server.close()
        await server.wait_closed()
        found.append((await check(Probe("c", "http", 1, path="/foo"), "127.0.0.1", port)).output)
        found.append((await check(Probe("c", "tcp", 1), "127.0.0.1", port)).output)
        return found

    port_free = asyncio.run(main())
    assert port_free[0] == "HTTP probe failed with statuscode: 404"
    assert re.fullmatch(
        r'Get "http://127\.0\.0\.1:(\d+)/foo": dial tcp 127\.0\.0\.1:\1: connect: connection '
        r"refused",
        port_free[1],
    ), port_free[1]
    assert re.fullmatch(r"dial tcp 127\.0\.0\.1:\d+: connect: connection refused", port_free[2])


def test_exec_probe_passes_on_exit_zero_and_fails_with_its_output(tmp_path: Path) -> None:
    healthy = tmp_path / "healthy"
    probe = Probe("c", "exec", command=("cat", str(healthy)), endpoint="livez")

    async def run() -> Outcome:
        return await run_exec(probe, list(probe.command), {"PATH": os.environ["PATH"]}, None)

    missing = asyncio.run(run())
    assert not missing.ok
    assert missing.output == f"cat: {healthy}: No such file or directory\n"
    healthy.write_text("")
    assert asyncio.run(run()).ok
    slow = Probe("c", "exec", command=("sleep", "5"), timeout_seconds=1)
    timed_out = asyncio.run(run_exec(slow, ["sleep", "5"], {"PATH": os.environ["PATH"]}, None))
    assert timed_out == Outcome(False, 'command "sleep 5" timed out')
    assert not asyncio.run(check(probe, "127.0.0.1", 1)).ok  # a command, never a request


def test_grpc_probe_asks_the_health_service() -> None:
    async def main() -> list[Outcome]:
        answers = {b"": b"\x08\x01", b"\x0a\x04slow": b"\x08\x02"}  # SERVING, NOT_SERVING

        async def check_rpc(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return answers[request]

        server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(check_rpc)
        generic = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": handler})
        server.add_generic_rpc_handlers((generic,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        found = [
            await check(Probe("c", "grpc", 1), "127.0.0.1", port),
            await check(Probe("c", "grpc", 1, service="slow"), "127.0.0.1", port),
        ]
        await server.stop(None)
        return found

    serving, not_serving = asyncio.run(main())
    assert serving.ok
    assert not_serving == Outcome(False, 'service unhealthy (responded with "NOT_SERVING")')


def test_the_injectors_rewrite_and_the_agents_answer() -> None:
    probe = Probe("web", "http", 8080, path="/foo", scheme="HTTPS", headers=(("X-A", "b"),),
                  period_seconds=5, endpoint="livez")  # fmt: skip
    assert rewritten(probe) == Probe("web", "http", 15020, path="/app-health/web/livez",
                                     headers=(("X-A", "b"),), period_seconds=5,
                                     endpoint="livez")  # fmt: skip
    tcp = rewritten(Probe("db", "tcp", 5432, endpoint="startupz"))
    assert (tcp.kind, tcp.port, tcp.path) == ("http", 15020, "/app-health/db/startupz")
    # Istio's status server: the app's own status, a redirect as 200, a failure without one 500
    assert [answer(o) for o in (Outcome(True, status=204), Outcome(True, status=302),
                                Outcome(False, "x", 404), Outcome(True), Outcome(False, "x"))] == [
        204, 200, 404, 200, 500]  # fmt: skip
