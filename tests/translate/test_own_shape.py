"""`translate.own_shape`: a sidecar's own part spliced from its shape is, byte for byte, the
part translated for the sidecar itself — for every testdata case, for another pod of the same
shape (other address, pod name and app ports), and for every proxy of the scale benchmark's
mesh; and a stand-in value found where it would not be spliced makes the proxy translated as
itself."""

from __future__ import annotations

import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from envoy.config.route.v3 import route_pb2
from tests.translate.translate_harness import TESTDATA, load_case

from pilotfish.controlplane.assembly import SnapshotAssembly
from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.model.node import DELTA_XDS_KEY, proxy_from_node
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import own_shape
from pilotfish.translate.generate import generate_parts, sidecar_own
from pilotfish.translate.own_shape import SplicedPart
from pilotfish.translate.resources import ProxyResources
from pilotfish.type_urls import LISTENER, RESOURCE_TYPES, ROUTE

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scale_mesh import Topology

CASES = sorted(p for p in TESTDATA.iterdir() if p.is_dir())


def _own(proxy: Proxy, push: PushContext) -> ProxyResources:
    return own_shape.own_part(proxy, push, partial(sidecar_own, push=push))


def _assert_same(got: ProxyResources, expected: ProxyResources) -> None:
    for type_url in RESOURCE_TYPES:
        assert list(got[type_url]) == list(expected[type_url]), type_url
        for name, message in expected[type_url].items():
            data = message.SerializeToString(deterministic=True)
            assert got[type_url][name].SerializeToString(deterministic=True) == data, name
    assert [str(d) for d in got.diagnostics] == [str(d) for d in expected.diagnostics]
    if isinstance(got, SplicedPart):  # what the snapshot assembly encodes
        for name, (standin, head) in got.heads.items():
            rest = got.shape.rest[standin][1]
            assert head + rest == expected[LISTENER][name].SerializeToString(deterministic=True)


def _other_pod(proxy: Proxy) -> Proxy:
    """Another pod of the same workload: its own address, name and app ports."""
    ports = tuple((c, a + 7) for c, a in proxy.app_ports)
    return replace(proxy, ip="127.31.4.9", instance=f"{proxy.instance}-b", app_ports=ports)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_spliced_own_part_is_the_proxys_own_translation(case: Path) -> None:
    """The first pod of a kind is translated as itself; a second one makes the shape, which
    that one and every later one (the first again) are spliced from."""
    proxy, push = load_case(case)
    for pod in (proxy, _other_pod(proxy), proxy) if not proxy.is_gateway else ():
        _assert_same(_own(pod, push), sidecar_own(pod, push))


def test_most_sidecar_cases_are_spliced() -> None:
    """The shapes are used (a test of splicing that never splices proves nothing)."""
    spliced = 0
    for case in CASES:
        proxy, push = load_case(case)
        if not proxy.is_gateway:
            assert not isinstance(_own(proxy, push), SplicedPart)
            spliced += isinstance(_own(_other_pod(proxy), push), SplicedPart)
    assert spliced >= len(CASES) // 2


def test_every_proxy_of_the_scale_mesh_is_its_own_translation(tmp_path: Path) -> None:
    topo = Topology(10, 60)  # 20 workloads, three pods each
    cp = ControlPlane(tmp_path, on_demand_clusters=True, on_demand_routes=True)
    cp.load_state()
    assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
    cp.set_instances([instance_from_json(i.row()) for i in topo.instances()])
    shapes, spliced = set(), 0
    for instance in topo.instances():  # app ports differ, as bench/scale.py's pods' do
        metadata = instance.metadata() | {DELTA_XDS_KEY: "true"}
        proxy = proxy_from_node(instance.node_id, metadata)
        own = _own(proxy, cp.push)
        if isinstance(own, SplicedPart):
            shapes.add(id(own.shape))
            spliced += 1
        _assert_same(own, sidecar_own(proxy, cp.push))
    assert spliced == 40  # all but the first pod of each workload
    assert len(shapes) == 10  # one a service: its two workloads' parts are the same


def test_a_standin_value_translation_reads_elsewhere_makes_the_proxy_translated_as_itself() -> None:
    proxy, push = load_case(TESTDATA / "bookinfo-no-rules")
    _own(proxy, push)
    assert isinstance(_own(_other_pod(proxy), push), SplicedPart)

    def leaky(pod: Proxy) -> ProxyResources:  # the address in a route configuration
        own = sidecar_own(pod, push)
        extra = route_pb2.RouteConfiguration(name=f"leak|{pod.ip}")
        messages = [m for t in RESOURCE_TYPES for m in own[t].values()]
        return ProxyResources.build([*messages, extra], own.diagnostics)

    _, fresh = load_case(TESTDATA / "bookinfo-no-rules")
    for pod in (proxy, _other_pod(proxy), proxy):
        got = own_shape.own_part(pod, fresh, leaky)
        assert not isinstance(got, SplicedPart)
        assert f"leak|{pod.ip}" in got[ROUTE]


def test_a_spliced_part_is_composed_and_checked_as_the_proxys_own() -> None:
    """The snapshot assembly serialises a spliced part's listeners from their heads and its
    shape's bytes, and checks its shape once: the same snapshot (versions) and the same
    problems as of the part translated for the pod itself, whatever the shared parts."""
    proxy, push = load_case(TESTDATA / "bookinfo-no-rules")
    pod = _other_pod(proxy)
    _own(proxy, push)
    spliced, direct = _own(pod, push), sidecar_own(pod, push)
    assert isinstance(spliced, SplicedPart)
    route = next(iter(direct[ROUTE].values()))
    listener = next(m for n, m in direct[LISTENER].items() if pod.ip in n)
    parts = generate_parts(pod, push)[0]
    for clashing in ([], [route], [listener]):  # a shared part naming one of the pod's own:
        shared = (*parts, ProxyResources.build(clashing))  # seen after the shape's check too
        got = SnapshotAssembly().compose("a", shared, spliced)
        expected = SnapshotAssembly().compose("a", shared, direct)
        assert got[1] == expected[1]
        assert bool(got[1]) == bool(clashing)
        if got[0] is not None and expected[0] is not None:
            assert got[0].version == expected[0].version
            for type_url in RESOURCE_TYPES:
                mine, theirs = got[0].resources(type_url), expected[0].resources(type_url)
                assert mine.by_name == theirs.by_name


def test_pods_of_one_kind_have_one_key_and_one_stand_in() -> None:
    proxy, _ = load_case(TESTDATA / "bookinfo-no-rules")
    other = _other_pod(proxy)
    assert own_shape._key(other) == own_shape._key(proxy)
    assert own_shape.standin(other) == own_shape.standin(proxy)
    labelled = replace(proxy, labels=(*proxy.labels, ("extra", "x")))
    assert own_shape._key(labelled) != own_shape._key(proxy)
    unnamed = replace(proxy, workload="")  # then its pod name is read (its identity)
    assert own_shape._key(unnamed) != own_shape._key(replace(other, workload=""))
