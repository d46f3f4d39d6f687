"""On-demand virtual hosts through a real XdsServer (gRPC over a unix socket): a VHDS demand is
answered by one response, the reply carrying the new virtual host with its alias; the push of
the snapshot the demand published is held until that reply is out, then sends only what the
reply did not (here: a route configuration the same demand changed)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from prometheus_client import CollectorRegistry
from tests.xds.test_xds_vhds_stream import POD_LOCAL, REVIEWS, vhost
from tests.xds.xds_testlib import delta_request, route_direct

from pilotfish.xds.resources import ROUTE, VIRTUAL_HOST, Snapshot
from pilotfish.xds.server import XdsServer

NODE = "sidecar~10.0.0.1~a-0.default~default.svc.cluster.local"
ASKED = "http_proxy/reviews:9080"


def test_a_vhds_demand_is_answered_by_its_reply_alone(tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(_scenario(tmp_path, also_route=False), 30))


def test_a_push_held_for_the_reply_sends_what_the_reply_did_not(tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(_scenario(tmp_path, also_route=True), 30))


async def _scenario(tmp_path: Path, also_route: bool) -> None:
    local = vhost(POD_LOCAL, ["localhost:15000"])
    base = Snapshot({VIRTUAL_HOST: {POD_LOCAL: local}, ROUTE: {"r": route_direct("r", "a")}})
    grown = base.updated({VIRTUAL_HOST: {POD_LOCAL: local, REVIEWS: vhost(REVIEWS, ["r:9080"])}})
    if also_route:
        grown = grown.updated({ROUTE: {"r": route_direct("r", "b")}})
    server: XdsServer

    def demand_hosts(node_id: str, aliases: tuple[str, ...]) -> dict[str, str]:
        server.cache.set(node_id, grown)  # published first, as the control plane does
        return {a: REVIEWS for a in aliases}

    def generate(node_id: str, metadata: dict[str, Any]) -> Snapshot:
        return base

    server = XdsServer(generate, CollectorRegistry(), demand_hosts=demand_hosts)
    address = f"unix:{tmp_path / 'xds.sock'}"
    await server.start(address)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).DeltaAggregatedResources()
            await call.write(delta_request(ROUTE, ["r"], node_id=NODE))
            first: discovery_pb2.DeltaDiscoveryResponse = await call.read()
            await call.write(delta_request(ROUTE, nonce=first.nonce))
            await call.write(delta_request(VIRTUAL_HOST, ["http_proxy"]))
            opened: discovery_pb2.DeltaDiscoveryResponse = await call.read()
            assert [r.name for r in opened.resources] == [POD_LOCAL]
            await call.write(delta_request(VIRTUAL_HOST, nonce=opened.nonce))
            await call.write(delta_request(VIRTUAL_HOST, [ASKED]))
            reply: discovery_pb2.DeltaDiscoveryResponse = await call.read()
            assert reply.type_url == VIRTUAL_HOST
            assert [(r.name, list(r.aliases)) for r in reply.resources] == [(REVIEWS, [ASKED])]
            await call.write(delta_request(VIRTUAL_HOST, nonce=reply.nonce))
            if also_route:  # what else the demand changed comes after the reply
                pushed: discovery_pb2.DeltaDiscoveryResponse = await call.read()
                assert pushed.type_url == ROUTE and [r.name for r in pushed.resources] == ["r"]
                await call.write(delta_request(ROUTE, nonce=pushed.nonce))
            report = await server.wait_acked({NODE: grown}, timeout=5)
            assert report.acked == (NODE,), report
            more = asyncio.ensure_future(call.read())
            done, _ = await asyncio.wait({more}, timeout=0.3)
            assert not done, more.result()  # nothing else: the virtual host went once
            more.cancel()
            call.cancel()
    finally:
        await server.stop(0)
