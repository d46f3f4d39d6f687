"""check_invariants finds each kind of broken snapshot (and accepts a good one)."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from tests.translate.test_vhds_source import _on_demand_sidecar
from tests.translate.translate_harness import TESTDATA, load_case

from pilotfish.translate import ProxyResources, check_invariants, generate, on_demand_routes
from pilotfish.translate.generate import generate_parts
from pilotfish.translate.invariants import holdings, pieces_problems
from pilotfish.translate.vhds_part import OnDemandRoutePart
from pilotfish.type_urls import CLUSTER as CLUSTER_TYPE
from pilotfish.type_urls import ENDPOINT as ENDPOINT_TYPE
from pilotfish.type_urls import LISTENER as LISTENER_TYPE
from pilotfish.type_urls import ROUTE as ROUTE_TYPE
from pilotfish.type_urls import VIRTUAL_HOST as VIRTUAL_HOST_TYPE


def snapshot() -> ProxyResources:
    proxy, push = load_case(TESTDATA / "reviews-80-20")
    resources = generate(proxy, push)
    assert check_invariants(resources) == []
    return resources


def test_weighted_cluster_to_missing_cluster() -> None:
    resources = snapshot()
    clusters = dict(resources[CLUSTER_TYPE])
    del clusters["outbound|9080|v2|reviews.default.svc.cluster.local"]
    problems = check_invariants(ProxyResources({**resources, CLUSTER_TYPE: clusters}))
    assert any("v2|reviews" in p and "does not exist" in p for p in problems)


def test_missing_route_configuration_and_endpoints() -> None:
    resources = snapshot()
    routes = {k: v for k, v in resources[ROUTE_TYPE].items() if k != "http_proxy"}
    endpoints = dict(resources[ENDPOINT_TYPE])
    endpoints.pop("outbound|9080||ratings.default.svc.cluster.local")
    problems = check_invariants(
        ProxyResources({**resources, ROUTE_TYPE: routes, ENDPOINT_TYPE: endpoints})
    )
    assert any("'http_proxy' does not exist" in p for p in problems)
    assert any("no ClusterLoadAssignment" in p and "ratings" in p for p in problems)


def test_same_address_twice_and_name_mismatch() -> None:
    resources = snapshot()
    listeners = dict(resources[LISTENER_TYPE])
    copy = listener_pb2.Listener()
    copy.CopyFrom(listeners["outbound_http_proxy"])
    copy.name = "again"
    listeners["again"] = copy
    listeners["renamed"] = listeners["outbound_http_proxy"]
    problems = check_invariants(ProxyResources({**resources, LISTENER_TYPE: listeners}))
    assert any("both bind" in p for p in problems)
    assert any("key 'renamed'" in p for p in problems)


def test_duplicate_names_keep_the_first_with_a_diagnostic() -> None:
    first = cluster_pb2.Cluster(name="c", type=cluster_pb2.Cluster.STATIC)
    second = cluster_pb2.Cluster(name="c", type=cluster_pb2.Cluster.STRICT_DNS)
    built = ProxyResources.build([first, second, route_pb2.RouteConfiguration(name="r")])
    assert built.clusters["c"].type == cluster_pb2.Cluster.STATIC
    assert len(built.diagnostics) == 1
    assert dict(built[LISTENER_TYPE]) == {}


def test_on_demand_virtual_hosts_are_checked_as_route_configurations_are() -> None:
    """What an on-demand sidecar is sent of its route part (the configuration without its
    virtual hosts, and those it asked for over VHDS) is checked on its own, against the
    clusters of the whole shared parts before it."""
    resources = snapshot()
    full = resources[ROUTE_TYPE]["http_proxy"]
    assert isinstance(full, route_pb2.RouteConfiguration)
    sent, answers = on_demand_routes.published(
        ProxyResources({ROUTE_TYPE: {"http_proxy": full}}),
        ("http_proxy/reviews:9080", "http_proxy/ratings:9080"),
        load_case(TESTDATA / "reviews-80-20")[1],
    )
    assert len(sent[VIRTUAL_HOST_TYPE]) == 3 and all(answers.values())  # + pod_local
    clusters = ProxyResources({CLUSTER_TYPE: resources[CLUSTER_TYPE]})
    assert check_invariants(sent, context=[clusters]) == []

    vhosts = dict(sent[VIRTUAL_HOST_TYPE])
    reviews = next(n for n in vhosts if "reviews" in n)
    broken = type(vhosts[reviews])()
    broken.CopyFrom(vhosts[reviews])
    broken.routes[0].route.cluster = "outbound|9080||nowhere.default.svc.cluster.local"
    twice = type(broken)()
    twice.CopyFrom(vhosts[reviews])
    twice.name = "http_proxy/twice"
    vhosts |= {reviews: broken, "http_proxy/twice": twice}
    problems = check_invariants(
        ProxyResources({**sent, VIRTUAL_HOST_TYPE: vhosts}), context=[clusters]
    )
    assert any("nowhere" in p and "does not exist" in p for p in problems), problems
    assert any("held twice" in p for p in problems), problems


def test_pieces_of_one_part_hold_no_name_or_domain_twice() -> None:
    """A part sent in pieces (`on_demand_routes.published_pieces`: the services' answers, then
    those the catch-all took) is checked across its pieces too: each piece's own check cannot
    see the other's names or domains."""
    proxy, push = _on_demand_sidecar(TESTDATA / "reviews-80-20")
    shared, _ = generate_parts(proxy, push)
    route_part = next(p for p in shared if isinstance(p, OnDemandRoutePart))
    asked = ("http_proxy/reviews:9080", "http_proxy/nowhere.test:81")
    pieces, _ = on_demand_routes.published_pieces(route_part, asked, push)
    assert len(pieces) == 2
    assert pieces_problems([holdings(p) for p in pieces]) == []
    first, second = pieces
    vhost = next(v for n, v in first[VIRTUAL_HOST_TYPE].items() if "reviews" in n)
    assert isinstance(vhost, rc_pb2.VirtualHost)
    clash = rc_pb2.VirtualHost()
    clash.CopyFrom(vhost)
    clash.name = "http_proxy/clash"
    twice = ProxyResources({VIRTUAL_HOST_TYPE: {**second[VIRTUAL_HOST_TYPE], clash.name: clash}})
    problems = pieces_problems([holdings(first), holdings(twice)])
    assert any("held twice" in p and "reviews" in p for p in problems), problems
    again = ProxyResources({VIRTUAL_HOST_TYPE: {vhost.name: vhost}})
    problems = pieces_problems([holdings(first), holdings(again)])
    assert any("in two pieces" in p for p in problems), problems
