"""XdsServer's limits over a real gRPC channel: stream count, streams per node, malformed and
oversized requests, clients that stop reading, forgotten nodes — each refused with a metric, and
a well-behaved proxy keeps getting its pushes meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from prometheus_client import CollectorRegistry
from tests.xds.xds_testlib import route_direct, route_to_cluster, sotw_request

from pilotfish.xds.limits import MAX_REQUEST_BYTES, StreamLimits
from pilotfish.xds.resources import ROUTE, Snapshot
from pilotfish.xds.server import SERVICE, XdsServer

GOOD = "sidecar~10.0.0.1~good-0.default~default.svc.cluster.local"
NAMES = [f"r{i}" for i in range(8)]


def node(i: int) -> str:
    return f"sidecar~10.0.1.{i}~rogue-{i}.default~default.svc.cluster.local"


def refused(registry: CollectorRegistry, reason: str) -> float:
    value = registry.get_sample_value("pilotfish_xds_refused_streams_total", {"reason": reason})
    return value or 0.0


def test_rogue_clients_are_refused_and_a_good_proxy_keeps_syncing(tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(_scenario(tmp_path), 60))


async def _scenario(tmp_path: Path) -> None:
    big = "x" * 250_000  # 2 MB responses: more than a client buffers without reading
    base = Snapshot({ROUTE: {name: route_direct(name, big) for name in NAMES}})
    forgotten: list[str] = []
    registry = CollectorRegistry()
    limits = StreamLimits(max_streams=6, max_streams_per_node=2, max_queued=4, write_timeout=1)
    server = XdsServer(lambda n, m: base, registry, limits=limits, forget=forgotten.append)
    address = f"unix:{tmp_path / 'xds.sock'}"
    await server.start(address)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            good = stub.StreamAggregatedResources()
            await good.write(sotw_request(ROUTE, NAMES, node_id=GOOD))
            first = await good.read()
            await good.write(sotw_request(ROUTE, NAMES, first.version_info, first.nonce))

            # a node id opening more streams than allowed: the extra one is closed
            same = [stub.StreamAggregatedResources() for _ in range(2)]
            for call in same:
                await call.write(sotw_request(ROUTE, [], node_id=GOOD))
            await _until(lambda: refused(registry, "node_streams") >= 1)

            # more streams than the server takes: refused with RESOURCE_EXHAUSTED
            idle = [stub.StreamAggregatedResources() for _ in range(8)]
            for i, call in enumerate(idle):
                await call.write(sotw_request(ROUTE, [], node_id=node(i)))
            codes = await asyncio.gather(*(c.code() for c in idle[5:]), return_exceptions=True)
            assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, codes
            assert refused(registry, "streams") >= 1
            for call in idle + same:
                call.cancel()
            await _until(lambda: len(server.connected()) == 1)
            assert node(0) in forgotten and GOOD not in forgotten  # gone nodes are forgotten

            # malformed and oversized requests end the stream, counted
            raw = channel.stream_stream(
                f"/{SERVICE}/StreamAggregatedResources",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            garbage = raw()
            await garbage.write(b"\xff\xff\xff\xff not a protobuf")
            await garbage.code()  # the stream ends
            huge = raw()
            request = discovery_pb2.DiscoveryRequest(type_url=ROUTE)
            request.node.id = node(99)
            request.error_detail.message = "y" * (MAX_REQUEST_BYTES + 1)
            await huge.write(request.SerializeToString())
            await huge.code()
            assert refused(registry, "malformed") == 1 and refused(registry, "size") == 1

            # a client (its own connection) that stops reading is closed, and does not hold up
            # the good proxy
            rogue = grpc.aio.insecure_channel(address)
            stuck = ads_pb2_grpc.AggregatedDiscoveryServiceStub(rogue).StreamAggregatedResources()
            await stuck.write(sotw_request(ROUTE, NAMES, node_id=node(7)))
            for i in range(12):
                changed = base.updated({ROUTE: {"r0": route_to_cluster("r0", f"c{i}")}})
                server.set_snapshot(node(7), changed)
                server.set_snapshot(GOOD, changed)
                pushed = await good.read()
                assert pushed.version_info == changed.version_of(ROUTE)
                await good.write(sotw_request(ROUTE, NAMES, pushed.version_info, pushed.nonce))
            await _until(lambda: refused(registry, "queue") + refused(registry, "slow") >= 1)
            await _until(lambda: node(7) not in server.connected())
            good.cancel()
            await rogue.close()
    finally:
        await server.stop(0)


async def _until(check: Any, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)
