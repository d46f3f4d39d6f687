"""DeltaStream without sockets: only changes and removals go out, ACK/NACK, reconnect, EDS."""

from __future__ import annotations

from google.protobuf.message import Message
from tests.xds.xds_testlib import (
    BACKEND,
    LISTEN,
    OTHER_BACKEND,
    delta_request,
    eds_cluster,
    endpoints,
    every_type_changed,
    listener,
    mesh_snapshot,
    only_response,
    route_direct,
    route_to_cluster,
    sync_subscriptions,
)

from pilotfish.xds.messages import (
    DeltaResponse,
    Nack,
    StaleNonce,
    StreamOutput,
    Subscribe,
    Unsubscribe,
)
from pilotfish.xds.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, Snapshot
from pilotfish.xds.stream import DeltaStream, SyncState


def only(output: StreamOutput) -> DeltaResponse:
    return only_response(output, DeltaResponse)


def ack(stream: DeltaStream, response: DeltaResponse, snapshot: Snapshot) -> StreamOutput:
    return stream.on_request(delta_request(response.type_url, nonce=response.nonce), snapshot, 2.0)


def synced_stream(clusters: int = 1) -> DeltaStream:
    snapshot = mesh_snapshot(LISTEN, BACKEND, clusters=clusters)
    stream = DeltaStream()
    cluster_names = snapshot.names(CLUSTER)
    for type_url, names in sync_subscriptions(cluster_names):
        response = only(
            stream.on_request(delta_request(type_url, names, node_id="n"), snapshot, 1.0)
        )
        assert ack(stream, response, snapshot).responses == ()
    assert stream.sync_state(snapshot) == (SyncState.ACKED, "")
    return stream


def test_first_request_sends_everything_subscribed() -> None:
    snapshot = mesh_snapshot(LISTEN, BACKEND, clusters=2)
    stream = DeltaStream()
    output = stream.on_request(delta_request(CLUSTER, node_id="sidecar~x"), snapshot, 0.0)
    response = only(output)
    assert response.resource_names == ("backend", "backend-1")
    assert output.events == (Subscribe(CLUSTER, ("*",)),)
    message = response.to_message()
    assert {r.name: r.version for r in message.resources} == {
        n: snapshot.resources(CLUSTER).by_name[n].version for n in ("backend", "backend-1")
    }
    assert stream.node_id == "sidecar~x"


def test_empty_wildcard_type_is_still_answered() -> None:
    stream = DeltaStream()
    response = only(stream.on_request(delta_request(LISTENER), Snapshot({}), 0.0))
    assert response.resource_names == () and response.removed == ()


def test_push_sends_only_changed_resources_and_removals() -> None:
    stream = synced_stream(clusters=3)
    changed = Snapshot(
        {
            **{t: {n: r for n, r in _messages(t).items()} for t in (LISTENER, ROUTE)},
            CLUSTER: {n: m for n, m in _messages(CLUSTER).items() if n != "backend-2"},
            ENDPOINT: {
                "backend": endpoints("backend", OTHER_BACKEND),
                "backend-1": endpoints("backend-1", BACKEND),
            },
        }
    )
    output = stream.push(changed, 3.0)
    by_type = {r.type_url: r for r in output.responses if isinstance(r, DeltaResponse)}
    assert set(by_type) == {CLUSTER, ENDPOINT}
    assert by_type[CLUSTER].resource_names == () and by_type[CLUSTER].removed == ("backend-2",)
    assert by_type[ENDPOINT].resource_names == ("backend",)
    assert by_type[ENDPOINT].removed == ("backend-2",)


def _messages(type_url: str) -> dict[str, Message]:
    """The protobufs of the three-cluster base snapshot, by name (rebuilt, same content)."""
    names = ["backend", "backend-1", "backend-2"]
    return {
        LISTENER: {"http": listener("http", *LISTEN, "local")},
        ROUTE: {"local": route_to_cluster("local", "backend")},
        CLUSTER: {n: eds_cluster(n) for n in names},
        ENDPOINT: {n: endpoints(n, BACKEND) for n in names},
    }[type_url]


def test_unchanged_snapshot_pushes_nothing() -> None:
    stream = synced_stream()
    assert stream.push(mesh_snapshot(LISTEN, BACKEND), 3.0).responses == ()


def test_a_change_of_every_type_is_pushed_in_envoys_order() -> None:
    """CDS, EDS, LDS, RDS (Istio's push order), each with only its changed resource."""
    stream = synced_stream()
    output = stream.push(every_type_changed(LISTEN, OTHER_BACKEND), 3.0)
    assert [(r.type_url, r.resource_names) for r in output.responses] == [
        (CLUSTER, ("backend",)),
        (ENDPOINT, ("backend",)),
        (LISTENER, ("http",)),
        (ROUTE, ("local",)),
    ]


def test_cluster_change_resends_its_endpoints() -> None:
    stream = synced_stream(clusters=1)
    longer_timeout = Snapshot(
        {
            LISTENER: _messages(LISTENER),
            ROUTE: _messages(ROUTE),
            CLUSTER: {"backend": eds_cluster("backend", 900)},
            ENDPOINT: {"backend": endpoints("backend", BACKEND)},
        }
    )
    output = stream.push(longer_timeout, 3.0)
    assert [(r.type_url, r.resource_names) for r in output.responses] == [
        (CLUSTER, ("backend",)),
        (ENDPOINT, ("backend",)),
    ]


