"""SotwStream without sockets: ACK/NACK, stale nonces, reconnect, subscriptions, EDS after CDS."""

from __future__ import annotations

from tests.xds.xds_testlib import (
    BACKEND,
    LISTEN,
    OTHER_BACKEND,
    endpoints,
    every_type_changed,
    listener,
    mesh_snapshot,
    only_response,
    route_direct,
    route_to_cluster,
    sotw_request,
    sync_subscriptions,
)

from pilotfish.xds.messages import (
    Ack,
    Nack,
    SotwResponse,
    StaleNonce,
    StreamOutput,
    Subscribe,
    Unsubscribe,
)
from pilotfish.xds.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, Snapshot
from pilotfish.xds.stream import SotwStream, SyncState


def only(output: StreamOutput) -> SotwResponse:
    return only_response(output, SotwResponse)


def synced_stream() -> tuple[SotwStream, dict[str, SotwResponse]]:
    """A stream that has requested and ACKed CDS, EDS, LDS, RDS of the base snapshot."""
    snapshot = mesh_snapshot(LISTEN, BACKEND)
    stream = SotwStream()
    last: dict[str, SotwResponse] = {}
    first = True
    for type_url, names in sync_subscriptions(["backend"]):
        node = "sidecar~1" if first else ""
        first = False
        response = only(
            stream.on_request(sotw_request(type_url, names, node_id=node), snapshot, 1.0)
        )
        ack = stream.on_request(
            sotw_request(type_url, names, response.version, response.nonce), snapshot, 2.0
        )
        assert ack.responses == ()
        last[type_url] = response
    return stream, last


def test_first_request_gets_the_full_type_and_the_node_is_kept() -> None:
    snapshot = mesh_snapshot(LISTEN, BACKEND, clusters=3)
    stream = SotwStream()
    output = stream.on_request(sotw_request(CLUSTER, node_id="sidecar~a"), snapshot, 0.0)
    response = only(output)
    assert response.resource_names == ("backend", "backend-1", "backend-2")
    assert response.version == snapshot.version_of(CLUSTER)
    assert output.events == (Subscribe(CLUSTER, ("*",)),)
    message = response.to_message()
    assert len(message.resources) == 3 and message.nonce == response.nonce
    # Later requests carry no node: the first one is kept.
    stream.on_request(sotw_request(LISTENER), snapshot, 0.0)
    assert stream.node_id == "sidecar~a"


def test_ack_records_version_and_sends_nothing() -> None:
    stream, last = synced_stream()
    status = {s.type_url: s for s in stream.status()}
    assert status[ROUTE].acked_version == last[ROUTE].version
    assert status[ROUTE].ack_count == 1 and status[ROUTE].nack_count == 0
    assert stream.sync_state(mesh_snapshot(LISTEN, BACKEND)) == (SyncState.ACKED, "")


def test_nack_keeps_last_good_and_records_error_detail() -> None:
    stream, last = synced_stream()
    bad = mesh_snapshot(LISTEN, BACKEND, route=route_direct("local", "bad"))
    pushed = only(stream.push(bad, 3.0))
    assert pushed.type_url == ROUTE
    nack = stream.on_request(
        sotw_request(ROUTE, ["local"], last[ROUTE].version, pushed.nonce, error="bad route"),
        bad,
        4.0,
    )
    assert nack.responses == ()
    assert nack.events == (Nack(ROUTE, pushed.version, pushed.nonce, "bad route", 3),)
    route_status = {s.type_url: s for s in stream.status()}[ROUTE]
    assert route_status.acked_version == last[ROUTE].version  # last good stays
    assert route_status.last_nack is not None
    assert route_status.last_nack.error_message == "bad route"
    assert route_status.last_nack.version == pushed.version
    assert route_status.nack_count == 1
    assert stream.sync_state(bad) == (SyncState.NACKED, "bad route")
    # The same (rejected) snapshot again is not re-sent; a fixed one is.
    assert stream.push(bad, 5.0).responses == ()
    fixed = mesh_snapshot(LISTEN, BACKEND, route=route_direct("local", "good"))
    assert only(stream.push(fixed, 6.0)).type_url == ROUTE


def test_stale_nonce_is_ignored() -> None:
    stream, last = synced_stream()
    changed = mesh_snapshot(LISTEN, BACKEND, route=route_direct("local", "one"))
    first = only(stream.push(changed, 3.0))
    again = mesh_snapshot(LISTEN, BACKEND, route=route_direct("local", "two"))
    second = only(stream.push(again, 3.1))
    # Envoy ACKs the first push after the second was sent: stale, no ACK recorded.
    output = stream.on_request(
        sotw_request(ROUTE, ["local"], first.version, first.nonce), again, 3.2
    )
    assert output == StreamOutput(events=(StaleNonce(ROUTE, first.nonce),))
    assert {s.type_url: s for s in stream.status()}[ROUTE].acked_version == last[ROUTE].version
    ack = stream.on_request(
        sotw_request(ROUTE, ["local"], second.version, second.nonce), again, 3.5
    )
    assert ack.events == (Ack(ROUTE, second.version, second.nonce, 3.5 - 3.1),)


def test_reconnect_with_old_version_and_no_nonce_gets_current_snapshot() -> None:
    _, last = synced_stream()
    current = mesh_snapshot(LISTEN, OTHER_BACKEND)
    fresh = SotwStream()
    output = fresh.on_request(
        sotw_request(ENDPOINT, ["backend"], version=last[ENDPOINT].version, node_id="sidecar~1"),
        current,
        9.0,
    )
    response = only(output)
    assert response.version == current.resources(ENDPOINT).view_version(frozenset({"backend"}))
    assert response.version != last[ENDPOINT].version
    # Even an unchanged snapshot is answered on a new stream (it has no nonce to ACK yet).
    again = SotwStream().on_request(
        sotw_request(ROUTE, ["local"], version=last[ROUTE].version), current, 9.0
    )
    assert only(again).version == last[ROUTE].version


