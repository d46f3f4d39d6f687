"""`controlplane.assembly`: what decides whether a proxy's own part is checked again when its
shared parts change (`SharedNames.same`), and a proxy composed again of its last composition
with the changed pieces swapped in (`SnapshotAssembly.compose`, `Snapshot.compose`)."""

from __future__ import annotations

import random

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from google.protobuf.message import Message

from pilotfish.controlplane.assembly import SharedNames, SnapshotAssembly
from pilotfish.translate.resources import KeptPart, ProxyResources
from pilotfish.type_urls import CLUSTER, ENDPOINT, RESOURCE_TYPES, ROUTE, VIRTUAL_HOST
from pilotfish.xds.resources import Snapshot, TypeResources


def _part(*clusters: str) -> ProxyResources:
    return ProxyResources.build(cluster_pb2.Cluster(name=n) for n in clusters)


def test_same_names_when_parts_differ_but_name_the_same_resources() -> None:
    block, ns_before, ns_after = _part("a", "b"), _part("c"), _part("c")
    assert SharedNames().same((block, ns_before), (block, ns_after))
    moved = (_part("a"), _part("b", "c"))  # the same names, spread differently
    assert SharedNames().same((block, ns_before), moved)


def test_not_the_same_when_a_name_goes_or_comes() -> None:
    block = _part("a", "b")
    with_passthrough, without = _part("c", "PassthroughCluster"), _part("c")
    names = SharedNames()
    assert not names.same((block, with_passthrough), (block, without))
    assert not names.same((block, without), (block, with_passthrough))
    assert not names.same((block,), (block, _part("d")))


def test_a_name_the_common_parts_hold_is_no_difference() -> None:
    """What a part no longer names is still named if a part both tuples share names it."""
    block = _part("a", "b")
    assert SharedNames().same((block, _part("a")), (block, _part()))


def test_a_pair_of_parts_is_compared_once_for_every_tuple_holding_it() -> None:
    """The sidecars of many namespaces share the outbound block: a change that rebuilt it
    (and each namespace's parts) compares the old and new block's names once, not once per
    namespace's pair of tuples (fails if each pair of tuples reads its parts' names anew)."""
    old, new = _part("a", "b"), _part("a", "b")
    names, reads = SharedNames(), list[ProxyResources]()
    real_of = names.of

    def of(part: ProxyResources) -> tuple[frozenset[str], ...]:
        reads.append(part)
        return real_of(part)

    names.of = of  # type: ignore[method-assign]
    for namespace in ("x", "y", "z"):
        assert names.same((old, _part(namespace)), (new, _part(namespace)))
    assert sum(1 for p in reads if p is old or p is new) == 2
    assert not names.same((old, _part("w")), (new, _part("v")))  # the pair holds ...
    assert names.same((old,), (_part("b", "a"),))  # ... and each new pair is compared
    assert not names.same((new,), (_part("a"),))


def test_names_are_of_each_type() -> None:
    assignment = ProxyResources.build([endpoint_pb2.ClusterLoadAssignment(cluster_name="a")])
    cluster = _part("a")
    assert not SharedNames().same((cluster,), (assignment,))


def _vhost(name: str, *domains: str, cluster: str = "") -> rc_pb2.VirtualHost:
    vhost = rc_pb2.VirtualHost(name=name, domains=list(domains))
    if cluster:
        vhost.routes.add(name="r").route.cluster = cluster
    return vhost


def test_a_proxy_composed_again_takes_only_its_changed_piece_anew() -> None:
    """A node composed of the pieces of its last composition but one: what it is sent is what
    a fresh assembly composes of the same pieces (the reused pieces and types are the current
    ones, the changed piece's content is in it), and a changed piece is still checked against
    the pieces kept (two pieces holding one domain: refused)."""
    block = _part("a", "b")
    own = ProxyResources.build([])
    routes = ProxyResources.build([])
    first = KeptPart({VIRTUAL_HOST: {"http_proxy/a": _vhost("http_proxy/a", "a", cluster="a")}})
    catch_alls = [
        KeptPart({VIRTUAL_HOST: {"http_proxy/x": _vhost("http_proxy/x", "x", cluster=c)}})
        for c in ("a", "b", "a")  # the third: equal content, another object
    ]
    assembly = SnapshotAssembly()

    def composed(piece: ProxyResources) -> Snapshot:
        published = ((block,), (first, piece))
        made, problems = assembly.compose("node", (block, routes), own, published=published)
        fresh, _ = SnapshotAssembly().compose("fresh", (block, routes), own, published=published)
        assert made is not None and fresh is not None, problems
        assert made.version == fresh.version
        for type_url in RESOURCE_TYPES:
            versions = {n: r.version for n, r in made.resources(type_url).by_name.items()}
            assert versions == {n: r.version for n, r in fresh.resources(type_url).by_name.items()}
        return made

    before = composed(catch_alls[0])
    after = composed(catch_alls[1])
    assert after.version != before.version
    assert after.resources(CLUSTER) is before.resources(CLUSTER)  # not composed again
    x = after.resources(VIRTUAL_HOST).by_name["http_proxy/x"]
    assert x.version != before.resources(VIRTUAL_HOST).by_name["http_proxy/x"].version
    assert composed(catch_alls[2]).version == before.version
    clash = KeptPart({VIRTUAL_HOST: {"http_proxy/y": _vhost("http_proxy/y", "a")}})
    refused, problems = assembly.compose(
        "node", (block, routes), own, published=((block,), (first, clash))
    )
    assert refused is None and any("held twice" in p for p in problems)
    assert composed(catch_alls[1]).version == after.version


