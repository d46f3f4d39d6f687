"""`translate.message_facts`: what the checks and on-demand narrowing read of a listener (once
per content: its bytes without name and address), of a route configuration or virtual host
(once per object), and a listener's bytes (once per object) are what reading the message
afresh gives; listeners that differ only by name and address share their facts, any other
difference (or another object) reads its own. And `inbound_shared.cluster`: the inbound
cluster copied from one built for other instances of a service is, byte for byte, the one
`clusters.inbound_cluster` builds for the proxy's own app port."""

from __future__ import annotations

import re

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.translate import message_facts
from pilotfish.translate.envoy_pb import pack, socket_address
from pilotfish.translate.generate import generate_parts
from pilotfish.translate.invariants import check_invariants
from pilotfish.translate.resources import ProxyResources
from pilotfish.type_urls import CLUSTER, LISTENER

TCP_CLUSTER = "outbound|9080||ratings.default.svc.cluster.local"


def _tcp_listener(name: str, ip: str, cluster: str = TCP_CLUSTER) -> listener_pb2.Listener:
    listener = listener_pb2.Listener(name=name, address=socket_address(ip, 9080))
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix="tcp", cluster=cluster)
    chain = listener.filter_chains.add()
    chain.filters.add(name="envoy.filters.network.tcp_proxy", typed_config=pack(proxy))
    return listener


def _read_afresh(listener: listener_pb2.Listener) -> tuple[object, ...]:
    data = listener.SerializeToString(deterministic=True)
    found = message_facts.OUTBOUND_NAME.findall(data)
    proxy = tcp_proxy_pb2.TcpProxy()
    clusters = []
    for chain in listener.filter_chains:
        for network_filter in chain.filters:
            if network_filter.typed_config.Unpack(proxy):
                clusters.append(proxy.cluster)
    return frozenset(m.decode() for m in found), tuple(clusters)


def test_listeners_differing_by_name_and_address_share_their_facts() -> None:
    one, other = _tcp_listener("10.0.0.1_9080", "10.0.0.1"), _tcp_listener("10.0.0.2", "10.0.0.2")
    facts = message_facts.facts(one)
    assert message_facts.facts(other) is facts
    assert (facts.outbound, facts.tcp_clusters) == _read_afresh(one) == _read_afresh(other)
    assert message_facts.serialised(one) == one.SerializeToString(deterministic=True)


def test_a_listener_of_other_content_reads_its_own() -> None:
    one = _tcp_listener("10.0.0.1_9080", "10.0.0.1")
    other = _tcp_listener("10.0.0.2_9080", "10.0.0.2", TCP_CLUSTER.replace("ratings", "reviews"))
    assert message_facts.facts(other) != message_facts.facts(one)
    assert (message_facts.facts(other).outbound, message_facts.facts(other).tcp_clusters) == (
        _read_afresh(other)
    )
    problems = check_invariants(ProxyResources({LISTENER: {other.name: other}}))
    assert problems == [
        f"listener {other.name}: cluster {TCP_CLUSTER.replace('ratings', 'reviews')!r}"
        " does not exist"
    ]


def test_an_outbound_name_in_a_listener_name_is_read_from_all_its_bytes() -> None:
    named = _tcp_listener("outbound|8080||a.b.svc.cluster.local_x", "10.0.0.3")
    data = named.SerializeToString()
    expected = {m.decode() for m in re.findall(message_facts.OUTBOUND_NAME.pattern, data)}
    assert message_facts.outbound_names(named) == expected
    assert "outbound|8080||a.b.svc.cluster.local_x" in expected


def _vhost(name: str, cluster: str) -> rc_pb2.VirtualHost:
    vhost = rc_pb2.VirtualHost(name=name, domains=[f"{name}.example"])
    route = vhost.routes.add(name="r")
    route.route.cluster = cluster
    return vhost


def test_route_facts_are_read_once_per_object_and_as_afresh() -> None:
    config = route_pb2.RouteConfiguration(name="c", virtual_hosts=[_vhost("a", "x")])
    facts = message_facts.route_facts(config)
    assert message_facts.route_facts(config) is facts
    assert facts.vhosts[0].domains == ("a.example",) and facts.vhosts[0].routes == (("r", ("x",)),)
    changed = route_pb2.RouteConfiguration(name="c", virtual_hosts=[_vhost("a", "y")])
    assert message_facts.route_facts(changed).vhosts[0].routes == (("r", ("y",)),)
    assert message_facts.vhost_facts(_vhost("b", "z")).routes == (("r", ("z",)),)


@pytest.mark.parametrize("app_ports", [(19080, 19081, 19082), (9080, 9080, 9080)])
def test_inbound_clusters_copied_for_a_service_are_built_as_alone(
    app_ports: tuple[int, ...],
) -> None:
    push = bookinfo_push()
    instances = ("reviews-v1-0", "reviews-v2-0", "reviews-v3-0")
    for instance, app_port in zip(instances, app_ports, strict=True):
        proxy = sidecar_for(push, instance, (9080, app_port))
        cluster = generate_parts(proxy, push)[1][CLUSTER]["inbound|9080||"]
        assert isinstance(cluster, cluster_pb2.Cluster)
        alone = generate_parts(proxy, bookinfo_push())[1][CLUSTER]["inbound|9080||"]
        data = cluster.SerializeToString(deterministic=True)
        assert data == alone.SerializeToString(deterministic=True), instance
        socket = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address
        assert socket.socket_address.port_value == app_port
    ratings = sidecar_for(push, "ratings-v1-0", (9080, app_ports[0]))  # another service's
    cluster = generate_parts(ratings, push)[1][CLUSTER]["inbound|9080||"]
    alone = generate_parts(ratings, bookinfo_push())[1][CLUSTER]["inbound|9080||"]
    assert cluster.SerializeToString(deterministic=True) == alone.SerializeToString(
        deterministic=True
    )
    assert b"ratings" in cluster.SerializeToString() and b"reviews" not in (
        cluster.SerializeToString()
    )
