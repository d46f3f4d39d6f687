"""Snapshot: serialise once, content versions, name checks, wire fragments parse back."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from tests.xds.xds_testlib import (
    BACKEND,
    LISTEN,
    eds_cluster,
    endpoints,
    mesh_snapshot,
    route_direct,
)

from pilotfish.wire import encode_varint
from pilotfish.xds.encoding import EncodeCache
from pilotfish.xds.messages import DeltaResponse, SotwResponse
from pilotfish.xds.resources import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    Snapshot,
    SnapshotError,
    resource_name,
)


def test_equal_content_gives_equal_versions() -> None:
    first = mesh_snapshot(LISTEN, BACKEND)
    second = mesh_snapshot(LISTEN, BACKEND)
    assert first == second
    for type_url in (LISTENER, ROUTE, CLUSTER, ENDPOINT):
        assert first.version_of(type_url) == second.version_of(type_url)


def test_a_route_change_changes_only_the_route_version() -> None:
    before = mesh_snapshot(LISTEN, BACKEND)
    after = mesh_snapshot(LISTEN, BACKEND, route=route_direct("local", "hi"))
    assert before.version != after.version
    assert before.version_of(ROUTE) != after.version_of(ROUTE)
    for type_url in (LISTENER, CLUSTER, ENDPOINT):
        assert before.version_of(type_url) == after.version_of(type_url)


def test_endpoints_are_named_by_cluster_name() -> None:
    assignment = endpoints("reviews", BACKEND)
    assert resource_name(ENDPOINT, assignment) == "reviews"
    with pytest.raises(SnapshotError, match="named 'reviews'"):
        Snapshot({ENDPOINT: {"wrong": assignment}})


def test_wrong_message_type_is_refused() -> None:
    with pytest.raises(SnapshotError, match="ClusterLoadAssignment"):
        Snapshot({CLUSTER: {"reviews": endpoint_pb2.ClusterLoadAssignment(cluster_name="reviews")}})


def test_varint_matches_protobuf() -> None:
    for value in (0, 1, 127, 128, 300, 16384, 2**31):
        message = cluster_pb2.Cluster(per_connection_buffer_limit_bytes={"value": value})
        encoded = message.SerializeToString()
        assert encode_varint(value) in encoded


def test_sotw_view_parses_back_to_the_same_resources() -> None:
    snapshot = Snapshot({CLUSTER: {"a": eds_cluster("a"), "b": eds_cluster("b")}})
    view = snapshot.resources(CLUSTER).sotw_view(None)
    response = SotwResponse(CLUSTER, view.version, "7", view.names, view.body).to_message()
    assert response.type_url == CLUSTER and response.nonce == "7"
    assert response.version_info == snapshot.version_of(CLUSTER)
    unpacked = []
    for packed in response.resources:
        cluster = cluster_pb2.Cluster()
        assert packed.Unpack(cluster)
        unpacked.append(cluster)
    assert unpacked == [eds_cluster("a"), eds_cluster("b")]
    # A named view of the same type is cached and shared.
    names = frozenset({"b"})
    assert snapshot.resources(CLUSTER).sotw_view(names) is snapshot.resources(CLUSTER).sotw_view(
        frozenset({"b"})
    )


def test_delta_entries_carry_name_and_version() -> None:
    snapshot = Snapshot({ENDPOINT: {"a": endpoints("a", BACKEND)}})
    encoded = snapshot.resources(ENDPOINT).by_name["a"]
    message = DeltaResponse(
        ENDPOINT, "v", "1", ("a",), ("gone",), (encoded.delta_pieces,)
    ).to_message()
    assert [r.name for r in message.resources] == ["a"]
    assert message.resources[0].version == encoded.version
    assert list(message.removed_resources) == ["gone"]
    assignment = endpoint_pb2.ClusterLoadAssignment()
    assert message.resources[0].resource.Unpack(assignment)
    assert assignment == endpoints("a", BACKEND)


def test_an_entry_is_pieces_around_the_one_copy_of_the_resource() -> None:
    snapshot = Snapshot({CLUSTER: {"a": eds_cluster("a")}})
    encoded = snapshot.resources(CLUSTER).by_name["a"]
    assert encoded.delta_pieces[1] is encoded.any_bytes
    assert encoded.sotw_pieces[1] is encoded.any_bytes
    sotw = SotwResponse(CLUSTER, "v", "1", ("a",), encoded.sotw_entry).to_message()
    assert sotw.resources[0].SerializeToString() == encoded.any_bytes
    delta = DeltaResponse(CLUSTER, "v", "1", ("a",), (), (encoded.delta_pieces,)).to_message()
    assert delta.resources[0].resource.SerializeToString() == encoded.any_bytes
    assert (delta.resources[0].name, delta.resources[0].version) == ("a", encoded.version)


def test_the_encode_cache_forgets_what_was_not_encoded_since_the_last_rotation() -> None:
    cache = EncodeCache()
    kept, dropped = eds_cluster("kept"), eds_cluster("dropped")
    first_kept = cache.encode(CLUSTER, "kept", kept)
    first_dropped = cache.encode(CLUSTER, "dropped", dropped)
    cache.rotate()
    assert cache.encode(CLUSTER, "kept", kept) is first_kept  # reused across one rotation
    cache.forget_previous()
    assert cache.encode(CLUSTER, "kept", kept) is first_kept
    again = cache.encode(CLUSTER, "dropped", dropped)
    assert again is not first_dropped and again == first_dropped  # encoded anew, same bytes


def test_updated_reencodes_only_changes_and_deletes_with_none() -> None:
    base = mesh_snapshot(LISTEN, BACKEND, clusters=3)
    moved = base.updated({ENDPOINT: {"backend-1": endpoints("backend-1", ("127.0.0.1", 9))}})
    old, new = base.resources(ENDPOINT).by_name, moved.resources(ENDPOINT).by_name
    assert new["backend"] is old["backend"]  # reused, not re-serialised
    assert new["backend-1"].version != old["backend-1"].version
    assert moved.version_of(CLUSTER) == base.version_of(CLUSTER)
    pruned = moved.updated({CLUSTER: {"backend-2": None}, ENDPOINT: {"backend-2": None}})
    assert pruned.names(CLUSTER) == ["backend", "backend-1"]
    assert list(pruned.messages(ENDPOINT)) == ["backend", "backend-1"]
    rebuilt = mesh_snapshot(LISTEN, BACKEND, clusters=2).updated(
        {ENDPOINT: {"backend-1": endpoints("backend-1", ("127.0.0.1", 9))}}
    )
    assert pruned == rebuilt  # same content, same version, however it was built


def test_a_composed_type_requested_by_name_has_the_version_its_subscribers_ack() -> None:
    """A proxy's route configurations split over a shared part and its own: the type version
    (what `/debug/syncz` and `pilotfish up` compare ACKs with) is what a subscriber of all its
    names ACKs, as for the same routes in one part; a wildcard type keeps the parts' hash."""
    shared = route_direct("http_proxy", "shared")
    own = route_direct("inbound|9080||", "own")
    whole = Snapshot({ROUTE: {"http_proxy": shared, "inbound|9080||": own}})
    composed = Snapshot.compose(
        [Snapshot({ROUTE: {"http_proxy": shared}}), Snapshot({ROUTE: {"inbound|9080||": own}})]
    )
    both = frozenset({"http_proxy", "inbound|9080||"})
    assert composed.version_of(ROUTE) == whole.version_of(ROUTE)
    assert composed.version_of(ROUTE) == composed.resources(ROUTE).view_version(both)
    first = cluster_pb2.Cluster(name="a")
    second = cluster_pb2.Cluster(name="b")
    clusters = Snapshot.compose(
        [Snapshot({CLUSTER: {"a": first}}), Snapshot({CLUSTER: {"b": second}})]
    )
    assert clusters.resources(CLUSTER).sotw_view(None).version == clusters.version_of(CLUSTER)
