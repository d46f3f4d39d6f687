"""Locality load balancing (`translate.locality_lb`): priorities and weights as Istio's
ApplyLocalityLoadBalancer gives them, relative to the asking proxy, and how the results are
shared. The case is `testdata/locality` (Istio's locality tasks: helloworld in four
localities); its golden files hold what the sleep pod in region1/zone1 gets."""

from __future__ import annotations

from dataclasses import replace

import pytest
from envoy.config.endpoint.v3 import endpoint_pb2
from tests.translate.translate_harness import TESTDATA, load_case

from pilotfish.config.models.networking.destination_rule import LocalityLoadBalancerSetting
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import generate
from pilotfish.translate.locality_lb import localized, matches
from pilotfish.translate.outbound import outbound_block
from pilotfish.type_urls import CLUSTER, ENDPOINT

CASE = TESTDATA / "locality"
HELLO = "outbound|5000||helloworld.default.svc.cluster.local"
WEIGHTED = "outbound|5000||weighted.default.svc.cluster.local"
EXTERNAL = "outbound|80||external.example"


def _at(proxy: Proxy, locality: str) -> Proxy:
    labels = {**proxy.label_map, "istio-locality": locality}
    if not locality:
        del labels["istio-locality"]
    return replace(proxy, labels=tuple(sorted(labels.items())))


def _view(push: PushContext, proxy: Proxy, cluster: str) -> dict[str, tuple[int, int]]:
    """Instance (or address) -> (priority, its group's weight) in what `proxy` is sent."""
    found = generate(proxy, push)[ENDPOINT][cluster]
    assert isinstance(found, endpoint_pb2.ClusterLoadAssignment)
    view = {}
    for group in found.endpoints:
        for lb in group.lb_endpoints:
            fields = lb.metadata.filter_metadata["pilotfish"].fields
            name = fields["instance"].string_value
            view[name] = (group.priority, group.load_balancing_weight.value)
    return view


def _priorities(push: PushContext, proxy: Proxy, cluster: str = HELLO) -> dict[str, int]:
    return {name.rsplit("-", 1)[0]: p for name, (p, _) in _view(push, proxy, cluster).items()}


@pytest.fixture
def case() -> tuple[Proxy, PushContext]:
    return load_case(CASE)


def test_failover_priorities_follow_the_asking_proxy(case: tuple[Proxy, PushContext]) -> None:
    proxy, push = case
    assert _priorities(push, proxy) == {  # region1/zone1, failover region1 -> region3
        "helloworld-region1-zone1": 0,
        "helloworld-region1-zone2": 1,
        "helloworld-region3-zone4": 2,
        "helloworld-region2-zone3": 3,
        "helloworld-nowhere": 3,
    }
    assert _priorities(push, _at(proxy, "region1.zone2")) == {
        "helloworld-region1-zone2": 0,
        "helloworld-region1-zone1": 1,
        "helloworld-region3-zone4": 2,
        "helloworld-region2-zone3": 3,
        "helloworld-nowhere": 3,
    }
    # no failover rule from region2: every other region is one priority
    assert _priorities(push, _at(proxy, "region2.zone3")) == {
        "helloworld-region2-zone3": 0,
        "helloworld-region1-zone1": 1,
        "helloworld-region1-zone2": 1,
        "helloworld-region3-zone4": 1,
        "helloworld-nowhere": 1,
    }
    # same region and zone, another subzone: priority 1 before the region's other zones
    assert _priorities(push, _at(proxy, "region3.zone4.subzone2"))["helloworld-region3-zone4"] == 0


def test_a_proxy_without_locality_prefers_endpoints_without_one(
    case: tuple[Proxy, PushContext],
) -> None:
    proxy, push = case
    found = _priorities(push, _at(proxy, ""))
    assert found["helloworld-nowhere"] == 0
    assert {p for n, p in found.items() if n != "helloworld-nowhere"} == {1}


