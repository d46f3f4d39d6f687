"""VHDS on a DeltaStream without sockets: the subscription to the route configuration's name is
wildcard over the node's virtual hosts; each name asked on demand (`http_proxy/<host>`) is
answered in the reply with the resolved virtual host carrying it as an alias (resent if the
client holds it), several names answered by one virtual host share one entry, a name nothing
answers gets a body-less resource; pushes carry only changed virtual hosts, without aliases."""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.service.discovery.v3 import discovery_pb2
from tests.xds.xds_testlib import delta_request, only_response

from pilotfish.xds.messages import DeltaResponse, StreamOutput
from pilotfish.xds.resources import VIRTUAL_HOST, Snapshot
from pilotfish.xds.stream import DeltaStream, SyncState

REVIEWS = "http_proxy/reviews.default.svc.cluster.local:9080"
POD_LOCAL = "http_proxy/pod_local"


def vhost(name: str, domains: list[str], cluster: str = "c") -> rc_pb2.VirtualHost:
    route = rc_pb2.Route(match=rc_pb2.RouteMatch(prefix="/"))
    route.route.cluster = cluster
    return rc_pb2.VirtualHost(name=name, domains=domains, routes=[route])


def snapshot(*vhosts: rc_pb2.VirtualHost) -> Snapshot:
    return Snapshot({VIRTUAL_HOST: {v.name: v for v in vhosts}})


def decoded(output: StreamOutput) -> discovery_pb2.DeltaDiscoveryResponse:
    response = only_response(output, DeltaResponse)
    return discovery_pb2.DeltaDiscoveryResponse.FromString(response.to_bytes())


def opened(held: Snapshot) -> tuple[DeltaStream, discovery_pb2.DeltaDiscoveryResponse]:
    stream = DeltaStream()
    request = delta_request(VIRTUAL_HOST, ["http_proxy"], node_id="n")
    first = decoded(stream.on_request(request, held, 1.0))
    ack = delta_request(VIRTUAL_HOST, nonce=first.nonce)
    assert stream.on_request(ack, held, 1.1).responses == ()
    return stream, first


def test_the_route_configuration_name_subscribes_to_every_virtual_host() -> None:
    held = snapshot(vhost(POD_LOCAL, ["localhost:15000"]))
    stream, first = opened(held)
    assert [r.name for r in first.resources] == [POD_LOCAL]
    assert [list(r.aliases) for r in first.resources] == [[]]
    assert stream.sync_state(held) == (SyncState.ACKED, "")


def test_asked_names_come_back_as_aliases_of_their_virtual_host() -> None:
    local = vhost(POD_LOCAL, ["localhost:15000"])
    stream, _ = opened(snapshot(local))
    reviews = vhost(REVIEWS, ["reviews:9080", "reviews.default:9080"])
    held = snapshot(local, reviews)
    asked = ["http_proxy/reviews:9080", "http_proxy/Reviews.default:9080", "http_proxy/x:1"]
    stream.aliases.update({asked[0]: REVIEWS, asked[1]: REVIEWS, asked[2]: ""})
    answer = decoded(stream.on_request(delta_request(VIRTUAL_HOST, asked), held, 2.0))
    by_name = {r.name: r for r in answer.resources}
    assert set(by_name) == {REVIEWS, "http_proxy/x:1"}  # not the held pod_local again
    assert list(by_name[REVIEWS].aliases) == asked[:2]
    got = rc_pb2.VirtualHost()
    assert by_name[REVIEWS].resource.Unpack(got) and got == reviews
    assert by_name[REVIEWS].version == held.resources(VIRTUAL_HOST).by_name[REVIEWS].version
    unknown = by_name["http_proxy/x:1"]  # nothing answers it: no body, Envoy goes on
    assert list(unknown.aliases) == ["http_proxy/x:1"] and not unknown.HasField("resource")
    ack = delta_request(VIRTUAL_HOST, nonce=answer.nonce)
    assert stream.on_request(ack, held, 2.1).responses == ()
    assert stream.sync_state(held) == (SyncState.ACKED, "")

    # asked again (a second request paused before the first answer): answered again
    again = decoded(stream.on_request(delta_request(VIRTUAL_HOST, asked[:1]), held, 3.0))
    assert [(r.name, list(r.aliases)) for r in again.resources] == [(REVIEWS, asked[:1])]


def test_a_push_sends_only_the_changed_virtual_host_without_aliases() -> None:
    local = vhost(POD_LOCAL, ["localhost:15000"])
    stream, _ = opened(snapshot(local))
    held = snapshot(local, vhost(REVIEWS, ["reviews:9080"]))
    stream.aliases["http_proxy/reviews:9080"] = REVIEWS
    answer = decoded(
        stream.on_request(delta_request(VIRTUAL_HOST, ["http_proxy/reviews:9080"]), held, 2.0)
    )
    stream.on_request(delta_request(VIRTUAL_HOST, nonce=answer.nonce), held, 2.1)
    changed = snapshot(local, vhost(REVIEWS, ["reviews:9080"], cluster="v1"))
    pushed = decoded(stream.push(changed, 3.0))
    assert [(r.name, list(r.aliases)) for r in pushed.resources] == [(REVIEWS, [])]
    assert list(pushed.removed_resources) == []
    gone = decoded(stream.push(snapshot(local), 4.0))
    assert list(gone.removed_resources) == [REVIEWS] and list(gone.resources) == []