def test_nack_recorded_and_not_resent() -> None:
    stream = synced_stream()
    bad = mesh_snapshot(LISTEN, BACKEND, route=route_direct("local", "bad"))
    pushed = only(stream.push(bad, 3.0))
    output = stream.on_request(delta_request(ROUTE, nonce=pushed.nonce, error="no"), bad, 3.5)
    assert output.responses == ()
    assert output.events == (Nack(ROUTE, pushed.version, pushed.nonce, "no", 3),)
    assert stream.sync_state(bad) == (SyncState.NACKED, "no")
    assert stream.push(bad, 4.0).responses == ()


def test_stale_nonce_does_not_ack_but_subscriptions_apply() -> None:
    stream = synced_stream(clusters=2)
    snapshot = mesh_snapshot(LISTEN, BACKEND, clusters=2)
    first = only(
        stream.push(mesh_snapshot(LISTEN, BACKEND, route=route_direct("local", "1"), clusters=2), 3)
    )
    second = only(
        stream.push(mesh_snapshot(LISTEN, BACKEND, route=route_direct("local", "2"), clusters=2), 3)
    )
    output = stream.on_request(delta_request(ROUTE, nonce=first.nonce), snapshot, 3.1)
    assert output == StreamOutput(events=(StaleNonce(ROUTE, first.nonce),))
    route_status = {s.type_url: s for s in stream.status()}[ROUTE]
    assert route_status.acked_version != second.version
    # Unsubscribe arrives with a stale nonce: applied all the same, nothing sent.
    dropped = stream.on_request(
        delta_request(ENDPOINT, unsubscribe=["backend-1"], nonce="old"), snapshot, 3.2
    )
    assert Unsubscribe(ENDPOINT, ("backend-1",)) in dropped.events and dropped.responses == ()
    eds_status = {s.type_url: s for s in stream.status()}[ENDPOINT]
    assert eds_status.subscribed == ("backend",)


def test_subscribe_new_name_and_missing_name_is_reported_removed() -> None:
    stream = synced_stream(clusters=2)
    snapshot = mesh_snapshot(LISTEN, BACKEND, clusters=2)
    stream.on_request(delta_request(ENDPOINT, unsubscribe=["backend-1"]), snapshot, 3.0)
    output = stream.on_request(
        delta_request(ENDPOINT, subscribe=["backend-1", "nope"]), snapshot, 3.1
    )
    response = only(output)
    assert response.resource_names == ("backend-1",)
    assert response.removed == ("nope",)
    assert Subscribe(ENDPOINT, ("backend-1", "nope")) in output.events


def test_reconnect_sends_only_differences_from_initial_versions() -> None:
    old = mesh_snapshot(LISTEN, BACKEND, clusters=2)
    held = {n: old.resources(ENDPOINT).by_name[n].version for n in old.names(ENDPOINT)}
    held["gone"] = "v0"
    current = Snapshot(
        {
            ENDPOINT: {
                "backend": endpoints("backend", BACKEND),
                "backend-1": endpoints("backend-1", OTHER_BACKEND),
            }
        }
    )
    stream = DeltaStream()
    output = stream.on_request(
        delta_request(ENDPOINT, ["backend", "backend-1", "gone"], initial=held), current, 0.0
    )
    response = only(output)
    assert response.resource_names == ("backend-1",)
    assert response.removed == ("gone",)


def test_acked_is_sync_state_acked_at_every_step() -> None:
    """`acked` (asked on every ACK while a change is pending) stops at the first type not
    ACKed; it must say what `sync_state(...)[0] is ACKED` says: through subscribing, each
    ACK, a push not yet ACKed, a NACK, and a snapshot without endpoints."""
    snapshot = mesh_snapshot(LISTEN, BACKEND, clusters=2)
    bad = mesh_snapshot(LISTEN, BACKEND, clusters=2, route=route_direct("local", "bad"))
    no_endpoints = mesh_snapshot(LISTEN, BACKEND, clusters=2).updated(
        {ENDPOINT: dict.fromkeys(snapshot.names(ENDPOINT))}
    )
    stream = DeltaStream()
    seen: list[bool] = []

    def check() -> None:
        for shown in (snapshot, bad, no_endpoints):
            assert stream.acked(shown) == (stream.sync_state(shown)[0] is SyncState.ACKED)
        seen.append(stream.acked(snapshot))

    check()
    for type_url, names in sync_subscriptions(snapshot.names(CLUSTER)):
        response = only(
            stream.on_request(delta_request(type_url, names, node_id="n"), snapshot, 1.0)
        )
        check()
        ack(stream, response, snapshot)
        check()
    pushed = only(stream.push(bad, 3.0))
    check()
    stream.on_request(delta_request(ROUTE, nonce=pushed.nonce, error="no"), bad, 3.5)
    check()
    assert seen == [False] * 8 + [True, True, True], seen