def test_distribute_weights_the_groups_of_the_matching_rule(
    case: tuple[Proxy, PushContext],
) -> None:
    proxy, push = case
    weights = {n.rsplit("-", 1)[0]: w for n, (_, w) in _view(push, proxy, WEIGHTED).items()}
    assert weights == {  # the task's 70/20/10; zone3 and the pod nowhere get no endpoint
        "helloworld-region1-zone1": 70,
        "helloworld-region1-zone2": 20,
        "helloworld-region3-zone4": 10,
    }
    # a proxy that no `from` matches keeps every group, weighted by its endpoints
    elsewhere = _view(push, _at(proxy, "region2.zone3"), WEIGHTED)
    assert {w for _, w in elsewhere.values()} == {1} and len(elsewhere) == 5


def test_clusters_say_locality_weighted_only_where_istio_does(
    case: tuple[Proxy, PushContext],
) -> None:
    proxy, push = case
    clusters = generate(proxy, push)[CLUSTER]
    weighted = {
        name
        for name, c in clusters.items()
        if c.common_lb_config.HasField("locality_weighted_lb_config")
    }
    assert weighted == {
        HELLO,
        WEIGHTED,
        "outbound|6000||weighted.default.svc.cluster.local",
        "outbound|80||dns.example",  # as Istio's, though its endpoints stay one group here
    }


def _groups(push: PushContext, proxy: Proxy, cluster: str) -> list[tuple[int, int, int]]:
    """(priority, weight, endpoints) of each group `proxy` is sent for `cluster`."""
    found = generate(proxy, push)[ENDPOINT][cluster]
    assert isinstance(found, endpoint_pb2.ClusterLoadAssignment)
    return [
        (g.priority, g.load_balancing_weight.value, len(g.lb_endpoints)) for g in found.endpoints
    ]


def test_the_mesh_setting_applies_where_a_rule_sets_none(case: tuple[Proxy, PushContext]) -> None:
    proxy, push = case
    # the ServiceEntry's rule sets outlier detection only: Istio's default setting fails over
    assert _groups(push, proxy, EXTERNAL) == [(0, 1, 1), (1, 1, 1)]
    # the mesh's own setting, here a distribution, applies to it
    to_region2 = {"distribute": [{"from": "region1/*", "to": {"region2/*": 100}}]}
    setting = LocalityLoadBalancerSetting.model_validate(to_region2)
    meshed = replace(push, mesh=replace(push.mesh, locality_lb_setting=setting))
    assert _groups(meshed, proxy, EXTERNAL) == [(0, 1, 0), (0, 100, 1)]
    assert _priorities(meshed, proxy) == _priorities(push, proxy)  # a rule's own setting wins
    # the mesh's `enabled: false` turns it off where no rule has its own setting
    off = LocalityLoadBalancerSetting(enabled=False)
    unset = replace(push, mesh=replace(push.mesh, locality_lb_setting=off))
    assert _groups(unset, proxy, EXTERNAL) == [(0, 1, 1), (0, 1, 1)]
    assert _priorities(unset, proxy)["helloworld-region1-zone2"] == 1


def test_proxies_in_one_locality_share_one_part(case: tuple[Proxy, PushContext]) -> None:
    proxy, push = case
    block = outbound_block(proxy.namespace, push)
    other = replace(_at(proxy, "region1.zone1"), instance="sleep-1", ip="127.42.0.3")
    assert localized(block, proxy, push) is localized(block, other, push)
    assert localized(block, proxy, push) is not localized(block, _at(proxy, "region2.zone3"), push)


def test_a_mesh_without_localities_shares_the_block_itself() -> None:
    proxy, push = load_case(TESTDATA / "dr-policies")  # outlier detection, no locality anywhere
    block = outbound_block(proxy.namespace, push)
    assert localized(block, _at(proxy, "region1.zone1"), push) is block.resources


@pytest.mark.parametrize(
    ("locality", "rule", "expected"),
    [
        ("region1/zone1", "region1/zone1/*", True),
        ("region1/zone1/sub", "region1", True),
        ("region1/zone2", "region1/zone1", False),
        ("region2/zone1", "*", True),
        ("", "region1/*", False),
        ("region1", "region1/zone1", False),
    ],
)
def test_locality_rules_match_as_istio_matches(locality: str, rule: str, expected: bool) -> None:
    assert matches(locality, rule) is expected
