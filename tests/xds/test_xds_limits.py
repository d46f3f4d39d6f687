"""XdsServer's limits over a real gRPC channel: stream count, streams per node, malformed and
oversized requests, clients that stop reading, forgotten nodes — each refused with a metric, and
a well-behaved proxy keeps getting its pushes meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from prometheus_client import CollectorRegistry
from tests.xds.xds_testlib import route_direct, route_to_cluster, sotw_request

from pilotfish.xds.limits import HARD_REQUEST_BYTES, MAX_REQUEST_BYTES, StreamLimits
from pilotfish.xds.resources import ROUTE, Snapshot
from pilotfish.xds.server import SERVICE, XdsServer, XdsServerError

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


def test_the_stream_cap_holds_over_tcp_across_connections_and_frees_its_slots() -> None:
    """The cap (4,096 by default; lowered here) counts streams of every connection, refuses the
    ones over it with RESOURCE_EXHAUSTED and a metric, and gives slots back when streams close."""
    asyncio.run(asyncio.wait_for(_stream_cap(cap=24, connections=4, per_connection=8), 60))


async def _stream_cap(cap: int, connections: int, per_connection: int) -> None:
    base = Snapshot({ROUTE: {"r0": route_direct("r0", "ok")}})
    registry = CollectorRegistry()
    server = XdsServer(lambda n, m: base, registry, limits=StreamLimits(max_streams=cap))
    port = await server.start("127.0.0.1:0")
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(connections)]
    try:

        async def open_streams(round_: int) -> list[Any]:
            calls = []
            for c, channel in enumerate(channels):
                stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
                for s in range(per_connection):
                    call = stub.StreamAggregatedResources()
                    i = (round_ * 1000) + c * per_connection + s
                    node_id = f"sidecar~10.1.{i // 250}.{i % 250}~p-{i}.default~x.svc"
                    # the server may refuse the stream before this write completes
                    with contextlib.suppress(grpc.aio.AioRpcError):
                        await call.write(sotw_request(ROUTE, ["r0"], node_id=node_id))
                    calls.append(call)
            return calls

        calls = await open_streams(0)
        over = connections * per_connection - cap
        await _until(lambda: refused(registry, "streams") >= over)
        await _until(lambda: sum(c.done() for c in calls) >= over)  # the client has seen them
        refused_calls = [c for c in calls if c.done()]
        codes = [await c.code() for c in refused_calls]
        assert len(codes) == over, codes
        # RESOURCE_EXHAUSTED, unless the client's first write raced the refusal (then its own
        # INTERNAL): the server's count above is the authoritative one
        assert set(codes) <= {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL}
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, codes
        await _until(lambda: len(server.connected()) == cap)
        assert refused(registry, "streams") == over
        for call in calls:
            call.cancel()
        await _until(lambda: not server.connected())
        # every slot is free again: a full set of new streams is served
        again = await open_streams(1)
        await _until(lambda: len(server.connected()) == cap)
        answered = [c for c in again if not c.done()]
        first = await answered[0].read()
        assert first.version_info == base.version_of(ROUTE)
        for call in again:
            call.cancel()
    finally:
        for channel in channels:
            await channel.close()
        await server.stop(0)


def test_a_response_over_the_size_cap_is_counted_and_its_stream_closed(tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(_oversized_response(tmp_path), 60))


async def _oversized_response(tmp_path: Path) -> None:
    small = Snapshot({ROUTE: {"r0": route_direct("r0", "ok")}})
    large = Snapshot({ROUTE: {"r0": route_direct("r0", "x" * 200_000)}})
    registry = CollectorRegistry()
    limits = StreamLimits(max_response_bytes=100_000)
    server = XdsServer(lambda n, m: large if "big" in n else small, registry, limits=limits)
    address = f"unix:{tmp_path / 'xds.sock'}"
    await server.start(address)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            big = stub.StreamAggregatedResources()
            await big.write(sotw_request(ROUTE, ["r0"], node_id=node(1).replace("rogue", "big")))
            assert await big.code() == grpc.StatusCode.OK  # closed by the server, nothing sent
            assert refused(registry, "response_size") == 1
            good = stub.StreamAggregatedResources()
            await good.write(sotw_request(ROUTE, ["r0"], node_id=GOOD))
            assert (await good.read()).version_info == small.version_of(ROUTE)
            good.cancel()
    finally:
        await server.stop(0)


def test_an_oversized_or_malformed_request_ends_with_grpcs_status_and_is_counted(
    tmp_path: Path,
) -> None:
    """What Envoy (or any gRPC client) sees is the status gRPC itself gives — never a clean OK —
    and every refusal up to gRPC's own receive cap is counted, also past the 16 MiB that gRPC
    used to refuse by itself, uncounted; a first message over gRPC's cap, which gRPC refuses
    before pilotfish sees it, counts as `no_request`; a proxy that leaves after its requests
    does not count."""
    asyncio.run(asyncio.wait_for(_oversized(tmp_path), 60))


async def _oversized(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    base = Snapshot({ROUTE: {"r0": route_direct("r0", "ok")}})
    server = XdsServer(lambda n, m: base, registry)
    address = f"unix:{tmp_path / 'xds.sock'}"
    await server.start(address)
    options = [("grpc.max_send_message_length", 2 * HARD_REQUEST_BYTES)]
    try:
        async with grpc.aio.insecure_channel(address, options=options) as channel:
            raw = channel.stream_stream(
                f"/{SERVICE}/StreamAggregatedResources",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            for count, size in enumerate((MAX_REQUEST_BYTES + 1, 20 << 20), start=1):
                request = discovery_pb2.DiscoveryRequest(type_url=ROUTE)
                request.node.id = node(count)
                request.error_detail.message = "y" * size
                call = raw()
                await call.write(request.SerializeToString())
                assert await call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "Received message larger than max" in await call.details()
                assert refused(registry, "size") == count
            huge = raw()
            with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError):
                await huge.write(b"\x0a" * (HARD_REQUEST_BYTES + 1))
            assert await huge.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            await _until(lambda: refused(registry, "no_request") == 1)
            assert refused(registry, "size") == 2
            garbage = raw()
            await garbage.write(b"\xff\xff\xff\xff not a protobuf")
            assert await garbage.code() == grpc.StatusCode.INTERNAL
            assert "error unmarshalling request" in await garbage.details()
            assert refused(registry, "malformed") == 1
            # a well-behaved proxy is served meanwhile
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            good = stub.StreamAggregatedResources()
            await good.write(sotw_request(ROUTE, ["r0"], node_id=GOOD))
            assert (await good.read()).version_info == base.version_of(ROUTE)
            good.cancel()
            await _until(lambda: not server.connected())
            assert refused(registry, "no_request") == 1  # a proxy that left is no refusal
    finally:
        await server.stop(0)


def test_a_second_server_on_the_same_address_is_refused() -> None:
    """gRPC's default SO_REUSEPORT would let a second control plane bind the same xDS address
    and take a share of the proxies' connections; it must fail to start instead."""
    asyncio.run(asyncio.wait_for(_second_server(), 30))


async def _second_server() -> None:
    base = Snapshot({ROUTE: {"r0": route_direct("r0", "ok")}})
    first = XdsServer(lambda n, m: base, CollectorRegistry())
    port = await first.start("127.0.0.1:0")
    second = XdsServer(lambda n, m: base, CollectorRegistry())
    try:
        with pytest.raises(XdsServerError, match=f"cannot listen on 127.0.0.1:{port}"):
            await second.start(f"127.0.0.1:{port}")
    finally:
        await second.stop(grace=0)  # also when it did start (the failure this test is for)
        await first.stop(grace=0)
