"""`translate.derived_routes`: after VirtualService changes, the namespaces' `http_proxy`
configurations derived from the previous push context's are what building them from scratch
gives — virtual hosts, their order, diagnostics — and so is what on-demand sidecars are sent
of them (their VHDS virtual hosts, from parts built without the whole configuration:
`http_proxy_part.vhds_built`, derived alike: `derived_vhds`); changes it must not derive
from (a DestinationRule, a delegate) are built whole."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.controlplane.scale_kit import MakeMesh, Topology, connect

from pilotfish.controlplane.core import ControlPlane
from pilotfish.translate import derived_routes, http_proxy_part
from pilotfish.translate.generate import generate_parts
from pilotfish.translate.http_proxy_part import whole_parts
from pilotfish.translate.names import HTTP_PROXY_ROUTE_CONFIG
from pilotfish.translate.vhds_part import OnDemandRoutePart
from pilotfish.type_urls import ROUTE, VIRTUAL_HOST


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
    """(file name, YAML, whether the namespaces' configurations are derived)."""
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
        ("dr.yaml", _destination_rule(ns, svc), False),
    ]


def _destination_rule(ns: str, svc: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata:\n  name: {svc}-extra\n  namespace: {ns}\n"
        f"spec:\n  host: {svc}\n  trafficPolicy:\n    connectionPool:\n      tcp:\n"
        "        maxConnections: 7\n"
    )


def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Derivations that gave a part: whole configurations (`derived_routes.derived`) and
    parts of sidecars with on-demand virtual hosts (`http_proxy_part.derived_vhds`)."""
    counts = {"derived": 0}
    for module, name in ((derived_routes, "derived"), (http_proxy_part, "derived_vhds")):
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
    (`http_proxy_part.vhds_built`) are derived the same way (`derived_vhds`), and what they
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
