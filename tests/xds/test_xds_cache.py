"""`SnapshotCache`: the one home of per-node snapshots, written by the control plane and read
and watched by the xDS server; equal content is held once and shared between nodes."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc
from prometheus_client import CollectorRegistry
from tests.xds.xds_testlib import (
    BACKEND,
    LISTEN,
    OTHER_BACKEND,
    mesh_snapshot,
    route_direct,
    sotw_request,
)

from pilotfish.xds.cache import NodeSnapshots, SnapshotCache
from pilotfish.xds.resources import CLUSTER, ENDPOINT, ROUTE
from pilotfish.xds.server import XdsServer

A, B, C = "sidecar~10.0.0.1~a-0.ns~ns.svc.cluster.local", "sidecar~10.0.0.2~b", "sidecar~10.0.0.3~c"


def test_publishing_is_versioned_and_watchers_hear_only_changes() -> None:
    cache = SnapshotCache()
    heard: list[tuple[str, str, float]] = []
    cache.watch(lambda node, snapshot, at: heard.append((node, snapshot.version, at)))
    first = mesh_snapshot(LISTEN, BACKEND)
    assert cache.set(A, first, changed_at=5.0)
    assert cache.generation == 1 and cache.get(A) is first
    assert not cache.set(A, mesh_snapshot(LISTEN, BACKEND), changed_at=6.0)  # equal content
    assert cache.generation == 1 and cache.get(A) is first
    moved = mesh_snapshot(LISTEN, OTHER_BACKEND)
    assert cache.set_many({A: moved, B: first}, changed_at=7.0) == [A, B]
    assert cache.generation == 2  # one change, however many nodes
    assert heard == [(A, first.version, 5.0), (A, moved.version, 7.0), (B, first.version, 7.0)]
    assert cache.versions(A) == {t: moved.version_of(t) for t in moved.type_urls()}
    assert cache.versions(C) == {} and cache.get(C) is None and cache.nodes() == [A, B]


def test_equal_content_is_held_once_for_every_node() -> None:
    cache = SnapshotCache()
    for node in (A, B):  # built separately, as for two proxies: equal bytes, other objects
        cache.set(node, mesh_snapshot(LISTEN, BACKEND))
    assert cache.get(A) is cache.get(B)
    other_route = mesh_snapshot(LISTEN, BACKEND, route=route_direct("local", "hi"))
    cache.set(C, other_route)
    a, c = cache.get(A), cache.get(C)
    assert a is not None and c is not None and a.version != c.version
    # only the routes differ: every other type's resources (and the responses built from them)
    # are one object for both nodes
    for type_url in (CLUSTER, ENDPOINT):
        assert c.resources(type_url) is a.resources(type_url)
        assert c.resources(type_url).sotw_view(None) is a.resources(type_url).sotw_view(None)
    assert c.resources(ROUTE) is not a.resources(ROUTE)
    assert c.version == other_route.version  # sharing changes no content
    assert c.messages(ROUTE) == other_route.messages(ROUTE)
    stats = cache.stats()
    assert (stats.nodes, stats.snapshots) == (3, 2)
    assert stats.type_resources == 5  # 4 types of A/B + C's own routes


def test_released_nodes_are_kept_for_a_reconnect_up_to_the_bound() -> None:
    cache = SnapshotCache(max_idle=2)
    for node in (A, B, C):
        cache.set(node, mesh_snapshot(LISTEN, BACKEND))
    cache.release(A)
    cache.release(B)
    cache.acquire(A)  # A reconnected: no longer idle
    cache.release(C)
    assert cache.nodes() == [A, B, C] and cache.stats().idle == 2
    cache.release(A)  # a third idle node: the oldest released (B) goes
    assert cache.nodes() == [A, C] and cache.stats().idle == 2
    cache.clear(A)
    assert cache.nodes() == [C] and len(cache) == 1


def test_a_node_view_shows_only_the_nodes_it_is_given() -> None:
    cache = SnapshotCache()
    cache.set(A, mesh_snapshot(LISTEN, BACKEND))
    cache.set(B, mesh_snapshot(LISTEN, OTHER_BACKEND))
    tracked: dict[str, object] = {A: object(), C: object()}
    view = NodeSnapshots(cache, tracked)
    assert list(view) == [A] and len(view) == 1 and view[A] is cache.get(A)
    assert B not in view and C not in view and view.get(B) is None


def test_a_snapshot_published_from_another_thread_is_pushed_by_the_server(
    tmp_path: Path,
) -> None:
    asyncio.run(asyncio.wait_for(_published_from_a_thread(tmp_path), 30))


async def _published_from_a_thread(tmp_path: Path) -> None:
    cache = SnapshotCache()
    first = mesh_snapshot(LISTEN, BACKEND)

    def generate(node_id: str, metadata: dict[str, Any]) -> Any:
        return first

    server = XdsServer(generate, CollectorRegistry(), cache=cache)
    address = f"unix:{tmp_path / 'xds.sock'}"
    await server.start(address)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources()
            await call.write(sotw_request(ROUTE, ["local"], node_id=A))
            answer = await call.read()
            assert cache.get(A) is first and answer.version_info == first.version_of(ROUTE)
            await call.write(sotw_request(ROUTE, ["local"], answer.version_info, answer.nonce))
            changed = first.updated({ROUTE: {"local": route_direct("local", "from a thread")}})
            publisher = threading.Thread(target=cache.set, args=(A, changed))
            publisher.start()  # as the control plane publishes a change: off the event loop
            pushed = await call.read()
            publisher.join()
            assert pushed.version_info == changed.version_of(ROUTE)
            assert server.snapshot(A) is cache.get(A)
            call.cancel()
    finally:
        await server.stop(0)
