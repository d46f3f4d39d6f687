"""What the xDS server tells the rest of the control plane about its streams: who may open one,
who connected and left, and the health a proxy's agent reports (Istio's
`istio.v1.HealthInformation` requests, which are not resource subscriptions).

`StreamObserver` is a protocol so this package imports nothing above it: the credential a stream
carries is opaque here (the control plane's observer gives it its meaning). `NO_OBSERVER` admits
every stream and ignores events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


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
