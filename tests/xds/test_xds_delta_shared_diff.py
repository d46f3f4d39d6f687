"""A delta push computes what changed between two versions of a type once for every stream
(`TypeResources.changes_since`) and narrows it to each stream's names: over a seeded random
sequence of snapshots (endpoints and clusters changed, added and removed) and subscription
changes, a stream on that path must send exactly what a stream that compares every name it
holds sends (the same resources, bytes, removals and versions), for wildcard CDS and EDS by
name."""

from __future__ import annotations

import random

from envoy.service.discovery.v3 import discovery_pb2
from tests.xds.xds_testlib import delta_request, eds_cluster, endpoints

from pilotfish.xds.delta_stream import DeltaStream
from pilotfish.xds.messages import DeltaResponse, StreamOutput
from pilotfish.xds.resources import CLUSTER, ENDPOINT, Snapshot

NAMES = [f"c{i}" for i in range(12)]


def _snapshot(rng: random.Random, clusters: dict[str, int]) -> Snapshot:
    """Clusters as given (name -> connect timeout); endpoints for most of them, random."""
    named = [n for n in clusters if rng.random() < 0.8]
    return Snapshot(
        {
            CLUSTER: {n: eds_cluster(n, timeout) for n, timeout in clusters.items()},
            ENDPOINT: {n: endpoints(n, ("127.0.0.1", 8000 + rng.randrange(3))) for n in named},
        }
    )


def _clusters(rng: random.Random) -> dict[str, int]:
    return {n: 250 + rng.randrange(2) for n in NAMES if rng.random() < 0.8}


def _sent(output: StreamOutput) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...], bytes]]:
    found = []
    for response in output.responses:
        assert isinstance(response, DeltaResponse)
        message = discovery_pb2.DeltaDiscoveryResponse.FromString(response.to_bytes())
        found.append(
            (
                response.type_url,
                response.version,
                tuple(r.name for r in message.resources),
                tuple(message.removed_resources),
                b"".join(r.SerializeToString(deterministic=True) for r in message.resources),
            )
        )
    return found


def _ack(stream: DeltaStream, output: StreamOutput, snapshot: Snapshot) -> StreamOutput:
    for response in output.responses:
        stream.on_request(delta_request(response.type_url, nonce=response.nonce), snapshot, 0.0)
    return output


def test_the_shared_diff_sends_what_comparing_every_name_sends() -> None:
    rng = random.Random(11)
    shared, compared = DeltaStream(), DeltaStream()
    clusters = _clusters(rng)
    snapshot = _snapshot(rng, clusters)
    subscribed = set(rng.sample(NAMES, 6))
    for stream in (shared, compared):
        first = [
            stream.on_request(delta_request(CLUSTER, node_id="n"), snapshot, 0.0),
            stream.on_request(delta_request(ENDPOINT, sorted(subscribed)), snapshot, 0.0),
        ]
        for output in first:
            _ack(stream, output, snapshot)
    took_shared_path = 0
    for step in range(80):
        if step % 7 == 3:  # the subscription changes: both streams diff name by name
            add = set(rng.sample(NAMES, 2)) - subscribed
            drop = set(rng.sample(sorted(subscribed), 1)) if subscribed else set()
            subscribed = (subscribed | add) - drop
            request = delta_request(ENDPOINT, sorted(add), sorted(drop))
            outputs = [s.on_request(request, snapshot, 0.0) for s in (shared, compared)]
        else:
            if rng.random() < 0.3:  # clusters too (then EDS is diffed name by name, and re-sent)
                clusters = _clusters(rng)
            snapshot = _snapshot(rng, clusters)
            for state in compared.types.values():
                state.diffed = None  # no shared diff: compare every name it holds
            took_shared_path += sum(
                s.diffed is not None and s.diffed_version == s.diffed.version
                for s in shared.types.values()
            )
            outputs = [s.push(snapshot, 0.0) for s in (shared, compared)]
        assert _sent(outputs[0]) == _sent(outputs[1]), f"step {step}"
        _ack(shared, outputs[0], snapshot)
        _ack(compared, outputs[1], snapshot)
    assert took_shared_path > 60, "the shared diff was hardly used"
