"""Incremental (delta) ADS state machine without I/O: `DeltaStream`.

Feed it each `DeltaDiscoveryRequest` with `on_request(request, snapshot, now)` and each new
snapshot with `push(snapshot, now)`; both return a `StreamOutput`.

Rules implemented:
- node from the first message, kept for the stream;
- the first request of a type opens it: no names on LDS/CDS (or "*") is wildcard; its
  `initial_resource_versions` (Envoy reconnecting) say what the client already holds, so only
  differences are sent; the first request is always answered, even with nothing, so Envoy's
  initialisation does not wait for a timeout;
- subscribe/unsubscribe are applied from every request; newly subscribed names are answered at
  once, and names the snapshot lacks are reported in `removed_resources` (does not exist);
- ACK/NACK bookkeeping only for the last sent nonce (older nonces: `StaleNonce`, ignored);
  a NACK records error_detail and nothing is resent until the snapshot changes;
- a push sends only resources whose version differs from what the client holds, and removals;
- after a cluster push, the endpoint versions of the pushed clusters are forgotten and the
  endpoints re-sent (Envoy sends no new request for them, and a re-added cluster would
  otherwise stay warming until its endpoints arrive);
- VHDS (`VirtualHost`) is wildcard over the node's virtual hosts (Envoy's first VHDS request
  names none; a name without `/`, the route configuration's, changes nothing); every name it
  then asks for on demand
  (`http_proxy/<host>`, `on_demand_names`) is answered in the reply to that request, with the
  virtual host the control plane resolved it to (`aliases`, set by the server) carrying the
  name as an alias, even if the client holds it already (Envoy replays a paused request only
  when its alias comes back), or with no body when nothing answers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from envoy.service.discovery.v3 import discovery_pb2

from pilotfish.xds.encoding import EncodedResource, aliased_entry
from pilotfish.xds.messages import (
    WILDCARD,
    DeltaResponse,
    Event,
    Response,
    StreamOutput,
    Subscribe,
    Unsubscribe,
)
from pilotfish.xds.resources import (
    CLUSTER,
    ENDPOINT,
    VIRTUAL_HOST,
    WILDCARD_TYPES,
    Snapshot,
)
from pilotfish.xds.stream_state import AnyRequest, StreamBase, TypeState, interned


def _name(resource: EncodedResource) -> str:
    return resource.name


class DeltaStream(StreamBase):
    """State of one incremental ADS stream (`DeltaAggregatedResources`)."""

    delta = True

    def __init__(self) -> None:
        super().__init__()
        self.aliases: dict[str, str] = {}
        """VHDS name asked -> the virtual host answering it ("" for none): the server sets it
        (`XdsServer._on_demand`) before the request is handled."""

    def on_request(
        self,
        request: discovery_pb2.DeltaDiscoveryRequest,
        snapshot: Snapshot | None,
        now: float,
    ) -> StreamOutput:
        type_url = self._open_request(request)
        if not type_url:
            return StreamOutput()
        events: list[Event] = []
        subscribe = list(request.resource_names_subscribe)
        state = self.types.get(type_url)
        first = state is None
        if state is None:
            wildcard = (type_url in WILDCARD_TYPES and not subscribe) or type_url == VIRTUAL_HOST
            state = TypeState(type_url, wildcard)
            state.client_versions = dict(request.initial_resource_versions)
            self.types[type_url] = state
            if wildcard:
                events.append(Subscribe(type_url, (WILDCARD,)))
        elif request.response_nonce:
            events.append(self._record_reply(state, request, state.sent_version, now))
        added, changed = self._apply_subscription(
            state, subscribe, request.resource_names_unsubscribe, events
        )
        asked = self._vhds_names(type_url, subscribe)
        if snapshot is None or not (first or changed or asked):
            return StreamOutput(events=tuple(events))
        missing = frozenset() if type_url == VIRTUAL_HOST else added
        response = self._diff(
            state, snapshot, now, always=first or bool(asked), report_missing=missing
        )
        if response is not None and asked:
            response = self._with_aliases(response, asked, snapshot.resources(type_url).by_name)
        return StreamOutput(responses=(response,) if response else (), events=tuple(events))

    @staticmethod
    def _vhds_names(type_url: str, subscribe: list[str]) -> tuple[str, ...]:
        """The VHDS names a request asks for on demand (`<route config>/<host>`): not the
        route configuration's own name, which subscribes to all of its virtual hosts."""
        if type_url != VIRTUAL_HOST:
            return ()
        return tuple(n for n in dict.fromkeys(subscribe) if "/" in n)

    def _with_aliases(
        self,
        response: DeltaResponse,
        asked: tuple[str, ...],
        present: Mapping[str, EncodedResource],
    ) -> DeltaResponse:
        """`response` answering each asked VHDS name: the virtual host resolved for it with the
        name as an alias (added if the response lacked it), else a body-less resource."""
        by_answer: dict[str, list[str]] = {}
        for alias in asked:
            answer = self.aliases.get(alias, "")
            by_answer.setdefault(answer if answer in present else "", []).append(alias)
        names = list(response.resource_names)
        entries = list(response.entries)
        for answer, aliases in by_answer.items():
            if not answer:
                continue
            if answer in names:
                index = names.index(answer)
                entries[index] = aliased_entry(answer, aliases, present[answer])
            else:
                names.append(answer)
                entries.append(aliased_entry(answer, aliases, present[answer]))
        for alias in by_answer.get("", ()):
            if alias not in names:
                names.append(alias)
                entries.append(aliased_entry(alias, (alias,), None))
        return replace(response, resource_names=tuple(names), entries=tuple(entries))

    def on_demand_names(self, request: AnyRequest) -> tuple[str, ...]:
        """Names a CDS request subscribes while the stream's CDS is (or this request makes it)
        wildcard: Envoy's on-demand CDS over ADS asks for a cluster by its plain name this way,
        and its reconnect sends `*` with them. For VHDS, the virtual hosts asked by Host."""
        if request.type_url == VIRTUAL_HOST and isinstance(
            request, discovery_pb2.DeltaDiscoveryRequest
        ):
            return self._vhds_names(VIRTUAL_HOST, list(request.resource_names_subscribe))
        if request.type_url != CLUSTER or not isinstance(
            request, discovery_pb2.DeltaDiscoveryRequest
        ):
            return ()
        subscribe = list(request.resource_names_subscribe)
        state = self.types.get(CLUSTER)
        wildcard = WILDCARD in subscribe or (state.wildcard if state is not None else False)
        return tuple(n for n in subscribe if n != WILDCARD) if wildcard else ()

    def push(self, snapshot: Snapshot, now: float) -> StreamOutput:
        """Changed and removed resources of every subscribed type, in push order."""
        responses: list[Response] = []
        pushed_clusters: tuple[str, ...] = ()
        for type_url in self._types_in_push_order():
            state = self.types[type_url]
            if type_url == ENDPOINT and pushed_clusters:
                for name in pushed_clusters:
                    state.client_versions.pop(name, None)
                state.diffed_version = ""
            if snapshot.resources(type_url).version == state.diffed_version:
                continue
            response = self._diff(state, snapshot, now, always=False, report_missing=())
            if response is not None:
                responses.append(response)
                if type_url == CLUSTER:
                    pushed_clusters = response.resource_names
        return StreamOutput(responses=tuple(responses))

    @staticmethod
    def _apply_subscription(
        state: TypeState,
        subscribe: list[str],
        unsubscribe: list[str],
        events: list[Event],
    ) -> tuple[frozenset[str], bool]:
        """Apply subscribe/unsubscribe; returns (newly added names, whether anything changed)."""
        added = interned(n for n in subscribe if n != WILDCARD and n not in state.names)
        removed = {n for n in unsubscribe if n != WILDCARD and n in state.names}
        changed = bool(added or removed)
        if WILDCARD in subscribe and not state.wildcard:
            state.wildcard = changed = True
            events.append(Subscribe(state.type_url, (WILDCARD,)))
        if WILDCARD in unsubscribe and state.wildcard:
            state.wildcard = False
            changed = True
            events.append(Unsubscribe(state.type_url, (WILDCARD,)))
        if added:
            events.append(Subscribe(state.type_url, tuple(sorted(added))))
        if removed:
            events.append(Unsubscribe(state.type_url, tuple(sorted(removed))))
            for name in removed:
                state.client_versions.pop(name, None)
        state.names = (state.names | added) - removed
        if changed:
            state.diffed_version = ""
        return frozenset(added), changed

    def _diff(
        self,
        state: TypeState,
        snapshot: Snapshot,
        now: float,
        always: bool,
        report_missing: frozenset[str] | tuple[str, ...],
    ) -> DeltaResponse | None:
        """Build the response bringing the client from `client_versions` to the snapshot."""
        resources = snapshot.resources(state.type_url)
        by_name = resources.by_name
        held = state.client_versions
        changed: list[EncodedResource] = []
        removed: list[str] = []
        previous = state.diffed
        if (
            previous is not None
            and state.diffed_version == previous.version
            and not (always or report_missing)
        ):
            # the client holds what `previous` has of its names: the shared diff, narrowed
            diff = resources.changes_since(previous)
            if state.wildcard:
                changed, removed = list(diff.changed), list(diff.removed)
            else:
                names = state.names
                changed = sorted((r for r in diff.changed if r.name in names), key=_name)
                removed = [n for n in diff.removed if n in names]
        elif state.wildcard:
            changed = [r for name, r in by_name.items() if held.get(name) != r.version]
            removed = sorted(name for name in held if name not in by_name)
            # named on top of the wildcard (on-demand) and not there: say so, or Envoy waits
            removed += sorted(n for n in report_missing if n not in by_name and n not in held)
        else:
            for name in sorted(state.names):
                found = by_name.get(name)
                if found is None:
                    if name in held or name in report_missing:
                        removed.append(name)
                elif held.get(name) != found.version:
                    changed.append(found)
            for name in [n for n in held if n not in state.names]:
                del held[name]  # held but not subscribed: Envoy does not want it
        state.diffed_version = resources.version
        state.diffed = resources
        version = resources.view_version(state.scope)
        if not changed and not removed and not always:
            # Already holds exactly this content: in sync without sending anything.
            if state.sent_version == state.acked_version:
                state.acked_version = version
            state.sent_version = version
            return None
        for resource in changed:
            held[resource.name] = resource.version
        for name in removed:
            held.pop(name, None)
        nonce = self._next_nonce()
        state.record_sent(version, nonce, now)
        return DeltaResponse(
            type_url=state.type_url,
            version=version,
            nonce=nonce,
            resource_names=tuple(r.name for r in changed),
            removed=tuple(removed),
            entries=tuple(r.delta_pieces for r in changed),
        )
