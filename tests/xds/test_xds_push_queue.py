"""The push queue: bounded, coalescing (a queued node waits once, for its newest snapshot), and
measured (`pilot_proxy_queue_time`, `pilot_push_queue_depth`)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc
from prometheus_client import CollectorRegistry, Gauge, Histogram
from tests.xds.xds_testlib import route_direct, route_to_cluster, sotw_request

from pilotfish.xds.metrics import exposition
from pilotfish.xds.push_queue import Pusher, PushQueue
from pilotfish.xds.resources import ROUTE, Snapshot
from pilotfish.xds.server import XdsServer

NODE = "sidecar~10.0.0.1~a-0.default~default.svc.cluster.local"


def _queue(max_depth: int) -> tuple[PushQueue, CollectorRegistry]:
    registry = CollectorRegistry()
    queue_time = Histogram("pilot_proxy_queue_time", "", registry=registry)
    depth = Gauge("pilot_push_queue_depth", "", registry=registry)
    return PushQueue(max_depth, queue_time, depth), registry


def test_a_queued_node_keeps_its_place_and_its_first_queued_time() -> None:
    queue, registry = _queue(10)
    assert queue.add("a", now=1.0) and queue.add("b", now=2.0) and queue.add("a", now=3.0)
    assert len(queue) == 2 and registry.get_sample_value("pilot_push_queue_depth") == 2
    assert queue.take(now=5.0) == ["a", "b"]  # a once, still first
    assert registry.get_sample_value("pilot_proxy_queue_time_sum") == 4.0 + 3.0  # from 1 and 2
    assert registry.get_sample_value("pilot_proxy_queue_time_count") == 2
    assert registry.get_sample_value("pilot_push_queue_depth") == 0 and queue.take(6.0) == []


def test_the_queue_is_bounded_and_taken_in_batches() -> None:
    queue, _ = _queue(3)
    assert all(queue.add(n, now=0.0) for n in "abc")
    assert not queue.add("d", now=0.0)  # full: the caller pushes d at once
    assert queue.add("b", now=1.0)  # already queued: coalesced, no room needed
    queue.discard("b")
    assert "b" not in queue and queue.add("d", now=1.0)
    assert queue.take(now=2.0, limit=2) == ["a", "c"]
    assert queue.take(now=2.0, limit=2) == ["d"]
    with pytest.raises(ValueError):
        PushQueue(0)


def test_snapshots_published_in_a_burst_reach_a_proxy_as_one_push(tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(_burst(tmp_path), 30))


async def _burst(tmp_path: Path) -> None:
    base = Snapshot({ROUTE: {"local": route_to_cluster("local", "backend")}})
    registry = CollectorRegistry()
    server = XdsServer(lambda node_id, metadata: base, registry)
    address = f"unix:{tmp_path / 'xds.sock'}"
    await server.start(address)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources()
            await call.write(sotw_request(ROUTE, ["local"], node_id=NODE))
            first = await call.read()
            await call.write(sotw_request(ROUTE, ["local"], first.version_info, first.nonce))
            assert (await server.wait_acked({NODE: base}, timeout=5)).acked == (NODE,)
            taken_before = registry.get_sample_value("pilot_proxy_queue_time_count") or 0.0
            burst = [
                base.updated({ROUTE: {"local": route_direct("local", f"v{i}")}}) for i in range(5)
            ]
            for snapshot in burst:  # no await in between: the node is queued once
                server.set_snapshot(NODE, snapshot, changed_at=time.monotonic())
            assert registry.get_sample_value("pilot_push_queue_depth") == 1
            pushed = await call.read()
            assert pushed.version_info == burst[-1].version_of(ROUTE)  # only the newest
            await call.write(sotw_request(ROUTE, ["local"], pushed.version_info, pushed.nonce))
            assert (await server.wait_acked({NODE: burst[-1]}, timeout=5)).acked == (NODE,)
            assert registry.get_sample_value("pilot_xds_pushes", {"type": "rds"}) == 2.0
            assert registry.get_sample_value("pilot_push_queue_depth") == 0
            taken = registry.get_sample_value("pilot_proxy_queue_time_count")
            assert taken == taken_before + 1  # the burst: taken out of the queue once
            assert "# TYPE pilot_push_queue_depth gauge" in exposition(registry).decode()
            call.cancel()
    finally:
        await server.stop(0)


def test_calls_from_another_thread_run_on_the_loop_in_order_with_one_wake_up() -> None:
    asyncio.run(_hand_over_from_a_thread())


async def _hand_over_from_a_thread() -> None:
    loop = asyncio.get_running_loop()
    pusher = Pusher(PushQueue(10), lambda node_id: None)
    pusher.start()
    wake_ups = 0
    handed = loop.call_soon_threadsafe

    def counted(callback: Any, *args: Any) -> Any:
        nonlocal wake_ups
        wake_ups += 1
        return handed(callback, *args)

    loop.call_soon_threadsafe = counted  # type: ignore[method-assign,assignment]
    ran: list[tuple[int, bool]] = []

    def record(n: int) -> None:
        ran.append((n, threading.current_thread() is threading.main_thread()))
        if n == 3:
            raise RuntimeError("one failing call does not stop the others")

    def publisher() -> None:
        for n in range(500):
            pusher.on_loop(record, n)

    thread = threading.Thread(target=publisher)
    thread.start()
    thread.join()  # the loop is held meanwhile: all 500 wait for it
    try:
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(ran) == 500:
                break
        assert ran == [(n, True) for n in range(500)]
        assert wake_ups == 1
        pusher.on_loop(record, 500)  # called on the loop: at once
        assert ran[-1] == (500, True)
    finally:
        del loop.call_soon_threadsafe
        await pusher.stop()
