"""`translate.route_view`: the namespaces of one view share their `http_proxy` route parts'
virtual hosts (a namespace but the first looks up none: its own services' are the first one's
with their short names added), and every visibility difference Istio knows splits the view: a
private VirtualService, one exported to a named namespace, the mesh's
`defaultVirtualServiceExportTo`, a namespace-local DestinationRule for another namespace's host,
a Sidecar. Whatever the order the namespaces are built in, each part is what building it alone
in a fresh push context gives: its virtual hosts by position, its domain index, the virtual
hosts always sent, its diagnostics and its recipe. The scale bench's mesh (bench/scale_mesh.py)
at 60 services: 3 namespaces of 20."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.translate.translate_harness import load_case

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.model.node import DELTA_XDS_KEY
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import derived_routes, route_view, sidecar_scope, slots
from pilotfish.translate.generate import generate_parts
from pilotfish.translate.outbound import outbound_block
from pilotfish.translate.vhds_part import OnDemandRoutePart

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scale_mesh import Topology

SERVICES, NAMESPACES = 60, 3
HOST = "svc-25.ns-1.svc.cluster.local"  # a service of ns-1 whose routes a difference changes


def _mesh(path: Path, extra: str = "") -> tuple[ControlPlane, list[Proxy]]:
    """A control plane holding the bench's mesh (and `extra`), and a proxy of each namespace."""
    topo = Topology(SERVICES, 2 * SERVICES)
    cp = ControlPlane(path, on_demand_clusters=True, on_demand_routes=True)
    cp.load_state()
    docs = [("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]
    result = cp.apply(docs + ([("x.yaml", extra)] if extra else []))
    assert result.ok, [str(d) for d in result.diagnostics]
    cp.connected = lambda: list(cp.proxies)
    instances = topo.instances()
    cp.set_instances([instance_from_json(i.row()) for i in instances])
    firsts = [next(i for i in instances if i.namespace == ns) for ns in topo.namespaces]
    assert len(firsts) == NAMESPACES
    for instance in firsts:
        metadata = instance.metadata(9000) | {DELTA_XDS_KEY: "true"}
        assert cp.snapshot_for_node(instance.node_id, metadata) is not None
    return cp, [cp.proxies[i.node_id] for i in firsts]


def _route_part(proxy: Proxy, push: PushContext) -> OnDemandRoutePart:
    found = [p for p in generate_parts(proxy, push)[0] if isinstance(p, OnDemandRoutePart)]
    assert len(found) == 1
    return found[0]


def _recipe(proxy: Proxy, push: PushContext) -> derived_routes.Recipe:
    scoped = sidecar_scope.scoped_push(proxy, push)
    records = [
        v for v in scoped.memo.values() if isinstance(v, derived_routes.Built)
    ]  # the part's record, kept for later push contexts to derive from
    return next(r.recipe for r in records if r.resources is _route_part(proxy, push))


def _assert_same(a: OnDemandRoutePart, b: OnDemandRoutePart, what: str) -> None:
    assert list(a.vhosts) == list(b.vhosts), what
    assert a.index == b.index, what
    assert dict(a.always) == dict(b.always), what
    assert [str(d) for d in a.diagnostics] == [str(d) for d in b.diagnostics], what
    assert a.slots == b.slots and a.tidy == b.tidy, what


def _alone(cp: ControlPlane, proxy: Proxy) -> tuple[OnDemandRoutePart, derived_routes.Recipe]:
    push = cp.push_context()  # fresh, nothing carried: the first (and only) of its view
    return _route_part(proxy, push), _recipe(proxy, push)


def _lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The namespace of every slot looked up (`virtual_hosts.slot_unit`) by a view."""
    found: list[str] = []
    original: Callable[..., Any] = vars(route_view)["slot_unit"]

    def counted(proxy: Proxy, *args: Any) -> Any:
        found.append(proxy.namespace)
        return original(proxy, *args)

    monkeypatch.setattr(route_view, "slot_unit", counted)
    return found


def _check_every_order(cp: ControlPlane, proxies: list[Proxy]) -> None:
    alone = {p.namespace: _alone(cp, p) for p in proxies}
    for order in (proxies, proxies[::-1], proxies[1:] + proxies[:1]):
        push = cp.push_context()
        for proxy in order:
            part, recipe = _route_part(proxy, push), _recipe(proxy, push)
            _assert_same(part, alone[proxy.namespace][0], proxy.namespace)
            assert recipe == alone[proxy.namespace][1], proxy.namespace


def _views(proxies: list[Proxy], push: PushContext) -> list[object]:
    """Each proxy's view, with the push context it is kept in (`sidecar_scope.scoped_push`)."""
    found: list[object] = []
    for proxy in proxies:
        scoped = sidecar_scope.scoped_push(proxy, push)
        specs = derived_routes.route_specs(
            scoped, proxy.namespace, outbound_block(proxy.namespace, scoped).specs
        )
        found.append((id(scoped), route_view.view_key(proxy, scoped, specs)))
    return found


def test_namespaces_with_equal_views_share_their_virtual_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp, proxies = _mesh(tmp_path)
    push = cp.push_context()
    views = _views(proxies, push)
    assert views[0] == views[1] == views[2]
    lookups = _lookups(monkeypatch)
    parts = [_route_part(p, push) for p in proxies]
    # the first namespace looks every slot up; the others none (their own services' virtual
    # hosts, and the first one's, are the first one's with other domains)
    assert lookups.count("ns-0") == SERVICES
    assert lookups.count("ns-1") == lookups.count("ns-2") == 0
    at = parts[0].index.lookup("svc-45.ns-2.svc.cluster.local:8080")
    assert at is not None and parts[0].vhosts[at] is parts[1].vhosts[at]  # the same object
    own_host = parts[2].index.lookup("svc-45:8080")  # ns-2's own short name
    assert own_host == at and parts[0].index.lookup("svc-45:8080") == parts[0].index.default
    assert list(parts[2].vhosts[at].domains)[-1] == "svc-45:8080"
    monkeypatch.undo()
    _check_every_order(cp, proxies)


def _vs(name: str, ns: str, export_to: str, subset: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata:\n  name: {name}\n  namespace: {ns}\n"
        f"spec:\n  hosts: [{HOST}]\n  exportTo: {export_to}\n  http:\n"
        f"  - route:\n    - destination:\n        host: {HOST}\n        subset: {subset}\n"
    )


_HASHED_RULE = (
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
    "metadata:\n  name: local\n  namespace: ns-2\n"
    f"spec:\n  host: {HOST}\n  trafficPolicy:\n    loadBalancer:\n      consistentHash:\n"
    "        httpHeaderName: x-user\n  subsets:\n  - name: v1\n    labels:\n      version: v1\n"
    "  - name: v2\n    labels:\n      version: v2\n"
)
_SIDECAR = (
    "apiVersion: networking.istio.io/v1\nkind: Sidecar\n"
    "metadata:\n  name: default\n  namespace: ns-2\n"
    "spec:\n  egress:\n  - hosts: ['./*', 'ns-1/*']\n"
)
_PRIVATE_BY_DEFAULT = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio\n  namespace: istio-system\n"
    "data:\n  mesh: |\n    defaultVirtualServiceExportTo: ['.']\n"
)

DIFFERENCES = {  # the difference, and which namespaces (by index) then share a view
    "private VirtualService": (_vs("aaa", "ns-0", "['.']", "v2"), [[0], [1, 2]]),
    "VirtualService exported to a named namespace": (
        _vs("aaa", "ns-0", "[ns-2]", "v2"),
        [[0, 1], [2]],
    ),
    "defaultVirtualServiceExportTo": (_PRIVATE_BY_DEFAULT, [[0], [1], [2]]),
    "namespace-local DestinationRule for a foreign host": (_HASHED_RULE, [[0, 1], [2]]),
    "Sidecar": (_SIDECAR, [[0, 1], [2]]),
}


@pytest.mark.parametrize("difference", DIFFERENCES)
def test_each_visibility_difference_splits_the_view(tmp_path: Path, difference: str) -> None:
    extra, groups = DIFFERENCES[difference]
    cp, proxies = _mesh(tmp_path, extra)
    views = _views(proxies, cp.push_context())
    for group in groups:
        for other in groups:
            same = views[group[0]] == views[other[0]]
            assert same == (group is other), (difference, group, other)
        assert all(views[i] == views[group[0]] for i in group), (difference, group)
    _check_every_order(cp, proxies)
    alone = [_alone(cp, p)[0] for p in proxies]
    hosts = [a.index.lookup(f"{HOST}:8080") for a in alone]
    vhosts = [a.vhosts[h] for a, h in zip(alone, hosts, strict=True) if h is not None]
    assert len(vhosts) == NAMESPACES
    if difference == "Sidecar":  # ns-2 sees its own and ns-1's services only
        assert len(alone[2].vhosts) == len(alone[0].vhosts) - SERVICES // NAMESPACES
    elif difference != "defaultVirtualServiceExportTo":  # there: each its own, routes alike
        split = groups[-1][0] if len(groups[-1]) == 1 else groups[0][0]
        assert vhosts[split] != vhosts[(split + 1) % 3]


CASES = sorted(p for p in (Path(__file__).parent / "testdata").iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_a_namespaces_slots_are_what_computing_them_whole_gives(case: Path) -> None:
    """`slots.http_slots` from the foreign slots (or whole, when a short name is some other
    slot's domain) is `_all_slots` for every namespace of every testdata case."""
    _, push = load_case(case)
    namespaces = {s.namespace for s in push.services} | {"elsewhere"}
    for namespace in sorted(namespaces):
        assert slots.http_slots(push, namespace) == slots._all_slots(push, namespace), namespace


def test_a_short_name_another_slot_claims_computes_the_slots_whole(tmp_path: Path) -> None:
    entry = (  # `svc-1:8080`, ns-0's short name of svc-1, is this entry's host
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
        "metadata:\n  name: short\n  namespace: ns-2\n"
        "spec:\n  hosts: [svc-1]\n  location: MESH_INTERNAL\n  resolution: STATIC\n"
        "  endpoints: [{address: 127.9.9.9}]\n"
        "  ports: [{number: 8080, name: http, protocol: HTTP}]\n"
    )
    cp, proxies = _mesh(tmp_path, entry)
    push = cp.push_context()
    assert slots._own_slots(push, "ns-0") is None and slots._own_slots(push, "ns-1") is not None
    for namespace in ("ns-0", "ns-1", "ns-2"):
        assert slots.http_slots(push, namespace) == slots._all_slots(push, namespace), namespace
    _check_every_order(cp, proxies)
