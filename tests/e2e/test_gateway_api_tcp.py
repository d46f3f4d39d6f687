"""Istio's TCP Traffic Shifting task in its "Gateway API" tab, through real Envoys: the
Gateway `tcp-echo-gateway` (class `istio`, a TCP listener on 31400, its own proxy
`tcp-echo-gateway-istio`) and a TCPRoute to `tcp-echo-v1`, then 80/20 to v1/v2, as Istio's
samples/tcp-echo/gateway-api files write them. One mesh, tests in order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.e2e.l4kit import tcp_exchange
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.e2e.telemetrykit import scrape, select

API = "samples/tcp-echo/gateway-api"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/tcp-echo") as found:
        yield found


def address(mesh: LocalMesh) -> str:
    jsonpath = "jsonpath={.status.addresses[0].value}"
    result = mesh.pilotfish("get", "gtw", "tcp-echo-gateway", "-o", jsonpath)
    assert result.returncode == 0 and result.stdout, result.stdout + result.stderr
    return result.stdout


def via_gateway(host: str, n: int) -> Counter[str]:
    def one(i: int) -> str:
        reply = tcp_exchange(host, 31400, f"g{i}")
        assert reply.endswith(f"g{i}"), reply
        return reply.split()[0]

    with ThreadPoolExecutor(8) as pool:
        return Counter(pool.map(one, range(n)))


def test_tcp_route_all_to_v1(mesh: LocalMesh) -> None:
    mesh.apply(f"{API}/tcp-echo-all-v1.yaml")
    waited = mesh.pilotfish(
        "wait", "--for=condition=programmed", "gtw", "tcp-echo-gateway", "--timeout=60s"
    )
    assert waited.returncode == 0, waited.stdout + waited.stderr
    host = address(mesh)
    mesh.wait_for(lambda: via_gateway(host, 1) == {"one": 1}, what="the gateway's TCP listener")
    assert via_gateway(host, 30) == {"one": 30}
    routes = mesh.pilotfish("get", "tcproute").stdout.splitlines()
    assert routes[0].split() == ["NAME", "AGE"] and routes[1].split()[0] == "tcp-echo", routes
    listeners = mesh.pilotfish("get", "gtw", "tcp-echo-gateway", "-o", "yaml").stdout
    assert "attachedRoutes: 1" in listeners and "kind: TCPRoute" in listeners, listeners


def test_tcp_route_80_20(mesh: LocalMesh) -> None:
    mesh.apply(f"{API}/tcp-echo-20-v2.yaml")
    seen = via_gateway(address(mesh), 400)
    assert set(seen) == {"one", "two"}, seen
    assert 0.13 <= seen["two"] / 400 <= 0.27, seen


def test_the_servers_name_the_gateways_pod_as_the_tcp_source(mesh: LocalMesh) -> None:
    """At tcp-echo (reporter="destination"), the connections came from the Gateway's pod, as
    Istio's peer exchange names it: its Deployment `tcp-echo-gateway-istio`, its canonical
    labels, no `app` label."""
    jsonpath = "jsonpath={.items[*].status.podIP}"
    pods = mesh.pilotfish("get", "pod", "-l", "app=tcp-echo", "-o", jsonpath)
    series = [
        s.labels
        for ip in pods.stdout.split()
        for s in select(
            scrape(f"http://{ip}:15090/stats/prometheus"),
            "istio_tcp_connections_opened_total",
            reporter="destination",
            source_workload="tcp-echo-gateway-istio",
        )
    ]
    assert series, pods.stdout + pods.stderr
    for labels in series:
        assert labels["source_workload_namespace"] == "default"
        assert labels["source_canonical_service"] == "tcp-echo-gateway-istio"
        assert labels["source_canonical_revision"] == "latest"
        assert labels["source_app"] == "unknown"
        assert labels["source_principal"] == (
            "spiffe://cluster.local/ns/default/sa/tcp-echo-gateway-istio"
        )
