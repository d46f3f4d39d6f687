"""Simulated sidecars for bench/scale.py: one process serving a slice of the proxies.

    python bench/scale_clients.py XDS_ADDRESS NODES_JSON FIRST LAST

Each proxy opens its own ADS stream (SotW or delta, as NODES_JSON says) with its real node id and
metadata, subscribes like Envoy (CDS and LDS wildcard, then EDS for the EDS clusters it received
and RDS for the route configs its listeners name), and ACKs every response. A delta proxy with
`demand` names asks for those clusters after its first CDS response, as Envoy's on-demand CDS
does when its app first calls a service (`--on-demand`). When its `http_proxy` route
configuration names VHDS (`--on-demand-routes`), it subscribes to it as Envoy does (the route
configuration's name, then each `http_proxy/<host>` of its `demand_hosts` once the first VHDS
response came). Every response is
reported on stdout as one line `index type_short bytes monotonic_time`, so the parent knows who
received what and when (it shares this machine's monotonic clock). It prints `ready` once
imported and connects on the line `go`; closing stdin stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from typing import Any

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import json_format, struct_pb2

ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/"
PREFIX = "type.googleapis.com/"
CLUSTER = PREFIX + "envoy.config.cluster.v3.Cluster"
ENDPOINT = PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER = PREFIX + "envoy.config.listener.v3.Listener"
ROUTE = PREFIX + "envoy.config.route.v3.RouteConfiguration"
VHOST = PREFIX + "envoy.config.route.v3.VirtualHost"
SHORT = {CLUSTER: "cds", ENDPOINT: "eds", LISTENER: "lds", ROUTE: "rds", VHOST: "vhds"}
STREAMS_PER_CHANNEL = 100
OWN_CONNECTIONS = "SCALE_CLIENTS_OWN_CONNECTIONS"
"""Set (bench/storm_split.py): each channel of 100 streams opens its own TCP connection
(grpc shares one per target and process otherwise), so SO_REUSEPORT can spread them."""
HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def eds_name(cluster: cluster_pb2.Cluster) -> str | None:
    """The ClusterLoadAssignment an EDS cluster asks for (None for other clusters)."""
    if cluster.type != cluster_pb2.Cluster.EDS:
        return None
    return str(cluster.eds_cluster_config.service_name or cluster.name)


def rds_names(listener: listener_pb2.Listener) -> frozenset[str]:
    """The route configurations a listener's connection managers name."""
    found = set()
    for chain in listener.filter_chains:
        for f in chain.filters:
            if f.typed_config.type_url.endswith(HCM):
                hcm = hcm_pb2.HttpConnectionManager.FromString(f.typed_config.value)
                if hcm.HasField("rds"):
                    found.add(hcm.rds.route_config_name)
    return frozenset(found)


