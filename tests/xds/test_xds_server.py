"""XdsServer over a real gRPC channel (unix socket): connect, status, push, reconnect, metrics."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from prometheus_client import CollectorRegistry
from tests.xds.xds_testlib import (
    BACKEND,
    LISTEN,
    delta_request,
    mesh_snapshot,
    route_direct,
    route_to_cluster,
    sotw_request,
)

from pilotfish.xds.metrics import exposition
from pilotfish.xds.resources import CLUSTER, ROUTE, Snapshot
from pilotfish.xds.server import XdsServer

NODE = "sidecar~10.0.0.1~a-0.default~default.svc.cluster.local"


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_convergence_is_observed_once_the_push_is_sent_and_waiting_until_it_is_acked(
    tmp_path: Path,
) -> None:
    """istiod records pilot_proxy_convergence_time when `pushConnection` has sent every type,
    not on the ACK; the idle collection (`gc_freeze.when_out`) still waits for the ACKs."""
    run(_convergence_scenario(tmp_path))


async def _convergence_scenario(tmp_path: Path) -> None:
    base = Snapshot({ROUTE: {"local": route_to_cluster("local", "backend")}})
    registry = CollectorRegistry()
    server = XdsServer(lambda node_id, metadata: base, registry)
    await server.start(f"unix:{tmp_path / 'xds.sock'}")

    def observed() -> float:
        return registry.get_sample_value("pilot_proxy_convergence_time_count") or 0.0

    try:
        async with grpc.aio.insecure_channel(f"unix:{tmp_path / 'xds.sock'}") as channel:
            call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources()
            await call.write(sotw_request(ROUTE, ["local"], node_id=NODE))
            first = await call.read()
            await call.write(sotw_request(ROUTE, ["local"], first.version_info, first.nonce))
            assert (await server.wait_acked({NODE: base}, timeout=5)).acked == (NODE,)
            before = observed()
            changed = base.updated({ROUTE: {"local": route_direct("local", "x")}})
            server.set_snapshot(NODE, changed, changed_at=time.monotonic())
            pushed = await call.read()
            assert pushed.version_info == changed.version_of(ROUTE)
            for _ in range(200):  # the writer's completion runs on the server's loop
                if observed() > before:
                    break
                await asyncio.sleep(0.005)
            assert observed() == before + 1  # sent: observed, with no ACK yet
            assert server.convergence.waiting() == 1  # ... but not ACKed
            await call.write(sotw_request(ROUTE, ["local"], pushed.version_info, pushed.nonce))
            assert (await server.wait_acked({NODE: changed}, timeout=5)).acked == (NODE,)
            assert server.convergence.waiting() == 0 and observed() == before + 1
            call.cancel()
    finally:
        await server.stop(0)


def test_sotw_connect_push_disconnect_reconnect(tmp_path: Path) -> None:
    run(_sotw_scenario(tmp_path))


async def _sotw_scenario(tmp_path: Path) -> None:
    base = Snapshot({ROUTE: {"local": route_to_cluster("local", "backend")}})
    generated: list[str] = []

    def generate(node_id: str, metadata: dict[str, Any]) -> Snapshot | None:
        """The first connect gets `base`; later ones: nothing new (keep what is stored)."""
        generated.append(node_id)
        return base if len(generated) == 1 else None

    registry = CollectorRegistry()
    server = XdsServer(generate, registry)
    await server.start(f"unix:{tmp_path / 'xds.sock'}")
    try:
        async with grpc.aio.insecure_channel(f"unix:{tmp_path / 'xds.sock'}") as channel:
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            call = stub.StreamAggregatedResources()
            await call.write(sotw_request(ROUTE, ["local"], node_id=NODE))
            first = await call.read()
            assert first.type_url == ROUTE and len(first.resources) == 1
            await call.write(sotw_request(ROUTE, ["local"], first.version_info, first.nonce))
            report = await server.wait_acked({NODE: base}, timeout=5)
            assert report.acked == (NODE,), report
            assert server.connected() == [NODE]
            (status,) = server.status()
            assert status.node_id == NODE and status.streams == 1 and not status.delta
            (route_status,) = status.types
            assert route_status.acked_version == first.version_info

            # Same snapshot again: nothing is sent; a changed one is pushed.
            server.set_snapshot(
                NODE, Snapshot({ROUTE: {"local": route_to_cluster("local", "backend")}})
            )
            changed = base.updated({ROUTE: {"local": route_direct("local", "x")}})
            # the change reached the control plane 4 s before its snapshot was ready
            server.set_snapshot(NODE, changed, changed_at=time.monotonic() - 4)
            pushed = await call.read()
            assert pushed.version_info == changed.version_of(ROUTE)
            await call.write(sotw_request(ROUTE, ["local"], pushed.version_info, pushed.nonce))
            assert (await server.wait_acked({NODE: changed}, timeout=5)).acked == (NODE,)
            slow = registry.get_sample_value("pilot_proxy_convergence_time_bucket", {"le": "3.0"})
            total = registry.get_sample_value("pilot_proxy_convergence_time_count")
            assert total is not None and slow is not None and total - slow == 1  # counted from 4 s
            assert registry.get_sample_value("pilot_xds_pushes", {"type": "rds"}) == 2.0
            text = exposition(registry).decode()
            # istiod's names and types: sums without `_total`, Istio's buckets
            assert 'pilot_xds_pushes{type="rds"} 2.0' in text, text
            assert "# TYPE pilot_xds_pushes counter" in text
            assert "pilot_xds_pushes_total" not in text and "rejects_total" not in text
            assert 'pilot_xds{version="unknown"} 1.0' in text
            assert 'pilot_xds_config_size_bytes_bucket{le="10000.0",type="rds"}' in text
            assert 'pilot_proxy_convergence_time_bucket{le="0.1"}' in text
            assert 'pilot_xds_push_time_bucket{le="0.01",type="rds"}' in text
            assert 'pilot_proxy_queue_time_bucket{le="0.1"}' in text
            # istiod's help texts, and no `_created` series (prometheus_client's, not istiod's)
            assert (
                "# HELP pilot_total_xds_rejects Total number of XDS responses from pilot "
                "rejected by proxy.\n" in text
            ), text
            assert "_created" not in text, text
            queued = registry.get_sample_value("pilot_proxy_queue_time_count")
            assert queued is not None and queued >= 1
            call.cancel()

        # The stream closed: the node's state is gone, its snapshot stays.
        for _ in range(100):
            if not server.connected():
                break
            await asyncio.sleep(0.01)
        assert server.connected() == [] and server.status() == []
        assert server.snapshot(NODE) == changed

        async with grpc.aio.insecure_channel(f"unix:{tmp_path / 'xds.sock'}") as channel:
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            call = stub.StreamAggregatedResources()
            # Reconnect: old version, no nonce → the current snapshot at once.
            await call.write(sotw_request(ROUTE, ["local"], first.version_info, node_id=NODE))
            again = await call.read()
            assert again.version_info == changed.version_of(ROUTE)
            assert generated == [NODE, NODE]  # asked again on every connect
            call.cancel()
    finally:
        await server.stop(0)


def test_delta_stream_and_unanswered_node_is_reported(tmp_path: Path) -> None:
    run(_delta_scenario())


async def _delta_scenario() -> None:
    base = mesh_snapshot(LISTEN, BACKEND, clusters=2)
    server = XdsServer(lambda node_id, metadata: None, CollectorRegistry())
    port = await server.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            call = stub.DeltaAggregatedResources()
            await call.write(delta_request(CLUSTER, node_id=NODE))
            # No snapshot yet (generate returned None): nothing until set_snapshot.
            await asyncio.sleep(0.05)
            server.set_snapshot(NODE, base)
            response: discovery_pb2.DeltaDiscoveryResponse = await call.read()
            assert sorted(r.name for r in response.resources) == ["backend", "backend-1"]
            report = await server.wait_acked({NODE: base, "nobody": base}, timeout=0.2)
            assert report.missing == ("nobody", NODE) and not report.acked
            await call.write(delta_request(CLUSTER, nonce=response.nonce, error="bad cluster"))
            report = await server.wait_acked({NODE: base}, timeout=5)
            assert report.nacked == {NODE: "bad cluster"}
            assert server.status()[0].delta
            call.cancel()
    finally:
        await server.stop(0)


def test_an_ack_of_a_newer_snapshot_counts_for_an_older_wait(tmp_path: Path) -> None:
    run(_superseded_scenario(tmp_path))


async def _superseded_scenario(tmp_path: Path) -> None:
    """apply waits for snapshot A; before the node answers, a registry change pushes B (built
    from newer state, so it contains A's change). The node ACKs B: the wait is satisfied."""
    base = Snapshot({ROUTE: {"local": route_to_cluster("local", "backend")}})
    server = XdsServer(lambda node_id, metadata: base, CollectorRegistry())
    await server.start(f"unix:{tmp_path / 'xds.sock'}")
    try:
        async with grpc.aio.insecure_channel(f"unix:{tmp_path / 'xds.sock'}") as channel:
            call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources()
            await call.write(sotw_request(ROUTE, ["local"], node_id=NODE))
            first = await call.read()
            await call.write(sotw_request(ROUTE, ["local"], first.version_info, first.nonce))
            assert (await server.wait_acked({NODE: base}, timeout=5)).acked == (NODE,)

            older = base.updated({ROUTE: {"local": route_direct("local", "a")}})
            newer = base.updated({ROUTE: {"local": route_direct("local", "b")}})
            server.set_snapshot(NODE, older)
            waiting = asyncio.create_task(server.wait_acked({NODE: older}, timeout=5))
            server.set_snapshot(NODE, newer)  # supersedes before the node answered
            for _ in range(2):  # the node answers whatever it was last sent
                pushed = await call.read()
                await call.write(sotw_request(ROUTE, ["local"], pushed.version_info, pushed.nonce))
                if pushed.version_info == newer.version_of(ROUTE):
                    break
            report = await waiting
            assert report.acked == (NODE,) and not report.missing, report
            call.cancel()
    finally:
        await server.stop(0)


def test_a_slow_generation_does_not_stall_other_streams(tmp_path: Path) -> None:
    """A node's first snapshot is generated off the event loop: while one connecting node's
    translation takes long, connected nodes still get their pushes (a connect storm translated
    on the loop starved gRPC, which cancels the calls it has not taken in time)."""
    run(_slow_generation_scenario(tmp_path))


async def _slow_generation_scenario(tmp_path: Path) -> None:
    release = threading.Event()
    base = Snapshot({ROUTE: {"local": route_to_cluster("local", "backend")}})
    threads: list[int] = []

    def generate(node_id: str, metadata: dict[str, Any]) -> Snapshot | None:
        threads.append(threading.get_ident())
        if node_id.startswith("slow"):
            release.wait(10)  # a long translation (the test releases it)
        return base

    server = XdsServer(generate, CollectorRegistry())
    address = f"unix:{tmp_path / 'xds.sock'}"
    await server.start(address)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            fast = stub.StreamAggregatedResources()
            await fast.write(sotw_request(ROUTE, ["local"], node_id=NODE))
            first = await asyncio.wait_for(fast.read(), 5)
            await fast.write(sotw_request(ROUTE, ["local"], first.version_info, first.nonce))
            slow = stub.StreamAggregatedResources()
            await slow.write(sotw_request(ROUTE, ["local"], node_id="slow~" + NODE))
            while len(threads) < 2:
                await asyncio.sleep(0.01)
            changed = base.updated({ROUTE: {"local": route_direct("local", "x")}})
            server.set_snapshot(NODE, changed)
            pushed = await asyncio.wait_for(fast.read(), 5)  # while "slow" is translated
            assert pushed.version_info == changed.version_of(ROUTE)
            release.set()
            assert (await asyncio.wait_for(slow.read(), 5)).type_url == ROUTE
            assert threading.get_ident() not in threads
            fast.cancel()
            slow.cancel()
    finally:
        release.set()
        await server.stop(0)
