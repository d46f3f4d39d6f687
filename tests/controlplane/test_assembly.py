"""`controlplane.assembly`: what decides whether a proxy's own part is checked again when its
shared parts change (`SharedNames.same`)."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2

from pilotfish.controlplane.assembly import SharedNames
from pilotfish.translate.resources import ProxyResources


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


def test_names_are_of_each_type() -> None:
    assignment = ProxyResources.build([endpoint_pb2.ClusterLoadAssignment(cluster_name="a")])
    cluster = _part("a")
    assert not SharedNames().same((cluster,), (assignment,))
