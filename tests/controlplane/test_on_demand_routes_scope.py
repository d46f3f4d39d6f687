"""On-demand virtual hosts in the control plane (`PILOTFISH_ON_DEMAND_ROUTES`): a delta
sidecar's `http_proxy` route configuration holds no virtual host and names VHDS; `demand_hosts`
(what the xDS server calls when Envoy asks for `http_proxy/<host>`) adds the virtual host the
full configuration routes that host to; a VirtualService change is pushed to the sidecars
holding its virtual host (with that virtual host only) and to no other; a state-of-the-world
sidecar keeps the full route configuration; what is published after a sequence of changes is
what a from-scratch generation gives for the same hosts asked."""

from __future__ import annotations

from envoy.config.route.v3 import route_pb2
from tests.controlplane.scale_kit import MakeMesh, connect

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.translate import on_demand_routes
from pilotfish.translate.vhds_part import OnDemandRoutePart
from pilotfish.type_urls import ROUTE, VIRTUAL_HOST


def _vhosts(cp: ControlPlane, node_id: str) -> dict[str, bytes]:
    found = cp.snapshots[node_id].resources(VIRTUAL_HOST).by_name
    return {name: resource.any_bytes for name, resource in found.items()}


def _http_proxy(cp: ControlPlane, node_id: str) -> route_pb2.RouteConfiguration:
    config = cp.snapshots[node_id].messages(ROUTE)["http_proxy"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    return config


def test_a_delta_sidecar_starts_with_no_virtual_host_and_asks(on_demand_mesh: MakeMesh) -> None:
    cp, topo, instances = on_demand_mesh(routes=True)
    client, sotw = instances[0], instances[1]
    connect(cp, client)
    connect(cp, sotw, delta=False)
    config = _http_proxy(cp, client.node_id)
    assert list(config.virtual_hosts) == [] and config.HasField("vhds")
    assert set(_vhosts(cp, client.node_id)) == {"http_proxy/pod_local"}
    full = _http_proxy(cp, sotw.node_id)  # state of the world: every virtual host, as before
    assert not full.HasField("vhds") and len(full.virtual_hosts) > len(topo.names)
    assert _vhosts(cp, sotw.node_id) == {}

    ns, svc = topo.names[1]
    alias, made_up = f"http_proxy/{svc}.{ns}:8080", "http_proxy/nowhere.example:81"
    answers = cp.demand_hosts(client.node_id, (alias, made_up))
    name = f"http_proxy/{svc}.{ns}.svc.cluster.local:8080"
    assert answers == {alias: name, made_up: made_up}
    held = cp.snapshots[client.node_id].messages(VIRTUAL_HOST)
    assert set(held) == {"http_proxy/pod_local", name, made_up}
    same = next(v for v in full.virtual_hosts if v.name == f"{svc}.{ns}.svc.cluster.local:8080")
    assert list(held[name].domains) == list(same.domains)
    assert list(held[name].routes) == list(same.routes)
    assert list(held[made_up].domains) == ["nowhere.example:81"]
    assert "PassthroughCluster" in str(held[made_up])  # the catch-all's answer (ALLOW_ANY)
    assert cp.demand_hosts(sotw.node_id, (alias,)) == {}  # not a VHDS proxy: no answer


def test_a_virtual_service_change_reaches_only_the_holders(on_demand_mesh: MakeMesh) -> None:
    cp, topo, instances = on_demand_mesh(routes=True)
    holder, other = instances[0], instances[1]
    connect(cp, holder)
    connect(cp, other)
    ns, svc = topo.names[2]
    name = f"http_proxy/{svc}.{ns}.svc.cluster.local:8080"
    assert cp.demand_hosts(holder.node_id, (f"http_proxy/{svc}.{ns}:8080",)) == {
        f"http_proxy/{svc}.{ns}:8080": name
    }
    before_holder, before_other = _vhosts(cp, holder.node_id), cp.snapshots[other.node_id]
    result = cp.apply([("vs.yaml", topo.virtual_service(ns, svc, 70))])
    assert result.ok
    assert holder.node_id in result.affected and other.node_id not in result.affected
    assert cp.snapshots[other.node_id] is before_other
    after = _vhosts(cp, holder.node_id)
    changed = {n for n in after if after[n] != before_holder.get(n)}
    assert changed == {name}
    vhost = cp.snapshots[holder.node_id].messages(VIRTUAL_HOST)[name]
    assert "value: 70" in str(vhost) and "value: 30" in str(vhost)


def test_published_after_changes_is_what_a_fresh_generation_gives(on_demand_mesh: MakeMesh) -> None:
    cp, topo, instances = on_demand_mesh(routes=True)
    client = instances[0]
    connect(cp, client)
    asked = (*tuple(f"http_proxy/{s}.{n}:8080" for n, s in topo.names[:3]), "http_proxy/x:1")
    cp.demand_hosts(client.node_id, asked)
    ns, svc = topo.names[0]
    assert cp.apply([("vs.yaml", topo.virtual_service(ns, svc, 60))]).ok
    assert cp.apply([("mesh.yaml", topo.mesh_config("REGISTRY_ONLY"))]).ok
    assert cp.regenerated == 0  # the policy alone: HTTP proxy listeners rebuilt, not translated
    scaled = topo.instances(scaled=(ns, svc, "v1"))
    cp.set_instances([instance_from_json(i.row()) for i in scaled])
    assert "direct_response" in str(
        cp.snapshots[client.node_id].messages(VIRTUAL_HOST)["http_proxy/x:1"]
    )
    # a VirtualService of a host it does not hold: not pushed, and asked for later, the
    # virtual host is the changed one
    far_ns, far_svc = topo.names[-1]
    held = cp.snapshots[client.node_id]
    result = cp.apply([("far.yaml", topo.virtual_service(far_ns, far_svc, 55))])
    assert result.ok and client.node_id not in result.affected
    assert cp.snapshots[client.node_id] is held
    asked += (f"http_proxy/{far_svc}.{far_ns}:8080",)
    cp.demand_hosts(client.node_id, asked[-1:])
    far = f"http_proxy/{far_svc}.{far_ns}.svc.cluster.local:8080"
    assert "value: 55" in str(cp.snapshots[client.node_id].messages(VIRTUAL_HOST)[far])
    incremental = cp.snapshots[client.node_id]

    fresh, _, _ = on_demand_mesh("fresh", routes=True)
    assert fresh.apply([("vs.yaml", topo.virtual_service(ns, svc, 60))]).ok
    assert fresh.apply([("far.yaml", topo.virtual_service(far_ns, far_svc, 55))]).ok
    assert fresh.apply([("mesh.yaml", topo.mesh_config("REGISTRY_ONLY"))]).ok
    fresh.set_instances([instance_from_json(i.row()) for i in scaled])
    connect(fresh, client)
    fresh.demand_hosts(client.node_id, asked)
    assert fresh.snapshots[client.node_id].version == incremental.version


def test_a_policy_change_builds_no_virtual_host_again(on_demand_mesh: MakeMesh) -> None:
    """The manifest is read again for a mesh setting, but its services are equal: they stay the
    very objects, so every virtual host (keyed on them) is reused, not built again, and so is
    what the sidecar is sent of the services' (the first piece, `published_pieces`: its check
    and bytes are kept with it); only the catch-all's answer is new. What is published is what
    a fresh generation gives."""
    cp, topo, instances = on_demand_mesh(routes=True)
    client = instances[0]
    connect(cp, client)
    asked = (*tuple(f"http_proxy/{s}.{n}:8080" for n, s in topo.names[:3]), "http_proxy/x:1")
    cp.demand_hosts(client.node_id, asked)
    services = cp.push.registry.services
    before = cp.generated[client.node_id][0][-1]
    pieces, _ = on_demand_routes.published_pieces(before, asked, cp.push)
    assert cp.apply([("mesh.yaml", topo.mesh_config("REGISTRY_ONLY"))]).ok
    assert cp.push.registry.services is services
    after = cp.generated[client.node_id][0][-1]
    assert isinstance(before, OnDemandRoutePart) and isinstance(after, OnDemandRoutePart)
    slots = before.slots
    assert after is not before and after.slots == slots
    assert all(a is b for a, b in zip(before.vhosts[:slots], after.vhosts[:slots], strict=True))
    now, _ = on_demand_routes.published_pieces(after, asked, cp.push)
    assert now[0] is pieces[0] and now[1] is not pieces[1]  # the catch-all's answer only
    incremental = cp.snapshots[client.node_id]
    assert "direct_response" in str(incremental.messages(VIRTUAL_HOST)["http_proxy/x:1"])

    fresh, _, _ = on_demand_mesh("fresh", routes=True)
    assert fresh.apply([("mesh.yaml", topo.mesh_config("REGISTRY_ONLY"))]).ok
    connect(fresh, client)
    fresh.demand_hosts(client.node_id, asked)
    assert fresh.snapshots[client.node_id].version == incremental.version


def test_option_off_sends_the_full_route_configuration(on_demand_mesh: MakeMesh) -> None:
    cp, topo, instances = on_demand_mesh()
    connect(cp, instances[0])
    config = _http_proxy(cp, instances[0].node_id)
    assert not config.HasField("vhds") and len(config.virtual_hosts) > len(topo.names)
    assert cp.demand_hosts(instances[0].node_id, ("http_proxy/a:1",)) == {}


def test_apply_notes_come_from_the_holders_and_never_from_an_old_version(
    on_demand_mesh: MakeMesh,
) -> None:
    cp, topo, instances = on_demand_mesh(routes=True)
    ns, svc = topo.names[3]
    bad = topo.virtual_service(ns, svc, 70).replace("subset: v2", "subset: v9")
    assert cp.apply([("bad.yaml", bad)]).ok
    for instance in instances:  # connected now: translated with the bad rule, noted by all
        connect(cp, instance)
    assert all(any("v9" in str(n) for n in notes) for notes in cp.translation_notes.values())
    cp.demand_hosts(instances[0].node_id, (f"http_proxy/{svc}.{ns}:8080",))
    again = cp.apply([("bad.yaml", bad.replace("weight: 70", "weight: 60"))])
    assert again.affected == [instances[0].node_id]
    assert any("v9" in str(n) for n in again.diagnostics), [str(n) for n in again.diagnostics]
    fixed = cp.apply([("bad.yaml", topo.virtual_service(ns, svc, 60))])
    assert fixed.ok and fixed.affected == [instances[0].node_id]
    assert [str(n) for n in fixed.diagnostics] == []  # not the old version's, from the others
