"""End to end with a REAL Envoy (SotW and delta): config arrives, changes show within a second,
an invalid push is NACKed with Envoy's error and traffic keeps flowing on the last good config."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from tests.xds.envoy_harness import Envoy, free_port, http_backend, http_get, random_loopback
from tests.xds.xds_testlib import eds_cluster, endpoints, listener, mesh_snapshot, route_direct

from pilotfish.xds.resources import CLUSTER, ENDPOINT, LISTENER, Snapshot
from pilotfish.xds.server import XdsServer

pytestmark = pytest.mark.e2e
NODE = "sidecar~127.0.0.1~e2e-0.default~default.svc.cluster.local"


async def get_until(url: str, wanted: str, within: float) -> tuple[float, tuple[int, str]]:
    """GET `url` until the body is `wanted`; (seconds it took, last answer)."""
    started = time.monotonic()
    answer: tuple[int, str] = (0, "")
    while time.monotonic() - started < within:
        try:
            answer = await asyncio.to_thread(http_get, url, 1.0)
        except OSError as error:
            answer = (0, str(error))
        if answer[1] == wanted:
            break
        await asyncio.sleep(0.01)
    return time.monotonic() - started, answer


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_envoy_follows_pushes_and_survives_a_nack(tmp_path: Path, delta: bool) -> None:
    asyncio.run(scenario(tmp_path, delta))


async def scenario(tmp_path: Path, delta: bool) -> None:
    host = random_loopback()
    listen = (host, free_port(host))
    url = f"http://{listen[0]}:{listen[1]}/"
    registry = CollectorRegistry()
    with http_backend() as backend:
        first = mesh_snapshot(listen, backend)
        seen_metadata: list[dict[str, Any]] = []

        def generate(node_id: str, metadata: dict[str, Any]) -> Snapshot:
            seen_metadata.append(metadata)
            return first

        server = XdsServer(generate, registry)
        port = await server.start("127.0.0.1:0")
        try:
            with Envoy(tmp_path, NODE, port, delta) as envoy:
                report = await server.wait_acked({NODE: first}, timeout=10)
                assert report.acked == (NODE,), report
                assert seen_metadata == [{"test": "xds"}]
                assert server.connected() == [NODE]
                took, answer = await get_until(url, "backend-ok", within=5)
                assert answer == (200, "backend-ok")

                # A route change is visible to clients within a second.
                changed = mesh_snapshot(listen, backend, route=route_direct("local", "v2"))
                server.set_snapshot(NODE, changed)
                took, answer = await get_until(url, "v2", within=1.0)
                assert answer == (200, "v2"), answer
                assert took < 1.0
                print(f"route change visible after {took * 1000:.1f} ms")
                report = await server.wait_acked({NODE: changed}, timeout=5)
                assert report.converged, report

                # An endpoint change (same cluster) is followed too.
                with http_backend() as second_backend:
                    moved = changed.updated(
                        {ENDPOINT: {"backend": endpoints("backend", second_backend)}}
                    )
                    server.set_snapshot(NODE, moved)
                    report = await server.wait_acked({NODE: moved}, timeout=5)
                    assert report.converged, report

                    # A changed cluster must not stay warming (Envoy waits for its EDS after CDS).
                    retuned = moved.updated({CLUSTER: {"backend": eds_cluster("backend", 900)}})
                    server.set_snapshot(NODE, retuned)
                    report = await server.wait_acked({NODE: retuned}, timeout=3)
                    assert report.converged, report
                    # not the 15 s initial_fetch_timeout a warming cluster would wait
                    assert report.elapsed < 5.0, report
                    stats = await asyncio.to_thread(
                        envoy.admin_get, "/stats?filter=cluster_manager.warming_clusters"
                    )
                    assert "cluster_manager.warming_clusters: 0" in stats, stats
                    assert await asyncio.to_thread(http_get, url) == (200, "v2")

                # Two listeners on one address: Envoy NACKs; the last good config keeps serving.
                duplicate = changed.updated(
                    {LISTENER: {"http-dup": listener("http-dup", *listen, "local")}}
                )
                server.set_snapshot(NODE, duplicate)
                report = await server.wait_acked({NODE: duplicate}, timeout=5)
                assert report.nacked.keys() == {NODE}, report
                error = report.nacked[NODE]
                print(f"NACK: {error}")
                assert "http-dup" in error or "address" in error, error
                assert await asyncio.to_thread(http_get, url) == (200, "v2")
                lds = next(t for t in server.status()[0].types if t.type_url == LISTENER)
                assert lds.last_nack is not None and lds.last_nack.error_message == error
                assert lds.nack_count == 1
                rejects = registry.get_sample_value("pilot_total_xds_rejects", {"type": "lds"})
                assert rejects == 1.0
                pushes = registry.get_sample_value("pilot_xds_pushes", {"type": "rds"})
                assert pushes is not None and pushes >= 2
                assert registry.get_sample_value("pilot_xds", {"version": "unknown"}) == 1.0
        finally:
            await server.stop(0.5)
    assert server.connected() == []
    assert registry.get_sample_value("pilot_xds", {"version": "unknown"}) == 0.0
