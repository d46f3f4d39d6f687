"""On-demand clusters in the control plane (`PILOTFISH_ON_DEMAND_CLUSTERS`): a delta sidecar's
snapshot starts with no service cluster; `demand` (what the xDS server calls when Envoy asks for
a cluster) adds that cluster and its endpoints and nothing else (not the other subsets);
changes to services it never asked for leave its snapshot alone (no push); a SotW sidecar gets
every service as before; a Sidecar resource restricts what on demand may bring (never more than
without it); the proxy's routes and listeners are the same as without the option (plus the
filter)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.controlplane.scale_kit import Instance, MakeMesh, Topology, connect

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.translate import on_demand
from pilotfish.translate.on_demand import ON_DEMAND_FILTER
from pilotfish.type_urls import CLUSTER, ENDPOINT, LISTENER, ROUTE


def _services(cp: ControlPlane, node_id: str, type_url: str = CLUSTER) -> set[str]:
    names = cp.snapshots[node_id].resources(type_url).by_name
    return {n.split("|")[3] for n in names if n.startswith("outbound|")}


def test_demand_brings_the_service_and_only_it(on_demand_mesh: MakeMesh) -> None:
    cp, topo, instances = on_demand_mesh()
    client = instances[0]
    other = next(i for i in instances[1:] if i.namespace == client.namespace)
    connect(cp, client)
    connect(cp, other, delta=False)
    assert _services(cp, client.node_id) == set()
    assert _services(cp, client.node_id, ENDPOINT) == set()
    everything = _services(cp, other.node_id)  # state of the world: every service, as before
    assert len(everything) == len(topo.names)
    snapshot = cp.snapshots[client.node_id]
    assert ON_DEMAND_FILTER.encode() in b"".join(
        r.any_bytes for r in snapshot.resources(LISTENER).by_name.values()
    )
    assert ON_DEMAND_FILTER.encode() not in b"".join(
        r.any_bytes for r in cp.snapshots[other.node_id].resources(LISTENER).by_name.values()
    )
    # the routes are everyone's: every service is routable, its cluster comes when asked for
    routes = cp.snapshots[other.node_id].resources(ROUTE).by_name
    assert snapshot.resources(ROUTE).by_name["http_proxy"] is routes["http_proxy"]

    ns, svc = topo.names[1]
    host = f"{svc}.{ns}.svc.cluster.local"
    asked = f"outbound|8080|v1|{host}"
    assert asked in cp.snapshots[other.node_id].resources(CLUSTER).by_name
    after = cp.demand(client.node_id, (asked,))
    assert after is not None and after is cp.snapshots[client.node_id]
    assert _services(cp, client.node_id) == {host}
    assert _services(cp, client.node_id, ENDPOINT) == {host}
    clusters = {n for n in after.resources(CLUSTER).by_name if n.startswith("outbound|")}
    # the topology's VirtualService weighs v1 and v2: both come with one request; the plain
    # cluster (no route sends to it) does not
    assert clusters == {f"outbound|8080|{s}|{host}" for s in ("v1", "v2")}
    assert set(after.resources(ENDPOINT).by_name) == clusters
    assert cp.demand(client.node_id, (asked,)) is after  # known: nothing new to publish

    made_up = "outbound|8080||nowhere.example.svc.cluster.local"
    assert cp.demand(client.node_id, (made_up,)) is after  # not a service: scope unchanged
    assert cp.demanded[client.node_id] == frozenset(clusters)


def test_changes_to_services_never_called_are_not_pushed(on_demand_mesh: MakeMesh) -> None:
    cp, topo, instances = on_demand_mesh()
    client = instances[0]
    connect(cp, client)
    ns, svc = topo.names[1]
    cp.demand(client.node_id, (f"outbound|8080||{svc}.{ns}.svc.cluster.local",))
    before = cp.snapshots[client.node_id]

    far_ns, far_svc = topo.names[2]  # scale a service the client never called
    scaled = topo.instances(scaled=(far_ns, far_svc, "v1"))
    changed = cp.set_instances([instance_from_json(i.row()) for i in scaled])
    assert client.node_id not in changed
    assert cp.snapshots[client.node_id] is before

    rule = topo.destination_rule(far_ns, far_svc, "  trafficPolicy:\n    tls: {mode: DISABLE}\n")
    result = cp.apply([("dr.yaml", rule)])
    assert result.ok and client.node_id not in result.affected

    near = topo.instances(scaled=(ns, svc, "v1"))  # the service it called: pushed
    changed = cp.set_instances([instance_from_json(i.row()) for i in near])
    assert client.node_id in changed
    assert _services(cp, client.node_id, ENDPOINT) == {f"{svc}.{ns}.svc.cluster.local"}


def test_option_off_keeps_every_service_and_a_sidecar_resource_restricts_demand(
    on_demand_mesh: MakeMesh,
) -> None:
    cp, topo, instances = on_demand_mesh("off", clusters=False)
    connect(cp, instances[0])
    assert len(_services(cp, instances[0].node_id)) == len(topo.names)

    cp, topo, instances = on_demand_mesh("on")
    client = instances[0]
    ns = client.namespace
    sidecar = (
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\n"
        f"metadata: {{name: default, namespace: {ns}}}\n"
        f"spec:\n  egress:\n  - hosts: ['./{topo.names[1][1]}.{ns}.svc.cluster.local']\n"
    )
    assert cp.apply([("sidecar.yaml", sidecar)]).ok
    connect(cp, client)
    assert _services(cp, client.node_id) == set()  # on demand inside the Sidecar's scope
    inside, outside = topo.names[1], topo.names[2]
    wanted = [f"outbound|8080||{s}.{n}.svc.cluster.local" for n, s in (inside, outside)]
    cp.demand(client.node_id, tuple(wanted))
    # what is outside the Sidecar's egress hosts never comes, whatever Envoy asks for
    assert _services(cp, client.node_id) == {f"{inside[1]}.{inside[0]}.svc.cluster.local"}


def test_an_endpoint_change_left_unpushed_is_there_when_the_service_is_asked_for(
    on_demand_mesh: MakeMesh,
) -> None:
    cp, topo, instances = on_demand_mesh()
    client = instances[0]
    connect(cp, client)
    far_ns, far_svc = topo.names[2]
    cluster = f"outbound|8080|v1|{far_svc}.{far_ns}.svc.cluster.local"
    before = cp.snapshots[client.node_id]
    scaled = topo.instances(scaled=(far_ns, far_svc, "v1"))
    assert client.node_id not in cp.set_instances([instance_from_json(i.row()) for i in scaled])
    assert cp.snapshots[client.node_id] is before  # held nothing of it: not composed again
    wanted = {i.address for i in scaled if i.workload == f"{far_svc}-v1"}
    assert len(wanted) == 2
    parts = cp.current_parts(client.node_id)  # what a config dump shows: the new list
    assert parts is not None and _addresses(parts[0][0][ENDPOINT][cluster]) == wanted
    after = cp.demand(client.node_id, (cluster,))
    assert after is not None
    assert _addresses(after.messages(ENDPOINT)[cluster]) == wanted  # not the old list


def _addresses(assignment: Any) -> set[str]:
    return {
        e.endpoint.address.socket_address.address
        for group in assignment.endpoints
        for e in group.lb_endpoints
    }


def test_a_route_coming_to_name_another_service_brings_its_cluster(
    on_demand_mesh: MakeMesh,
) -> None:
    """A sidecar's narrowing kept from its last composition (`on_demand_since.narrowed_since`):
    taken again by a policy flip (its catch-all's route groups name no service), never once a
    route of a service it called comes to name another service (a weighted destination
    added): that service's cluster comes with the change, with the whole configuration as
    with on-demand virtual hosts."""
    for routes in (False, True):
        cp, topo, instances = on_demand_mesh(f"routes-{routes}", routes=routes)
        client = instances[0]
        connect(cp, client)
        (ns, svc), (far_ns, far) = topo.names[1], topo.names[2]
        host, far_host = f"{svc}.{ns}.svc.cluster.local", f"{far}.{far_ns}.svc.cluster.local"
        cp.demand(client.node_id, (f"outbound|8080|v1|{host}",))
        if routes:  # it holds the service's virtual host: the VirtualService change reaches it
            cp.demand_hosts(client.node_id, (f"http_proxy/{svc}.{ns}:8080",))
        for mode in ("REGISTRY_ONLY", "ALLOW_ANY"):
            assert cp.apply([("mesh.yaml", topo.mesh_config(mode))]).ok
            assert _services(cp, client.node_id) == {host}
        added = f"      weight: 5\n    - destination:\n        host: {far_host}\n      weight: 5\n"
        vs = topo.virtual_service(ns, svc).replace("      weight: 10\n", added)
        assert far_host in vs
        assert cp.apply([("vs.yaml", vs)]).ok
        assert _services(cp, client.node_id) == {host, far_host}
        assert f"outbound|8080||{far_host}" in cp.snapshots[client.node_id].names(CLUSTER)


def _ask(plane: ControlPlane, topo: Topology, clients: list[Instance], routes: bool) -> None:
    """Each client connects and calls two services (and asks for their virtual hosts)."""
    for n, client in enumerate(clients):
        connect(plane, client)
        called = [(n + k) % len(topo.names) for k in (1, 3)]
        plane.demand(client.node_id, tuple(topo.cluster(i) for i in called))
        if routes:
            hosts = [f"http_proxy/{topo.names[i][1]}.{topo.names[i][0]}:8080" for i in called]
            plane.demand_hosts(client.node_id, tuple(hosts))


@pytest.mark.parametrize("routes", [False, True])
def test_a_change_of_what_every_cluster_holds_narrows_to_the_same_names(
    on_demand_mesh: MakeMesh, monkeypatch: pytest.MonkeyPatch, routes: bool
) -> None:
    """Every rule given a connection pool, then another (bench/scale.py's DestinationRule
    row): the outbound block is new with the same names, so each sidecar's narrowed block is
    its last one's names with the new block's messages (`on_demand_since.narrowed_since`), nothing
    narrowed again; its snapshot is the one a control plane that had the rules before the
    sidecars connected gives (fails if the last block's messages are kept)."""
    cp, topo, instances = on_demand_mesh("changed", routes=routes)
    fresh, _, _ = on_demand_mesh("fresh", routes=routes)
    clients = instances[:6]
    _ask(cp, topo, clients, routes)
    names = {c.node_id: cp.snapshots[c.node_id].names(CLUSTER) for c in clients}
    assert cp.apply([("dr.yaml", topo.pooled_rules(512))]).ok
    narrowings: list[object] = []
    real = on_demand.narrowed

    def counted(*args: Any) -> Any:
        narrowings.append(args)
        return real(*args)

    monkeypatch.setattr(on_demand, "narrowed", counted)
    assert cp.apply([("dr.yaml", topo.pooled_rules(513))]).ok
    assert narrowings == []
    monkeypatch.undo()
    assert fresh.apply([("dr.yaml", topo.pooled_rules(513))]).ok
    _ask(fresh, topo, clients, routes)
    for client in clients:
        snapshot = cp.snapshots[client.node_id]
        assert snapshot.names(CLUSTER) == names[client.node_id]
        assert snapshot.version == fresh.snapshots[client.node_id].version
        pools = {
            c.circuit_breakers.thresholds[0].max_pending_requests.value
            for n, c in snapshot.messages(CLUSTER).items()
            if n.startswith("outbound|8080|")
        }
        assert pools == {513}