def test_named_subscribe_and_unsubscribe() -> None:
    snapshot = mesh_snapshot(LISTEN, BACKEND, clusters=3)
    stream = SotwStream()
    first = only(stream.on_request(sotw_request(ENDPOINT, ["backend"]), snapshot, 0.0))
    assert first.resource_names == ("backend",)
    grown = stream.on_request(
        sotw_request(ENDPOINT, ["backend", "backend-2"], first.version, first.nonce), snapshot, 0.1
    )
    assert only(grown).resource_names == ("backend", "backend-2")
    assert Subscribe(ENDPOINT, ("backend-2",)) in grown.events
    second = only(grown)
    shrunk = stream.on_request(
        sotw_request(ENDPOINT, ["backend-2"], second.version, second.nonce), snapshot, 0.2
    )
    assert only(shrunk).resource_names == ("backend-2",)
    assert Unsubscribe(ENDPOINT, ("backend",)) in shrunk.events
    # A change to an endpoint this stream does not watch pushes nothing.
    third = only(shrunk)
    eds_backend_2 = endpoints("backend-2", BACKEND)
    stream.on_request(
        sotw_request(ENDPOINT, ["backend-2"], third.version, third.nonce), snapshot, 0.3
    )
    unwatched_moved = Snapshot(
        {ENDPOINT: {"backend": endpoints("backend", OTHER_BACKEND), "backend-2": eds_backend_2}}
    )
    assert unwatched_moved.version_of(ENDPOINT) != snapshot.version_of(ENDPOINT)
    assert stream.push(unwatched_moved, 0.4).responses == ()
    watched_moved = Snapshot({ENDPOINT: {"backend-2": endpoints("backend-2", OTHER_BACKEND)}})
    assert only(stream.push(watched_moved, 0.5)).resource_names == ("backend-2",)


def test_endpoints_resent_after_cluster_change_even_if_unchanged() -> None:
    stream, last = synced_stream()
    more_clusters = mesh_snapshot(LISTEN, BACKEND, clusters=2)
    output = stream.push(more_clusters, 3.0)
    types = [r.type_url for r in output.responses]
    assert types == [CLUSTER, ENDPOINT]
    eds = output.responses[1]
    assert eds.resource_names == ("backend",)
    assert eds.version == last[ENDPOINT].version  # same content, new nonce
    assert eds.nonce != last[ENDPOINT].nonce


def test_a_change_of_every_type_is_pushed_in_envoys_order() -> None:
    """CDS, EDS, LDS, RDS (Istio's push order): a listener never names a cluster Envoy lacks."""
    stream, _ = synced_stream()
    output = stream.push(every_type_changed(LISTEN, OTHER_BACKEND), 3.0)
    assert [r.type_url for r in output.responses] == [CLUSTER, ENDPOINT, LISTENER, ROUTE]


def test_only_changed_types_are_pushed_and_unchanged_snapshot_is_not() -> None:
    stream, _ = synced_stream()
    assert stream.push(mesh_snapshot(LISTEN, BACKEND), 3.0).responses == ()
    moved = mesh_snapshot(LISTEN, OTHER_BACKEND)
    assert [r.type_url for r in stream.push(moved, 3.1).responses] == [ENDPOINT]


def test_no_snapshot_yet_then_push_answers_pending_requests() -> None:
    stream = SotwStream()
    output = stream.on_request(sotw_request(CLUSTER, node_id="n"), None, 0.0)
    assert output.responses == () and output.events == (Subscribe(CLUSTER, ("*",)),)
    snapshot = mesh_snapshot(LISTEN, BACKEND)
    assert only(stream.push(snapshot, 0.1)).type_url == CLUSTER
    assert stream.sync_state(snapshot)[0] is SyncState.PENDING


def test_a_stream_that_needs_no_endpoints_any_more_is_in_sync() -> None:
    """A change that leaves a proxy no EDS cluster (e.g. a mesh-wide exportTo hiding every
    service): Envoy unsubscribes from every EDS name and gets no EDS response; the stream holds
    the new snapshot once it ACKed the rest (`apply` must not wait for an EDS ACK forever)."""
    stream, last = synced_stream()
    emptied = Snapshot(
        {
            LISTENER: {"http": listener("http", LISTEN[0], LISTEN[1], "local")},
            ROUTE: {"local": route_to_cluster("local", "backend")},
            CLUSTER: {},
            ENDPOINT: {},
        }
    )
    clusters, endpoints_ = stream.push(emptied, 3.0).responses
    assert clusters.type_url == CLUSTER and endpoints_.type_url == ENDPOINT
    assert stream.sync_state(emptied)[0] is SyncState.PENDING  # CDS not ACKed yet
    stream.on_request(sotw_request(CLUSTER, [], clusters.version, clusters.nonce), emptied, 4.0)
    # Envoy dropped its last EDS watch with the clusters and ignores the empty EDS response:
    # nothing more comes for EDS (measured with Envoy 1.40).
    assert stream.sync_state(emptied) == (SyncState.ACKED, "")
    # An Envoy that does answer it, keeping its last accepted version, is in sync too.
    old = last[ENDPOINT].version
    stream.on_request(sotw_request(ENDPOINT, [], old, endpoints_.nonce), emptied, 4.1)
    assert stream.sync_state(emptied) == (SyncState.ACKED, "")
