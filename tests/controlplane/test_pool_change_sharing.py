"""A change of every DestinationRule's connection pool (bench/scale.py's DestinationRule row)
rebuilds every outbound cluster and nothing a virtual host reads: what on-demand sidecars hold
of their route parts is kept by identity, and their narrowed blocks are made once per set of
clusters asked for; each snapshot is still the one a control plane that had the rules before
its sidecars connected gives."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from tests.controlplane.scale_kit import Instance, MakeMesh, Topology, connect

from pilotfish.controlplane.core import ControlPlane
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import RegistrySnapshot
from pilotfish.translate import derived_routes, on_demand, on_demand_routes, on_demand_since
from pilotfish.translate.resources import ProxyResources
from pilotfish.translate.vhds_part import OnDemandRoutePart
from pilotfish.type_urls import CLUSTER


def _ask(plane: ControlPlane, topo: Topology, clients: list[Instance]) -> None:
    """Each client connects and calls two services and asks for their virtual hosts (clients
    two apart call the same two: the topology has 4 services)."""
    for n, client in enumerate(clients):
        connect(plane, client)
        called = [(n + k) % len(topo.names) for k in (1, 3)]
        plane.demand(client.node_id, tuple(topo.cluster(i) for i in called))
        hosts = [f"http_proxy/{topo.names[i][1]}.{topo.names[i][0]}:8080" for i in called]
        plane.demand_hosts(client.node_id, tuple(hosts))


def _counted(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[object]:
    calls: list[object] = []
    real = getattr(module, name)

    def counted(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_a_change_of_every_pool_keeps_each_route_part_and_what_it_sent(
    on_demand_mesh: MakeMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The derived `http_proxy` parts are the very parts before (every virtual host is the
    same object: `derived_routes.derived_part`), so no sidecar's VHDS pieces are looked up
    again (fails if a new part of the same virtual hosts is derived; nor is its recipe made
    again, with a note per slot), and two sidecars asking
    for the same clusters share one narrowed block made once (`on_demand_since._renarrowed`; fails
    if each sidecar makes its own)."""
    cp, topo, instances = on_demand_mesh("changed", routes=True)
    fresh, _, _ = on_demand_mesh("fresh", routes=True)
    clients = instances[:6]
    _ask(cp, topo, clients)
    for pending in (512, 513):
        parts = {c.node_id: cp.generated[c.node_id][0][-1] for c in clients}
        assert all(isinstance(p, OnDemandRoutePart) for p in parts.values())
        published = _counted(monkeypatch, on_demand_routes, "published_pieces")
        kept = _counted(monkeypatch, on_demand, "_kept")
        recipes = _counted(monkeypatch, derived_routes, "Recipe")
        assert cp.apply([("dr.yaml", topo.pooled_rules(pending))]).ok
        monkeypatch.undo()
        assert {n: cp.generated[n][0][-1] for n in parts} == parts
        assert all(cp.generated[n][0][-1] is p for n, p in parts.items())
        assert published == [] and recipes == []  # each part kept with its record's recipe
        asked = {cp.demanded[c.node_id] for c in clients}
        assert len(asked) < len(clients) and len(kept) == len(asked)
        blocks = {c.node_id: cp.assembly.composed[c.node_id].pieces[0][0] for c in clients}
        assert blocks[clients[0].node_id] is blocks[clients[4].node_id]
    assert fresh.apply([("dr.yaml", topo.pooled_rules(513))]).ok
    _ask(fresh, topo, clients)
    for client in clients:
        snapshot = cp.snapshots[client.node_id]
        assert snapshot.version == fresh.snapshots[client.node_id].version
        pools = {
            c.circuit_breakers.thresholds[0].max_pending_requests.value
            for n, c in snapshot.messages(CLUSTER).items()
            if n.startswith("outbound|8080|")
        }
        assert pools == {513}


def test_sidecars_of_one_namespace_compare_what_their_parts_name_once(
    on_demand_mesh: MakeMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool change gives every sidecar a new block of the same names: whether its other
    parts' route groups and clusters still name the same is asked once per pair of tuples of
    parts (`on_demand_since._name_the_same`), which the sidecars of a namespace share (fails if
    each sidecar compares its own), and each snapshot is still a fresh plane's."""
    cp, topo, instances = on_demand_mesh("changed", routes=True)
    fresh, _, _ = on_demand_mesh("fresh", routes=True)
    clients = instances[:6]
    _ask(cp, topo, clients)
    namespaces = {cp.proxies[c.node_id].namespace for c in clients}
    compared = _counted(monkeypatch, on_demand_since, "_same_groups")
    assert cp.apply([("dr.yaml", topo.pooled_rules(512))]).ok
    monkeypatch.undo()
    assert 1 <= len(compared) <= len(namespaces) < len(clients)
    assert fresh.apply([("dr.yaml", topo.pooled_rules(512))]).ok
    _ask(fresh, topo, clients)
    for client in clients:
        assert cp.snapshots[client.node_id].version == fresh.snapshots[client.node_id].version


def test_the_names_of_other_parts_are_compared_again_for_other_parts() -> None:
    """The answer kept for a pair of tuples is never given for another: parts whose clusters
    differ do not name the same (fails if the answer were kept by the earlier tuples
    alone)."""
    push = PushContext(RegistrySnapshot())
    one = ProxyResources({CLUSTER: {"a": cluster_pb2.Cluster(name="a")}})
    other = ProxyResources({CLUSTER: {"b": cluster_pb2.Cluster(name="b")}})
    groups, held = on_demand_since._parts_view((one,), push)
    before = on_demand_since.Narrowing(one, one, frozenset(), groups, held, one)
    assert on_demand_since._name_the_same(before, groups, held, push)
    groups_b, held_b = on_demand_since._parts_view((other,), push)
    assert not on_demand_since._name_the_same(before, groups_b, held_b, push)
    assert on_demand_since._name_the_same(before, groups, held, push)
