"""Istio's TCP traffic shifting task on tcp-echo, through real Envoys: at the ingress gateway
(TCP server on 31400) and inside the mesh (tcp-client -> its sidecar's outbound TCP listener,
found through TCP_ECHO_SERVICE_HOST/PORT -> tcp-echo). One mesh, tests in order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.e2e.l4kit import tcp_exchange
from tests.e2e.meshctl import LocalMesh, http, running_mesh

SAMPLE = "samples/tcp-echo"  # Istio's routing files at Istio's paths, pilotfish's in networking/


@pytest.fixture(scope="module")
def tcp_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/tcp-echo") as mesh:
        yield mesh


def _via_client(mesh: LocalMesh, n: int) -> Counter[str]:
    ip = mesh.info["proxies"]["tcp-client-0.default"]["ip"]

    def one(i: int) -> str:
        resp = http(f"http://{ip}:8080/echo?msg=m{i}")
        assert resp.status == 200, resp.body
        assert resp.body.strip().endswith(f"m{i}"), resp.body
        return resp.body.split()[0]

    with ThreadPoolExecutor(4) as pool:
        return Counter(pool.map(one, range(n)))


def _via_gateway(mesh: LocalMesh, n: int) -> Counter[str]:
    def one(i: int) -> str:
        reply = tcp_exchange(mesh.ingress, 31400, f"g{i}")
        assert reply.endswith(f"g{i}"), reply
        return reply.split()[0]

    with ThreadPoolExecutor(8) as pool:
        return Counter(pool.map(one, range(n)))


def test_without_rules_both_versions_answer_inside_the_mesh(tcp_mesh: LocalMesh) -> None:
    seen = _via_client(tcp_mesh, 30)
    assert set(seen) == {"one", "two"}, seen


def test_all_v1_at_the_gateway_and_in_the_mesh(tcp_mesh: LocalMesh) -> None:
    tcp_mesh.apply(
        f"{SAMPLE}/tcp-echo-all-v1.yaml", f"{SAMPLE}/networking/tcp-echo-mesh-all-v1.yaml"
    )
    tcp_mesh.wait_for(lambda: _via_gateway(tcp_mesh, 1) == {"one": 1}, what="gateway TCP")
    assert _via_gateway(tcp_mesh, 30) == {"one": 30}
    assert _via_client(tcp_mesh, 20) == {"one": 20}


def test_x_describe_says_the_gateway_serves_tcp_echo(tcp_mesh: LocalMesh) -> None:
    """Issue 8 item 10: tcp-echo exposed on the ingress gateway's TCP server (31400)."""
    for args in (["svc", "tcp-echo"], ["pod", "tcp-echo-v1-0"]):
        result = tcp_mesh.pilotfish("x", "describe", *args)
        assert result.returncode == 0, result.stderr
        assert f"Exposed on Ingress Gateway tcp://{tcp_mesh.ingress}:31400" in result.stdout, (
            result.stdout
        )


def test_20_percent_to_v2(tcp_mesh: LocalMesh) -> None:
    tcp_mesh.apply(f"{SAMPLE}/tcp-echo-20-v2.yaml", f"{SAMPLE}/networking/tcp-echo-mesh-20-v2.yaml")
    seen = _via_gateway(tcp_mesh, 400)
    assert set(seen) == {"one", "two"}, seen
    assert 0.13 <= seen["two"] / 400 <= 0.27, seen
    inside = _via_client(tcp_mesh, 100)
    assert set(inside) == {"one", "two"}, inside
    assert 0.08 <= inside["two"] / 100 <= 0.35, inside


def test_exec_gets_the_tcp_service_environment(tcp_mesh: LocalMesh) -> None:
    code = (
        "import os, socket\n"
        "host = os.environ['TCP_ECHO_SERVICE_HOST']\n"
        "port = int(os.environ['TCP_ECHO_SERVICE_PORT'])\n"
        "with socket.create_connection((host, port), timeout=5) as s:\n"
        "    s.sendall(b'hello\\n')\n"
        "    print(s.makefile().readline().strip())\n"
    )
    result = tcp_mesh.pilotfish("exec", "tcp-client", "--", "python3", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split()[0] in ("one", "two")
    assert result.stdout.strip().endswith("hello"), result.stdout
