"""ADS protocol state machines without I/O (like h11): `SotwStream` here, `DeltaStream` re-exported.

Feed a stream each `DiscoveryRequest` with `on_request(request, snapshot, now)`, and each new
snapshot with `push(snapshot, now)`; both return a `StreamOutput` (responses to send, events).

State-of-the-world rules implemented (each one a behaviour of Envoy's ADS client):
- the node is taken from the first message that carries one and kept for the stream;
- LDS/CDS with no names (or "*") are wildcard; RDS/EDS/SDS are subscribed by name;
- a request with a nonce that is not the last one sent for its type is stale and ignored;
- an ACK records the version; a NACK records error_detail and keeps the last good config (nothing
  is resent until the snapshot changes); a changed name list is answered at once;
- a request with no nonce (first request, or Envoy reconnecting with its old version) is answered
  with the current snapshot;
- only types whose content (for this stream's names) changed are pushed, in the order secrets,
  clusters, endpoints, listeners, routes; after ANY cluster push the endpoints of the subscribed
  clusters are re-sent even if unchanged, or Envoy leaves updated EDS clusters warming.
"""

from __future__ import annotations

from envoy.service.discovery.v3 import discovery_pb2

from pilotfish.xds.delta_stream import DeltaStream
from pilotfish.xds.messages import (
    WILDCARD,
    Event,
    Response,
    SotwResponse,
    StaleNonce,
    StreamOutput,
    Subscribe,
    Unsubscribe,
)
from pilotfish.xds.resources import CLUSTER, ENDPOINT, WILDCARD_TYPES, Snapshot
from pilotfish.xds.stream_state import StreamBase, SyncState, TypeState, interned

__all__ = ["DeltaStream", "SotwStream", "StreamBase", "SyncState"]


class SotwStream(StreamBase):
    """State of one state-of-the-world ADS stream (`StreamAggregatedResources`)."""

    delta = False

    def on_request(
        self,
        request: discovery_pb2.DiscoveryRequest,
        snapshot: Snapshot | None,
        now: float,
    ) -> StreamOutput:
        type_url = self._open_request(request)
        if not type_url:
            return StreamOutput()
        events: list[Event] = []
        names = frozenset(request.resource_names)
        state = self.types.get(type_url)
        if state is None:
            wildcard = type_url in WILDCARD_TYPES and (not names or WILDCARD in names)
            state = TypeState(
                type_url, wildcard, interned(names - {WILDCARD} if wildcard else names)
            )
            self.types[type_url] = state
            events.append(Subscribe(type_url, (WILDCARD,) if wildcard else tuple(sorted(names))))
            return self._answer(state, snapshot, now, events)
        if request.response_nonce:
            reply = self._record_reply(state, request, request.version_info, now)
            if isinstance(reply, StaleNonce):
                return StreamOutput(events=(reply,))
            events.append(reply)
            if not self._update_names(state, names, events):
                return StreamOutput(events=tuple(events))
        else:
            # No nonce on a known type: Envoy asks again from scratch; answer in full.
            self._update_names(state, names, events)
        return self._answer(state, snapshot, now, events)

    def push(self, snapshot: Snapshot, now: float) -> StreamOutput:
        """Responses for every subscribed type whose content changed for this stream."""
        responses: list[Response] = []
        cluster_pushed = False
        for type_url in self._types_in_push_order():
            state = self.types[type_url]
            version = snapshot.resources(type_url).view_version(state.scope)
            forced = type_url == ENDPOINT and cluster_pushed
            if version != state.sent_version or forced:
                responses.append(self._respond(state, snapshot, now))
                cluster_pushed = cluster_pushed or type_url == CLUSTER
        return StreamOutput(responses=tuple(responses))

    def _update_names(self, state: TypeState, names: frozenset[str], events: list[Event]) -> bool:
        """Apply the request's name list; True if the subscription changed."""
        if state.wildcard:
            return False  # wildcard stays wildcard on SotW (Envoy re-sends no names)
        if names == state.names:
            return False
        names = interned(names)
        added = names - state.names
        removed = state.names - names
        if added:
            events.append(Subscribe(state.type_url, tuple(sorted(added))))
        if removed:
            events.append(Unsubscribe(state.type_url, tuple(sorted(removed))))
        state.names = names
        return True

    def _answer(
        self, state: TypeState, snapshot: Snapshot | None, now: float, events: list[Event]
    ) -> StreamOutput:
        if snapshot is None:
            return StreamOutput(events=tuple(events))
        responses: list[Response] = [self._respond(state, snapshot, now)]
        endpoints = self.types.get(ENDPOINT)
        if state.type_url == CLUSTER and endpoints is not None and endpoints.sent_nonce:
            responses.append(self._respond(endpoints, snapshot, now))
        return StreamOutput(responses=tuple(responses), events=tuple(events))

    def _respond(self, state: TypeState, snapshot: Snapshot, now: float) -> SotwResponse:
        view = snapshot.resources(state.type_url).sotw_view(state.scope)
        nonce = self._next_nonce()
        state.record_sent(view.version, nonce, now)
        return SotwResponse(state.type_url, view.version, nonce, view.names, view.body)
