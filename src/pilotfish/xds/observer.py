"""What the xDS server tells the rest of the control plane about its streams: who may open one,
who connected and left, and the health a proxy's agent reports (Istio's
`istio.v1.HealthInformation` requests, which are not resource subscriptions); and what it asks
of the control plane (`SnapshotGenerator`, `Demand`, `DemandHosts`).

`StreamObserver` is a protocol so this package imports nothing above it: the credential a stream
carries is opaque here (the control plane's observer gives it its meaning). `NO_OBSERVER` admits
every stream and ignores events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pilotfish.xds.resources import Snapshot

SnapshotGenerator = Callable[[str, dict[str, Any]], Snapshot | None]
"""(node id, node metadata as a dict) → the node's first snapshot, or None (wait for one).
Called in the server's generation thread (one node at a time), never on the event loop."""
Demand = Callable[[str, tuple[str, ...]], Snapshot | None]
"""(node id, cluster names its Envoy asked for on demand) → its snapshot holding them if they
exist. Called in the generation thread, before the request is answered."""
DemandHosts = Callable[[str, tuple[str, ...]], dict[str, str]]
"""(node id, VHDS names its Envoy asked for on demand, `http_proxy/<host>`) → the name of the
virtual host answering each ("" for none), published in the node's snapshot first. Called in
the generation thread, before the request is answered."""


class Refused(Exception):
    """`admit` refuses a stream (it ends with UNAUTHENTICATED and this message)."""


class StreamObserver(Protocol):
    def admit(self, metadata: Sequence[tuple[str, Any]], secure: bool) -> object:
        """The credential of a new stream from its call metadata (`secure`: it came over TLS).
        Raises `Refused` to end the stream."""

    def connected(self, node_id: str, metadata: dict[str, Any], credential: object) -> None:
        """A stream of `node_id` sent its first request."""

    def disconnected(self, node_id: str, credential: object) -> None:
        """One stream of `node_id` (that had connected) closed."""

    def health(self, node_id: str, healthy: bool, message: str) -> None:
        """The node's agent reports its workload's health."""


class _Nobody:
    def admit(self, metadata: Sequence[tuple[str, Any]], secure: bool) -> object:
        return None

    def connected(self, node_id: str, metadata: dict[str, Any], credential: object) -> None:
        return None

    def disconnected(self, node_id: str, credential: object) -> None:
        return None

    def health(self, node_id: str, healthy: bool, message: str) -> None:
        return None


NO_OBSERVER: StreamObserver = _Nobody()
