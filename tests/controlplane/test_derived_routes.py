"""`translate.derived_routes`: after VirtualService changes, the namespaces' `http_proxy`
configurations derived from the previous push context's are what building them from scratch
gives — virtual hosts, their order, diagnostics — and so is what on-demand sidecars are sent
of them (their VHDS virtual hosts, from parts built without the whole configuration:
`http_proxy_part.vhds_built`, derived alike: `derived_part`); changes it must not derive
from (a DestinationRule, a delegate) are built whole; an outbound policy change derives every
namespace's part from the last one built, however many changes ago."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.controlplane.scale_kit import Instance, MakeMesh, Topology, connect

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.translate import derived_routes
from pilotfish.translate.generate import generate_parts
from pilotfish.translate.http_proxy_part import whole_parts
from pilotfish.translate.names import HTTP_PROXY_ROUTE_CONFIG
from pilotfish.translate.vhds_part import OnDemandRoutePart
from pilotfish.type_urls import LISTENER, ROUTE, VIRTUAL_HOST


def _wildcard(ns: str, svc: str) -> str:
    """A VirtualService for every host of `ns`, sending them all to `svc`."""
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata:\n  name: all\n  namespace: {ns}\n"
        f"spec:\n  hosts: ['*.{ns}.svc.cluster.local']\n  http:\n"
        f"  - route:\n    - destination:\n        host: {svc}.{ns}.svc.cluster.local\n"
    )


def _delegating(ns: str, svc: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata:\n  name: {svc}\n  namespace: {ns}\n"
        f"spec:\n  hosts: [{svc}]\n  http:\n  - delegate:\n      name: child\n"
    )


def _child(ns: str, svc: str, subset: str, hosts: str = "") -> str:
    """The delegate `child` (with `hosts`, a VirtualService of its own: no delegate)."""
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata:\n  name: child\n  namespace: {ns}\n"
        f"spec:\n  hosts: [{hosts}]\n  http:\n  - route:\n    - destination:\n"
        f"        host: {svc}\n        subset: {subset}\n"
    )


def _changes(topo: Topology) -> list[tuple[str, str, bool]]:
    """(file name, YAML, whether the namespaces' configurations are derived: a DestinationRule
    change is when what virtual hosts read of the cluster specs, `derived_routes.route_specs`,
    is the same)."""
    (ns, svc), (ns2, svc2) = topo.names[0], topo.names[-1]
    other = next(s for n, s in topo.names if n == ns2 and s != svc2)
    return [
        ("vs.yaml", topo.virtual_service(ns, svc, 70), True),
        ("vs2.yaml", topo.virtual_service(ns2, svc2, 20), True),
        ("wild.yaml", _wildcard(ns, svc), True),  # covers every host of ns
        ("vs.yaml", topo.virtual_service(ns, svc, 65), True),  # exact beats the wildcard
        ("child.yaml", _child(ns2, svc2, "v1"), False),  # a delegate: no hosts
        ("root.yaml", _delegating(ns2, svc2), True),
        ("child.yaml", _child(ns2, svc2, "v2"), False),
        ("child.yaml", _child(ns2, svc2, "v2", hosts=other), False),  # the root loses it
        ("dr.yaml", _destination_rule(ns, svc), True),  # a connection pool: no route reads it
        ("hash.yaml", topo.destination_rule(ns2, svc2, _HASHED.replace("x-user", "x-b")), False),
        ("hash.yaml", topo.destination_rule(ns2, svc2, _HASHED), False),  # its routes hash
        ("hash.yaml", topo.destination_rule(ns2, svc2, _HASHED + _POOL), True),  # the same hash
    ]


_HASHED = (
    "  trafficPolicy:\n    loadBalancer:\n      consistentHash:\n        httpHeaderName: x-user\n"
)
_POOL = "    connectionPool:\n      http:\n        http1MaxPendingRequests: 9\n"


def _destination_rule(ns: str, svc: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata:\n  name: {svc}-extra\n  namespace: {ns}\n"
        f"spec:\n  host: {svc}\n  trafficPolicy:\n    connectionPool:\n      tcp:\n"
        "        maxConnections: 7\n"
    )


def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Derivations that gave a part: whole configurations (`derived_routes.derived`) and
    parts of sidecars with on-demand virtual hosts (`derived_routes.derived_part`)."""
    counts = {"derived": 0}
    for module, name in ((derived_routes, "derived"), (derived_routes, "derived_part")):
        original: Callable[..., Any] = getattr(module, name)

        def counted(*args: Any, original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            found = original(*args, **kwargs)
            counts["derived"] += found is not None
            return found

        monkeypatch.setattr(module, name, counted)
    return counts


def _same_as_from_scratch(cp: ControlPlane) -> None:
    scratch = cp.push_context()  # no carry: everything built again
    for node_id, proxy in cp.proxies.items():
        parts = cp.current_parts(node_id)
        assert parts is not None
        scratch_parts = generate_parts(proxy, scratch)[0]
        raw = cp.generated[node_id][0]  # as translated (`current_parts` refreshed it)
        for mine, theirs in zip(raw, scratch_parts, strict=True):
            if isinstance(theirs, OnDemandRoutePart):  # built without the whole configuration
                assert isinstance(mine, OnDemandRoutePart), node_id
                assert list(mine.vhosts) == list(theirs.vhosts), node_id
                assert mine.index == theirs.index, node_id
                assert dict(mine.always) == dict(theirs.always), node_id
        shared = whole_parts(proxy, scratch, scratch_parts)
        built = {n: m for part in parts[0] for n, m in part[ROUTE].items()}
        fresh = {n: m for part in shared for n, m in part[ROUTE].items()}
        assert built[HTTP_PROXY_ROUTE_CONFIG] == fresh[HTTP_PROXY_ROUTE_CONFIG], node_id
        notes = [str(d) for part in parts[0] for d in part.diagnostics]
        assert notes == [str(d) for part in shared for d in part.diagnostics], node_id


@pytest.mark.parametrize("routes", [False, True])
def test_derived_configurations_are_what_a_full_build_gives(
    on_demand_mesh: MakeMesh, monkeypatch: pytest.MonkeyPatch, routes: bool
) -> None:
    """Sidecars with on-demand virtual hosts build no whole configuration: their parts
    (`http_proxy_part.vhds_built`) are derived the same way (`derived_part`), and what they
    are sent is checked against a fresh control plane's."""
    counts = _counting(monkeypatch)
    cp, topo, instances = on_demand_mesh(routes=routes)
    hosts = tuple(f"http_proxy/{s}.{n}:8080" for n, s in (topo.names[0], topo.names[-1]))
    for instance in instances:
        connect(cp, instance)
        cp.demand_hosts(instance.node_id, hosts)
    for name, text, derives in _changes(topo):
        before = counts["derived"]
        assert cp.apply([(name, text)]).ok, name
        assert (counts["derived"] > before) == derives, name
        _same_as_from_scratch(cp)
    fresh, _, _ = on_demand_mesh("fresh", routes=routes)
    for name, text, _ in _changes(topo):
        assert fresh.apply([(name, text)]).ok
    for instance in instances:  # what each sidecar is sent: a fresh control plane's
        connect(fresh, instance)
        fresh.demand_hosts(instance.node_id, hosts)
        sent = cp.snapshots[instance.node_id].messages(VIRTUAL_HOST)
        assert sent == fresh.snapshots[instance.node_id].messages(VIRTUAL_HOST)


def test_a_policy_change_derives_every_namespace_from_the_last_one_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbound policy flipped after a VirtualService change that one namespace's
    sidecars were left out of (its configuration last built a push context earlier): every
    namespace's configuration is derived (the catch-all swapped, the changed host rebuilt)
    from the last one built, and is what translation from scratch gives; the sidecars' own
    parts (LDS) are unchanged; what on-demand sidecars are then sent is what a fresh control
    plane sends. Fails if a derivation starts from a configuration that is not the newest
    built, or skips the catch-all."""
    counts = _counting(monkeypatch)
    topo = Topology(24, 48)  # ns-0: 20 services, ns-1: 4; a sidecar per Workload
    cp, instances = _mesh(tmp_path / "cp", topo)
    holder = next(i for i in instances if i.namespace == "ns-0")
    other = next(i for i in instances if i.namespace == "ns-1")
    far_ns, far_svc = topo.names[-1]
    alias = f"http_proxy/{far_svc}.{far_ns}:8080"
    for instance in instances:  # ns-1's all on demand: none holds the changed host
        connect(cp, instance, delta=instance.name.endswith("-0") or instance.namespace == "ns-1")
    cp.demand_hosts(holder.node_id, (alias,))
    listeners = {n: cp.snapshots[n].resources(LISTENER).version for n in cp.proxies}
    vs = ("far.yaml", topo.virtual_service(far_ns, far_svc, 55))
    assert holder.node_id in cp.apply([vs]).affected
    changes = [vs]
    for mode in ("REGISTRY_ONLY", "ALLOW_ANY", "REGISTRY_ONLY"):
        before = counts["derived"]
        changes.append(("mesh.yaml", topo.mesh_config(mode)))
        assert cp.apply([changes[-1]]).ok
        assert counts["derived"] - before >= 2, mode  # both namespaces, none built whole
        assert cp.regenerated == 0
        assert {n: cp.snapshots[n].resources(LISTENER).version for n in cp.proxies} == listeners
        _same_as_from_scratch(cp)
    asked = (alias, "http_proxy/nowhere.example:81")
    cp.demand_hosts(other.node_id, asked)
    fresh, _ = _mesh(tmp_path / "fresh", topo)
    for change in changes:
        assert fresh.apply([change]).ok
    for node, hosts in ((holder, (alias,)), (other, asked)):
        connect(fresh, node)
        fresh.demand_hosts(node.node_id, hosts)
        sent = cp.snapshots[node.node_id].messages(VIRTUAL_HOST)
        assert sent == fresh.snapshots[node.node_id].messages(VIRTUAL_HOST), node.node_id
    assert "direct_response" in str(sent["http_proxy/nowhere.example:81"])
    assert "value: 55" in str(sent[f"http_proxy/{far_svc}.{far_ns}.svc.cluster.local:8080"])


def _mesh(path: Path, topo: Topology) -> tuple[ControlPlane, list[Instance]]:
    cp = ControlPlane(path, on_demand_clusters=True, on_demand_routes=True)
    cp.load_state()
    assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
    cp.connected = lambda: list(cp.proxies)
    instances = topo.instances()
    cp.set_instances([instance_from_json(i.row()) for i in instances])
    return cp, instances