def test_a_composition_from_the_last_one_is_the_composition_from_scratch() -> None:
    """`Snapshot.compose(parts, previous)` over random swaps of parts (new content, the same
    names, empty types, a type read as empty on the last composition, its types shared with
    an equal snapshot's as the cache does): always what composing from scratch gives, and a
    type no swapped part has is the very object of the composition before."""
    rng = random.Random(9)

    def variant(position: int, tag: int) -> Snapshot:
        cluster = cluster_pb2.Cluster(name=f"c{position}", alt_stat_name=f"v{tag}")
        by_type: dict[str, dict[str, Message]] = {CLUSTER: {cluster.name: cluster}}
        if position % 2 or tag == 3:  # a type the variant before may not have
            by_type[VIRTUAL_HOST] = {f"h{position}": _vhost(f"h{position}", f"d{tag}")}
        if tag % 3 == 0:
            by_type[ENDPOINT] = {}
        return Snapshot(by_type)

    parts = [variant(p, 0) for p in range(4)]
    last = Snapshot.compose(parts)
    pool: dict[tuple[str, str], TypeResources] = {}
    Snapshot.compose(list(parts)).share_types(pool)
    for step in range(80):
        position = rng.randrange(len(parts))
        swapped = parts[position]
        parts[position] = variant(position, rng.randrange(4))
        if step % 5 == 0:
            last.resources(ROUTE)  # an empty type the last one was asked for
        if step % 7 == 0:
            last.share_types(pool)
        made = Snapshot.compose(parts, previous=last)
        fresh = Snapshot.compose(parts)
        assert made.version == fresh.version
        for type_url in RESOURCE_TYPES:
            got = {n: r.version for n, r in made.resources(type_url).by_name.items()}
            assert got == {n: r.version for n, r in fresh.resources(type_url).by_name.items()}
            assert made.version_of(type_url) == fresh.version_of(type_url)
            untouched = not swapped.resources(type_url).by_name
            untouched = untouched and not parts[position].resources(type_url).by_name
            if untouched and last.resources(type_url).by_name:
                assert made.resources(type_url) is last.resources(type_url)
        last = made


def test_a_shared_part_is_held_once_and_composes_as_the_whole_would() -> None:
    """What is sent of a shared part is found once for every proxy sent it (one `_Held`, its
    holdings read once: fails if made per proxy), serialised with the types it holds alone,
    and a composition of such pieces is the one of the parts serialised with every type
    (empty or not), as they were before."""
    block = ProxyResources.build(
        [cluster_pb2.Cluster(name="a"), endpoint_pb2.ClusterLoadAssignment(cluster_name="a")]
    )
    routes = KeptPart({VIRTUAL_HOST: {"http_proxy/a": _vhost("http_proxy/a", "a", cluster="a")}})
    assembly = SnapshotAssembly()
    for node in ("n1", "n2"):
        own = ProxyResources.build([cluster_pb2.Cluster(name=f"own-{node}")])
        made, problems = assembly.compose(node, (block, routes), own)
        assert made is not None, problems
        whole = Snapshot.compose([Snapshot(p) for p in (block, routes, own)])
        assert made.version == whole.version
        for type_url in RESOURCE_TYPES:
            assert made.version_of(type_url) == whole.version_of(type_url)
    held = [assembly.composed[n].held[0][0] for n in ("n1", "n2")]
    assert held[0] is held[1]
    assert set(held[0].snapshot.types_with_resources()) == {CLUSTER, ENDPOINT}
    empty = [p[ROUTE] for p in (block, ProxyResources.build([]))]
    assert empty[0] is empty[1] and not empty[0]  # one read-only mapping for every part's
