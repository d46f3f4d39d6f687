"""The event loop's own Python per xDS response, without gRPC (issue 9: what of the ~270 us a
response costs the control plane's event loop is pilotfish's code, not gRPC's or asyncio's).

    .venv/bin/python bench/serving_python.py [--services 32] [--proxies 64] [--rounds 500]

`ControlPlane` on the scale benchmark's mesh (`scale_mesh.Topology`, on-demand clusters and
virtual hosts) and a real `XdsServer` that is never started: every proxy's stream is a
`Connection` registered with it as a delta sidecar subscribing CDS, LDS and the EDS of its
clusters, asking two services' clusters and virtual hosts, its writer `Connection.write_out`
on a context whose write does nothing. Each round publishes every proxy's snapshot before or
after a change of every DestinationRule (the mesh-wide DestinationRule row's CDS + EDS pushes):
the server diffs and queues the responses (`_push_now`, as the pusher calls it), the writers
write them through the write window, and each is ACKed through the server's request path
(`_on_request`, the on-demand check). Printed: process CPU per response (push, write and ACK),
with collections off while timed. Compare trees with `PYTHONPATH=<tree>/src`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import tempfile
import time
from pathlib import Path
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from scale_mesh import Topology

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.model.node import DELTA_XDS_KEY
from pilotfish.xds.connection import Connection
from pilotfish.xds.resources import CLUSTER, ENDPOINT, LISTENER, Snapshot
from pilotfish.xds.server import XdsServer
from pilotfish.xds.stream import DeltaStream
from pilotfish.xds.write_window import WriteWindow


class _Sink:
    async def write(self, payload: bytes) -> None:
        return None


async def _answered(server: XdsServer, connections: list[Connection]) -> int:
    """Let the writers run, then ACK every response sent and not answered yet."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    acks = 0
    for connection in connections:
        for type_url, state in list(connection.stream.types.items()):
            if state.push_count > state.ack_count + state.nack_count:
                request = discovery_pb2.DeltaDiscoveryRequest(
                    type_url=type_url, response_nonce=state.sent_nonce
                )
                if (asked := server._on_demand.answer(connection, request)) is not None:
                    await asked
                server._on_request(connection, request)
                server._on_demand.release(connection, server._push_one)
                acks += 1
    await asyncio.sleep(0)
    return acks


async def run(args: argparse.Namespace) -> None:
    topo = Topology(args.services, args.proxies)
    cp = ControlPlane(Path(tempfile.mkdtemp()), on_demand_clusters=True, on_demand_routes=True)
    cp.load_state()
    assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
    cp.connected = lambda: list(cp.proxies)
    instances = topo.instances()
    cp.set_instances([instance_from_json(i.row()) for i in instances])
    server = XdsServer(cp.snapshot_for_node, cache=cp.cache, demand=cp.demand)
    window = WriteWindow()
    server._write_window = window
    params = list(inspect.signature(Connection.write_out).parameters)
    old_writer = len(params) > 4 and params[4] != "written"  # before 2026-12-02
    extra: tuple[Any, ...] = (server.metrics.push_time,) if old_writer else ()
    connections: list[Connection] = []
    writers: list[asyncio.Task[None]] = []
    names = topo.names
    for n, instance in enumerate(instances[: args.proxies]):
        metadata = instance.metadata(9000) | {DELTA_XDS_KEY: "true"}
        node = base_pb2.Node(id=instance.node_id)
        node.metadata.update(metadata)
        connection = Connection(DeltaStream(), time.time())
        server._register(connection, node)
        first = cp.snapshot_for_node(instance.node_id, metadata)
        assert first is not None
        cp.cache.set(instance.node_id, first)
        called = [names[(n + k) % len(names)] for k in (1, 7)]
        cp.demand(instance.node_id, tuple(topo.cluster(names.index(c)) for c in called))
        cp.demand_hosts(instance.node_id, tuple(f"http_proxy/{s}.{ns}:8080" for ns, s in called))
        for type_url in (CLUSTER, LISTENER):
            request = discovery_pb2.DeltaDiscoveryRequest(type_url=type_url)
            request.node.CopyFrom(node)
            server._on_request(connection, request)
        writer = connection.write_out(_Sink(), window, 30.0, *extra)
        writers.append(asyncio.create_task(writer))
        connections.append(connection)
    for _ in range(6):  # EDS of the clusters sent, everything ACKed
        for connection in connections:
            if ENDPOINT not in connection.stream.types:
                held = list(connection.stream.types[CLUSTER].client_versions)
                request = discovery_pb2.DeltaDiscoveryRequest(
                    type_url=ENDPOINT, resource_names_subscribe=held
                )
                server._on_request(connection, request)
        await _answered(server, connections)
    snapshots: list[dict[str, Snapshot | None]] = []
    for pending in (600, 601):
        assert cp.apply([("dr.yaml", topo.pooled_rules(pending))]).ok
        snapshots.append({c.node_id: cp.cache.get(c.node_id) for c in connections})
    gc.collect()
    gc.disable()
    acks = 0
    started = time.process_time()
    for round_ in range(args.rounds):
        for connection in connections:
            snapshot = snapshots[round_ % 2][connection.node_id]
            assert snapshot is not None
            cp.cache.set(connection.node_id, snapshot)  # pushed at once: no pusher started
        acks += await _answered(server, connections)
    cpu = time.process_time() - started
    gc.enable()
    for connection in connections:
        connection.outbox.put_nowait(None)
    await asyncio.gather(*writers)
    print(
        f"serving_python: {args.rounds} rounds x {len(connections)} proxies, {acks} responses "
        f"ACKed, {cpu:.3f} s CPU: {1e6 * cpu / max(acks, 1):.1f} us a response"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=32)
    parser.add_argument("--proxies", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=500)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
