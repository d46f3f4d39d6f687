"""`translate.on_demand`, pure: which clusters a demanded cluster brings (itself, and the other
clusters of the routes sending to it: weighted destinations, mirrors), and what the narrowed
outbound block keeps (the demanded clusters and their endpoints, what is no service's, and a
cluster a listener names even if never asked for)."""

from __future__ import annotations

from dataclasses import replace

from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import on_demand
from pilotfish.translate.carry import carry_of
from pilotfish.translate.envoy_pb import pack
from pilotfish.translate.generate import generate_parts
from pilotfish.translate.resources import ProxyResources
from pilotfish.type_urls import CLUSTER, ENDPOINT, LISTENER

MIRROR = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: 90
    - destination: {host: details}
      weight: 10
    mirror: {host: ratings}
"""
HOST = "{}.default.svc.cluster.local"


def _proxy(push: PushContext) -> Proxy:
    return replace(sidecar_for(push, "productpage-v1-0", (9080, 19080)), delta_xds=True)


def _parts(config: str = "") -> tuple[tuple[ProxyResources, ...], ProxyResources]:
    push = bookinfo_push(config, on_demand_clusters=True)
    proxy = _proxy(push)
    assert on_demand.applies(proxy, push)
    assert not on_demand.applies(replace(proxy, delta_xds=False), push)
    return generate_parts(proxy, push)


def test_a_demanded_cluster_brings_what_its_routes_weigh_and_mirror_to() -> None:
    shared, _ = _parts(MIRROR)
    asked = f"outbound|9080||{HOST.format('reviews')}"
    clusters = on_demand.clusters_for([asked], shared)
    assert clusters == {
        f"outbound|9080||{HOST.format(s)}" for s in ("reviews", "details", "ratings")
    }
    push = bookinfo_push(MIRROR, on_demand_clusters=True)
    shared = generate_parts(_proxy(push), push)[0]
    carry = carry_of(push)
    assert on_demand.clusters_for([asked], shared, push) == clusters
    built = carry.builds
    assert on_demand.clusters_for([asked], shared, push) == clusters  # each part's groups kept
    assert carry.builds == built
    for name in ("ratings", "details", "productpage"):  # kept groups answer as a walk does
        one = [f"outbound|9080||{HOST.format(name)}"]
        assert on_demand.clusters_for(one, shared, push) == on_demand.clusters_for(one, shared)
    plain, _ = _parts()
    assert on_demand.clusters_for([asked], plain) == {asked}
    assert on_demand.clusters_for(["outbound|9080||nowhere.svc.cluster.local"], plain) == set()


def test_the_narrowed_block_keeps_the_demanded_and_the_listeners_clusters() -> None:
    push = bookinfo_push("", on_demand_clusters=True)
    proxy = replace(sidecar_for(push, "productpage-v1-0", (9080, 19080)), delta_xds=True)
    shared, own = generate_parts(proxy, push)
    reviews = HOST.format("reviews")
    asked = f"outbound|9080||{reviews}"
    narrowed = on_demand.narrowed(shared, own, frozenset({asked}), push)
    kept = {n for n in narrowed[0][CLUSTER] if n.startswith("outbound|")}
    assert kept == {asked}
    assert {n for n in narrowed[0][ENDPOINT] if n.startswith("outbound|")} == {asked}
    assert narrowed[1:] == shared[1:]
    # a TCP listener naming the ratings cluster keeps it (and only it) without a demand
    ratings = f"outbound|9080||{HOST.format('ratings')}"
    tcp = listener_pb2.Listener(name="tcp")
    tcp.filter_chains.add().filters.add(name="tcp").typed_config.CopyFrom(
        pack(tcp_proxy_pb2.TcpProxy(stat_prefix="x", cluster=ratings))
    )
    listeners = dict(own.listeners) | {"tcp": tcp}
    with_tcp = ProxyResources({t: own[t] for t in own} | {LISTENER: listeners})
    kept = set(on_demand.narrowed(shared, with_tcp, frozenset(), push)[0][CLUSTER])
    assert ratings in kept and not any(n.endswith(f"|{reviews}") for n in kept)
