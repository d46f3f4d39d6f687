"""What the ADS state machines hand back: responses to send, protocol events, sync status records.

Owns: `SotwResponse` / `DeltaResponse` (assembled from a snapshot's pre-encoded wire fragments;
`to_bytes()` is what goes on the wire, `to_message()` parses it for tests and tools), the events
(`Ack`, `Nack`, `Subscribe`, `Unsubscribe`, `StaleNonce`), `NackRecord` and the frozen
`TypeSyncStatus` / `ProxySyncStatus` / `ConvergenceReport` reported by the server. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from envoy.service.discovery.v3 import discovery_pb2

from pilotfish.wire import encode_field

WILDCARD = "*"


@dataclass(frozen=True)
class _ResponseHead:
    """What both response kinds carry; `_layout` lays out the wire fields they share.
    A response holds references to encoded resources shared by every stream; its wire bytes
    (a copy per stream) are made by `to_bytes()` only when it is written. Its pieces and size
    are worked out once (a queued response is sized when queued and when written)."""

    type_url: str
    version: str
    nonce: str
    resource_names: tuple[str, ...]

    def _body(self) -> Sequence[bytes]:
        raise NotImplementedError

    def _trailer(self) -> bytes:
        return b""

    def _layout(self) -> tuple[tuple[bytes, ...], int]:
        """(pieces, their length), worked out on first use: version_info (1), the resources
        (2), type_url (4), nonce (5), then the trailer. Kept in the instance's `__dict__` by
        hand (`functools.cached_property` takes a lock on Python 3.11: twice a response)."""
        found: tuple[tuple[bytes, ...], int] | None = self.__dict__.get("_laid_out")
        if found is None:
            version = encode_field(1, self.version.encode())
            after = encode_field(4, self.type_url.encode()) + encode_field(5, self.nonce.encode())
            pieces = (version, *self._body(), after, self._trailer())
            found = (pieces, sum(map(len, pieces)))
            self.__dict__["_laid_out"] = found  # frozen: not through __setattr__
        return found

    def to_bytes(self) -> bytes:
        """One join: the body (megabytes for a big mesh's CDS) is copied once."""
        return b"".join(self._layout()[0])

    def size(self) -> int:
        """Length of `to_bytes()`, without making it."""
        return self._layout()[1]


@dataclass(frozen=True)
class SotwResponse(_ResponseHead):
    """A state-of-the-world `DiscoveryResponse` for one type."""

    body: bytes = field(repr=False)
    """Encoded `resources` entries, shared between streams."""

    def _body(self) -> Sequence[bytes]:
        return (self.body,)

    def to_message(self) -> discovery_pb2.DiscoveryResponse:
        return discovery_pb2.DiscoveryResponse.FromString(self.to_bytes())


@dataclass(frozen=True)
class DeltaResponse(_ResponseHead):
    """An incremental `DeltaDiscoveryResponse` for one type: changed resources and removals."""

    removed: tuple[str, ...]
    entries: tuple[tuple[bytes, ...], ...] = field(repr=False)
    """Encoded `resources` entries, each as its pieces (`EncodedResource.delta_pieces`: the
    resource's bytes are shared between streams), joined only when written."""

    def _trailer(self) -> bytes:
        return b"".join(encode_field(6, name.encode()) for name in self.removed)

    def _body(self) -> Sequence[bytes]:
        return [piece for entry in self.entries for piece in entry]

    def to_message(self) -> discovery_pb2.DeltaDiscoveryResponse:
        return discovery_pb2.DeltaDiscoveryResponse.FromString(self.to_bytes())


Response = SotwResponse | DeltaResponse


@dataclass(frozen=True)
class Ack:
    type_url: str
    version: str
    nonce: str
    latency: float | None
    """Seconds from sending the response to this ACK."""


@dataclass(frozen=True)
class Nack:
    type_url: str
    version: str
    """The version Envoy rejected (the one last sent)."""
    nonce: str
    error_message: str
    error_code: int


@dataclass(frozen=True)
class Subscribe:
    type_url: str
    names: tuple[str, ...]
    """Newly subscribed names; `("*",)` for a wildcard subscription."""


@dataclass(frozen=True)
class Unsubscribe:
    type_url: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class StaleNonce:
    """A request answering a response that is not the last one sent: ignored."""

    type_url: str
    nonce: str


Event = Ack | Nack | Subscribe | Unsubscribe | StaleNonce


@dataclass(frozen=True)
class StreamOutput:
    """Result of feeding one request (or one snapshot push) to a stream state machine."""

    responses: tuple[Response, ...] = ()
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class NackRecord:
    version: str
    nonce: str
    error_message: str
    time: float


@dataclass(frozen=True)
class TypeSyncStatus:
    """Sync state of one type on one stream (what `pilotfish proxy-status` shows). Times are
    whatever the caller passed as `now`: wall-clock `time.time()` when run by `XdsServer`."""

    type_url: str
    subscribed: tuple[str, ...]
    sent_version: str
    sent_nonce: str
    acked_version: str
    last_nack: NackRecord | None
    push_count: int
    ack_count: int
    nack_count: int
    last_ack_time: float | None
    last_send_time: float | None = None
    """When the latest response of this type was sent (Istio's WatchedResource.LastSendTime,
    the age `proxy-status -v 1` prints)."""


@dataclass(frozen=True)
class ProxySyncStatus:
    node_id: str
    connected_since: float
    """Wall-clock (time.time()) start of the oldest open stream."""
    streams: int
    delta: bool
    types: tuple[TypeSyncStatus, ...]


@dataclass(frozen=True)
class ConvergenceReport:
    """Outcome of `XdsServer.wait_acked`."""

    acked: tuple[str, ...]
    nacked: dict[str, str]
    """node id → Envoy's error_detail message."""
    missing: tuple[str, ...]
    """Nodes that did not answer (not connected, or no ACK/NACK before the timeout)."""
    elapsed: float

    @property
    def converged(self) -> bool:
        return not self.nacked and not self.missing


def type_state(t: dict[str, Any] | None, latest: str | None) -> str:
    """One xDS type of a proxy as `proxy-status` says it (`t` is a `TypeSyncStatus` as JSON):
    SYNCED, STALE (sent, not ACKed, or not the latest), NACKED or NOT SENT."""
    if t is None or not t.get("sent_version"):
        return "NOT SENT"
    if t["acked_version"] == t["sent_version"]:
        return "SYNCED" if latest in (None, t["sent_version"]) else "STALE"
    nack = t.get("last_nack")
    if nack and nack.get("nonce") == t.get("sent_nonce"):
        return "NACKED"
    return "STALE"
