"""Per-stream, per-type bookkeeping shared by the SotW and delta state machines.

Owns: `TypeState` (subscription, last sent version/nonce, last ACKed version, last NACK, counts),
`StreamBase` (node from the first message, nonces, ACK/NACK/stale-nonce recording from a
request of either protocol, the push order of subscribed types, status, and the
"is this stream in sync with that snapshot" check used by `XdsServer.wait_acked`). Pure, no I/O:
the caller passes the time in.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeAlias

from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.rpc import status_pb2

from pilotfish.xds.messages import (
    WILDCARD,
    Ack,
    Nack,
    NackRecord,
    StaleNonce,
    TypeSyncStatus,
)
from pilotfish.xds.resources import Snapshot, TypeResources, push_rank

AnyRequest: TypeAlias = discovery_pb2.DiscoveryRequest | discovery_pb2.DeltaDiscoveryRequest


def interned(names: Iterable[str]) -> frozenset[str]:
    """Subscribed names as one string object per name for every stream (`sys.intern`): each
    request brings its own copies, thousands per stream for a big mesh's endpoints."""
    return frozenset(map(sys.intern, names))


@dataclass
class TypeState:
    """Mutable state of one type on one stream."""

    type_url: str
    wildcard: bool
    names: frozenset[str] = frozenset()
    sent_version: str = ""
    sent_nonce: str = ""
    sent_time: float = 0.0
    acked_version: str = ""
    last_nack: NackRecord | None = None
    push_count: int = 0
    ack_count: int = 0
    nack_count: int = 0
    last_ack_time: float | None = None
    client_versions: dict[str, str] = field(default_factory=dict)
    """Delta only: resource name → version the client holds (as far as we know)."""
    diffed_version: str = ""
    """Delta only: type version of the snapshot last diffed against (fast path)."""
    diffed: TypeResources | None = None
    """Delta only: the resources last diffed against, while `client_versions` is exactly what
    they hold of the subscribed names (a diff from them is then the same for every stream)."""

    @property
    def scope(self) -> frozenset[str] | None:
        """Subscribed names, or None for a wildcard subscription."""
        return None if self.wildcard else self.names

    def status(self) -> TypeSyncStatus:
        subscribed = tuple(sorted(self.names))
        if self.wildcard:
            subscribed = (WILDCARD, *subscribed)
        return TypeSyncStatus(
            type_url=self.type_url,
            subscribed=subscribed,
            sent_version=self.sent_version,
            sent_nonce=self.sent_nonce,
            acked_version=self.acked_version,
            last_nack=self.last_nack,
            push_count=self.push_count,
            ack_count=self.ack_count,
            nack_count=self.nack_count,
            last_ack_time=self.last_ack_time,
            last_send_time=self.sent_time or None,
        )

    def record_sent(self, version: str, nonce: str, now: float) -> None:
        self.sent_version = version
        self.sent_nonce = nonce
        self.sent_time = now
        self.push_count += 1

    def record_ack(self, version: str, now: float) -> Ack:
        self.acked_version = version
        self.ack_count += 1
        self.last_ack_time = now
        return Ack(self.type_url, version, self.sent_nonce, max(0.0, now - self.sent_time))

    def record_nack(self, error: status_pb2.Status, now: float) -> Nack:
        self.nack_count += 1
        self.last_nack = NackRecord(self.sent_version, self.sent_nonce, error.message, now)
        return Nack(self.type_url, self.sent_version, self.sent_nonce, error.message, error.code)


class SyncState(enum.Enum):
    ACKED = "acked"
    NACKED = "nacked"
    PENDING = "pending"


class StreamBase:
    """What both protocol variants keep: the node, per-type state, a nonce counter."""

    delta = False

    def __init__(self) -> None:
        self.node: base_pb2.Node | None = None
        self.types: dict[str, TypeState] = {}
        self._push_order: list[str] = []
        self._nonce_counter = 0

    @property
    def node_id(self) -> str:
        return self.node.id if self.node is not None else ""

    def _open_request(self, request: AnyRequest) -> str:
        """Keep the node from the first message that has one (Envoy may send it only once);
        the request's type URL ("" for a request to ignore)."""
        if self.node is None and request.HasField("node"):
            kept = base_pb2.Node()
            kept.CopyFrom(request.node)
            self.node = kept
        type_url: str = request.type_url
        return type_url

    def on_demand_names(self, request: AnyRequest) -> tuple[str, ...]:
        """Cluster names a request asks for on top of a wildcard CDS subscription (Envoy's
        on-demand CDS); none on a state-of-the-world stream, where Envoy's reconnect does not
        tell them from a named subscription (`DeltaStream` overrides this)."""
        return ()

    def _types_in_push_order(self) -> list[str]:
        """Sorted again only when a type was added (types are never removed): every push."""
        if len(self._push_order) != len(self.types):
            self._push_order = sorted(self.types, key=push_rank)
        return self._push_order

    @staticmethod
    def _record_reply(
        state: TypeState, request: AnyRequest, version: str, now: float
    ) -> Ack | Nack | StaleNonce:
        """The ACK (of `version`) or NACK a request with a nonce carries; stale if the nonce is
        not the last one sent for its type (then nothing is recorded)."""
        if request.response_nonce != state.sent_nonce:
            return StaleNonce(state.type_url, request.response_nonce)
        if request.HasField("error_detail"):
            return state.record_nack(request.error_detail, now)
        return state.record_ack(version, now)

    def _next_nonce(self) -> str:
        self._nonce_counter += 1
        return str(self._nonce_counter)

    def status(self) -> tuple[TypeSyncStatus, ...]:
        return tuple(self.types[t].status() for t in sorted(self.types))

    def acked(self, snapshot: Snapshot) -> bool:
        """`sync_state(snapshot)` is ACKED: the same test, stopping at the first type not
        ACKed."""
        return self._reached(snapshot, acked=True)

    def sent(self, snapshot: Snapshot) -> bool:
        """Every type of `snapshot` this stream needs has been pushed to it (queued: whether
        it is written yet is the connection's to say), ACKed or not."""
        return self._reached(snapshot, acked=False)

    def _reached(self, snapshot: Snapshot, acked: bool) -> bool:
        for state in self.types.values():
            resources = snapshot.resources(state.type_url)
            if not state.wildcard and not resources.by_name:
                continue
            held = state.acked_version if acked else state.sent_version
            if held != resources.view_version(state.scope):
                return False
        return snapshot.types_with_resources() <= self.types.keys()

    def sync_state(self, snapshot: Snapshot) -> tuple[SyncState, str]:
        """Whether this stream has ACKed every type of `snapshot` it needs (types with resources,
        and every type it subscribes to). NACKED (with Envoy's message) wins over PENDING. A
        type subscribed by name (EDS, RDS) of which the snapshot has nothing needs nothing: the
        resources that named them are gone, Envoy dropped its last watch with them and answers
        no more versions of it (measured: the empty EDS response is never ACKed)."""
        needed = set(snapshot.type_urls()) | set(self.types)
        pending = False
        for type_url in sorted(needed):
            state = self.types.get(type_url)
            if state is None:
                pending = True
                continue
            resources = snapshot.resources(type_url)
            if not state.wildcard and not resources.by_name:
                continue
            expected = resources.view_version(state.scope)
            if state.acked_version == expected:
                continue
            if state.last_nack is not None and state.last_nack.version == expected:
                return SyncState.NACKED, state.last_nack.error_message
            pending = True
        return (SyncState.PENDING, "") if pending else (SyncState.ACKED, "")