class Proxy:
    def __init__(self, index: int, node: dict[str, Any], out: list[str]) -> None:
        self.index = index
        self.node_id = node["id"]
        self.metadata = struct_pb2.Struct()
        json_format.ParseDict(node["metadata"], self.metadata)
        self.delta = bool(node["delta"])
        self.demand: list[str] = list(node.get("demand", ()))  # asked for on demand, as Envoy
        self.demand_hosts: list[str] = list(node.get("demand_hosts", ()))  # VHDS names
        self.vhds = False  # subscribed to VHDS (its route configuration names it)
        self.out = out
        # only what the subscriptions need (a parsed copy of every resource of 2,000 proxies
        # would take gigabytes): cluster name -> its EDS name, listener name -> its RDS names
        self.clusters: dict[str, str | None] = {}
        self.listeners: dict[str, frozenset[str]] = {}
        self.subscribed: dict[str, set[str]] = {ENDPOINT: set(), ROUTE: set()}

    def report(self, type_url: str, size: int) -> None:
        self.out.append(f"{self.index} {SHORT.get(type_url, '?')} {size} {time.monotonic():.6f}")

    async def run(self, channel: grpc.aio.Channel) -> None:
        """Stream until cancelled; a stream that fails is reported (`reset` with its status
        code's value as size) and opened again after a second, as Envoy retries its ADS."""
        while True:
            try:
                if self.delta:
                    await self._delta(channel)
                else:
                    await self._sotw(channel)
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as error:
                code = error.code()
            self.out.append(f"{self.index} reset {code.value[0]} {time.monotonic():.6f}")
            self.clusters, self.listeners, self.vhds = {}, {}, False
            self.subscribed = {ENDPOINT: set(), ROUTE: set()}
            await asyncio.sleep(1.0)

    def _wanted(self, type_url: str) -> set[str] | None:
        """After a CDS/LDS update: the EDS/RDS names Envoy would subscribe to now."""
        if type_url == CLUSTER:
            return {name for name in self.clusters.values() if name is not None}
        if type_url == LISTENER:
            return set().union(*self.listeners.values())
        return None

    async def _sotw(self, channel: grpc.aio.Channel) -> None:
        call = channel.stream_stream(
            ADS + "StreamAggregatedResources",
            request_serializer=discovery_pb2.DiscoveryRequest.SerializeToString,
            response_deserializer=lambda b: (len(b), discovery_pb2.DiscoveryResponse.FromString(b)),
        )()
        first = discovery_pb2.DiscoveryRequest(type_url=CLUSTER)
        first.node.id = self.node_id
        first.node.metadata.CopyFrom(self.metadata)
        await call.write(first)
        await call.write(discovery_pb2.DiscoveryRequest(type_url=LISTENER))
        async for size, response in call:
            type_url = response.type_url
            self.report(type_url, size)
            if type_url == CLUSTER:
                self.clusters = {}
                for any_ in response.resources:
                    c = cluster_pb2.Cluster.FromString(any_.value)
                    self.clusters[c.name] = eds_name(c)
            elif type_url == LISTENER:
                self.listeners = {}
                for any_ in response.resources:
                    lis = listener_pb2.Listener.FromString(any_.value)
                    self.listeners[lis.name] = rds_names(lis)
            names = self.subscribed.get(type_url, set())
            await call.write(
                discovery_pb2.DiscoveryRequest(
                    type_url=type_url,
                    version_info=response.version_info,
                    response_nonce=response.nonce,
                    resource_names=sorted(names),
                )
            )
            wanted = self._wanted(type_url)
            if wanted is not None:
                child = ENDPOINT if type_url == CLUSTER else ROUTE
                if wanted != self.subscribed[child]:
                    self.subscribed[child] = wanted
                    await call.write(
                        discovery_pb2.DiscoveryRequest(
                            type_url=child, resource_names=sorted(wanted)
                        )
                    )

    async def _delta(self, channel: grpc.aio.Channel) -> None:
        call = channel.stream_stream(
            ADS + "DeltaAggregatedResources",
            request_serializer=discovery_pb2.DeltaDiscoveryRequest.SerializeToString,
            response_deserializer=lambda b: (
                len(b),
                discovery_pb2.DeltaDiscoveryResponse.FromString(b),
            ),
        )()
        first = discovery_pb2.DeltaDiscoveryRequest(type_url=CLUSTER)
        first.node.id = self.node_id
        first.node.metadata.CopyFrom(self.metadata)
        await call.write(first)
        await call.write(discovery_pb2.DeltaDiscoveryRequest(type_url=LISTENER))
        async for size, response in call:
            type_url = response.type_url
            self.report(type_url, size)
            if type_url == CLUSTER:
                for resource in response.resources:
                    c = cluster_pb2.Cluster.FromString(resource.resource.value)
                    self.clusters[c.name] = eds_name(c)
                for name in response.removed_resources:
                    self.clusters.pop(name, None)
            elif type_url == LISTENER:
                for resource in response.resources:
                    lis = listener_pb2.Listener.FromString(resource.resource.value)
                    self.listeners[lis.name] = rds_names(lis)
                for name in response.removed_resources:
                    self.listeners.pop(name, None)
            await call.write(
                discovery_pb2.DeltaDiscoveryRequest(
                    type_url=type_url, response_nonce=response.nonce
                )
            )
            await self._vhds(call, type_url, response)
            if type_url == CLUSTER and self.demand:  # its first calls (on-demand clusters)
                asked, self.demand = self.demand, []
                await call.write(
                    discovery_pb2.DeltaDiscoveryRequest(
                        type_url=CLUSTER, resource_names_subscribe=asked
                    )
                )
            wanted = self._wanted(type_url)
            if wanted is not None:
                child = ENDPOINT if type_url == CLUSTER else ROUTE
                held = self.subscribed[child]
                if wanted != held:
                    self.subscribed[child] = wanted
                    await call.write(
                        discovery_pb2.DeltaDiscoveryRequest(
                            type_url=child,
                            resource_names_subscribe=sorted(wanted - held),
                            resource_names_unsubscribe=sorted(held - wanted),
                        )
                    )

    async def _vhds(self, call: Any, type_url: str, response: Any) -> None:
        """VHDS as Envoy asks for it: a route configuration naming it subscribes to its name;
        the first VHDS response is followed by the hosts its app calls."""
        if type_url == ROUTE and not self.vhds:
            for resource in response.resources:
                config = route_pb2.RouteConfiguration.FromString(resource.resource.value)
                if config.HasField("vhds"):
                    self.vhds = True
                    await call.write(
                        discovery_pb2.DeltaDiscoveryRequest(
                            type_url=VHOST, resource_names_subscribe=[config.name]
                        )
                    )
        elif type_url == VHOST and self.demand_hosts:
            asked, self.demand_hosts = self.demand_hosts, []
            await call.write(
                discovery_pb2.DeltaDiscoveryRequest(type_url=VHOST, resource_names_subscribe=asked)
            )


async def main(address: str, nodes_path: str, first: int, last: int) -> None:
    with open(nodes_path) as handle:
        nodes = json.loads(handle.read())[first:last]
    print("ready", flush=True)  # imports done: the parent starts every client at once
    await asyncio.to_thread(sys.stdin.readline)
    out: list[str] = []
    options = [("grpc.max_receive_message_length", 1 << 28)]
    if os.environ.get(OWN_CONNECTIONS):  # one TCP connection per channel, not one per process
        options.append(("grpc.use_local_subchannel_pool", 1))
    channels = [
        grpc.aio.insecure_channel(address, options=options)
        for _ in range((len(nodes) + STREAMS_PER_CHANNEL - 1) // STREAMS_PER_CHANNEL)
    ]
    tasks = [
        asyncio.create_task(Proxy(first + i, node, out).run(channels[i // STREAMS_PER_CHANNEL]))
        for i, node in enumerate(nodes)
    ]
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def watch_stdin() -> None:
        sys.stdin.read()
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stop.set_result, None)

    threading.Thread(target=watch_stdin, daemon=True).start()
    while not stop.done():
        await asyncio.sleep(0.02)
        if out:
            sys.stdout.write("\n".join(out) + "\n")
            sys.stdout.flush()
            out.clear()
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                sys.stderr.write(f"proxy stream failed: {task.exception()!r}\n")
                tasks.remove(task)
                break
    for task in tasks:
        task.cancel()
    for channel in channels:
        await channel.close(None)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
