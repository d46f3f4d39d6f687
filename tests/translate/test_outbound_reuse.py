"""The outbound block across push contexts (`translate.outbound`, `translate.carry`): a change
that leaves the registry and the rules alone (a VirtualService) keeps the very same block; a
change of instances only derives the new block from the last one, rebuilding the clusters and
assignments of the services whose instances moved and nothing else; either way the block is
what translating from scratch gives. A rule whose pool changes keeps its clusters without the
pool (`clusters.with_pool` puts the new pool on a copy of each)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pilotfish.config.models.networking.destination_rule import TrafficPolicy
from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Protocol, RegistrySnapshot, Service, ServicePort
from pilotfish.translate import outbound
from pilotfish.translate.clusters import (
    OutboundClusterSpec,
    outbound_cluster,
    pool_settings,
    with_pool,
)
from pilotfish.translate.outbound import OutboundBlock, outbound_block
from pilotfish.translate.service_clusters import _settings
from pilotfish.translate.traffic_policy import effective_policy
from pilotfish.type_urls import CLUSTER, ENDPOINT

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scale_mesh import Topology


def _bytes(block: OutboundBlock) -> dict[str, dict[str, bytes]]:
    return {
        t: {n: m.SerializeToString(deterministic=True) for n, m in block.resources[t].items()}
        for t in (CLUSTER, ENDPOINT)
    }


def _fresh(push: PushContext) -> OutboundBlock:
    """The same push context's block translated with nothing carried over."""
    alone = PushContext(push.registry, push.configs, push.mesh)
    return outbound_block("ns-0", alone)


@pytest.mark.parametrize("services", [40, 200])  # 200: more units than a fixed slack covers
def test_a_virtual_service_keeps_the_block_and_a_scaled_workload_rebuilds_one_service(
    tmp_path: Path, services: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[int] = []  # blocks built whole (the last one not derived)
    whole = outbound._build_default_block

    def counted(push: PushContext) -> OutboundBlock:
        built.append(1)
        return whole(push)

    monkeypatch.setattr(outbound, "_build_default_block", counted)
    topo = Topology(services, 2 * services)
    cp = ControlPlane(tmp_path)
    cp.load_state()
    assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
    cp.set_instances([instance_from_json(i.row()) for i in topo.instances()])
    first = outbound_block("ns-0", cp.push)
    built.clear()

    ns, svc = topo.names[5]
    assert cp.apply([("vs.yaml", topo.virtual_service(ns, svc, 70))]).ok
    assert outbound_block("ns-0", cp.push) is first

    host = f"{svc}.{ns}.svc.cluster.local"
    for step, scaled in enumerate(((ns, svc, "v1"), None)):
        before = outbound_block("ns-0", cp.push)
        cp.set_instances([instance_from_json(i.row()) for i in topo.instances(scaled=scaled)])
        after = outbound_block("ns-0", cp.push)
        assert after.specs is before.specs
        for type_url in (CLUSTER, ENDPOINT):
            assert list(after.resources[type_url]) == list(before.resources[type_url])
            rebuilt = {
                name
                for name, message in after.resources[type_url].items()
                if message is not before.resources[type_url][name]
            }
            if type_url == ENDPOINT:  # the scaled service's assignments, and only those
                assert rebuilt == {f"outbound|8080|{s}|{host}" for s in ("", "v1", "v2")}, step
            else:
                assert rebuilt == set(), step
        assert not built, step  # derived from the last block
        assert _bytes(after) == _bytes(_fresh(cp.push)), step
        built.clear()  # `_fresh` builds one whole


POOLS: list[dict[str, Any]] = [
    {"http": {"http1MaxPendingRequests": 7, "http2MaxRequests": 9, "maxRetries": 2}},
    {"tcp": {"maxConnections": 3, "connectTimeout": "2s", "tcpKeepalive": {"time": "30s"}}},
    {"tcp": {"idleTimeout": "5s", "maxConnectionDuration": "60s"}},
    {"http": {"idleTimeout": "9s", "maxRequestsPerConnection": 1}},
    {"http": {"h2UpgradePolicy": "UPGRADE", "maxConcurrentStreams": 5}},
    {"http": {"h2UpgradePolicy": "DO_NOT_UPGRADE"}},
    {"http": {"useClientProtocol": True}},
]
OTHERS: list[dict[str, Any]] = [
    {},
    {"tls": {"mode": "ISTIO_MUTUAL", "sni": "x.example"}},
    {"tls": {"mode": "SIMPLE"}, "loadBalancer": {"simple": "ROUND_ROBIN"}},
    {"loadBalancer": {"simple": "PASSTHROUGH"}},
    {"outlierDetection": {"consecutive5xxErrors": 3}, "loadBalancer": {"warmupDurationSecs": "9s"}},
]


@pytest.mark.parametrize("protocol", [Protocol.HTTP, Protocol.HTTP2, Protocol.GRPC, Protocol.TCP])
def test_a_pool_applied_to_the_cluster_without_it_is_the_cluster_built_with_it(
    protocol: Protocol,
) -> None:
    port = ServicePort("p", 9000, protocol, 9000)
    service = Service("a", "ns", (port,))
    for others in OTHERS:
        for pool in POOLS:
            top = TrafficPolicy.model_validate({**others, "connectionPool": pool})
            spec = OutboundClusterSpec(service, port, policy=effective_policy(top, None, 9000))
            bare = replace(spec, policy=replace(spec.policy, connection_pool=None))
            made = with_pool(
                outbound_cluster(bare), spec, pool_settings(spec.policy.connection_pool)
            )
            built = outbound_cluster(spec)
            assert made == built, (others, pool)
            assert made.SerializeToString(deterministic=True) == built.SerializeToString(
                deterministic=True
            )
            if pool != {"http": {"h2UpgradePolicy": "DO_NOT_UPGRADE"}}:  # the pool is there
                assert made != outbound_cluster(bare), (others, pool)


def test_one_pool_on_clusters_of_every_protocol_packs_its_options_once_per_kind() -> None:
    """A change of every rule's pool puts one pool's settings on thousands of clusters: the
    upstream HTTP options are packed once per kind of port (HTTP/2 or not, natively or not),
    not per cluster, and each cluster is still the one built from scratch."""
    protocols = (Protocol.HTTP, Protocol.HTTP2, Protocol.GRPC, Protocol.TCP, Protocol.HTTP)
    for pool in POOLS:
        top = TrafficPolicy.model_validate({"connectionPool": pool})
        settings = pool_settings(top.connection_pool)
        for n, protocol in enumerate(protocols):
            port = ServicePort("p", 9000 + n, protocol, 9000)
            spec = OutboundClusterSpec(
                Service(f"s{n}", "ns", (port,)), port, policy=effective_policy(top, None, 9000)
            )
            bare = replace(spec, policy=replace(spec.policy, connection_pool=None))
            made = with_pool(outbound_cluster(bare), spec, settings)
            built = outbound_cluster(spec)
            assert made.SerializeToString(deterministic=True) == built.SerializeToString(
                deterministic=True
            ), (pool, protocol)
        assert 1 <= len(settings.options) <= 3, pool  # HTTP/1, HTTP/2, upgraded HTTP/1


def _rule(ns: str, svc: str, policy: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata:\n  name: {svc}\n  namespace: {ns}\n"
        f"spec:\n  host: {svc}\n  trafficPolicy: {policy}\n"
        "  subsets:\n  - name: v1\n    labels:\n      version: v1\n"
        "  - name: v2\n    labels:\n      version: v2\n"
        "    trafficPolicy: {connectionPool: {tcp: {maxConnections: 4}}}\n"
    )


def test_rules_whose_pools_change_keep_the_clusters_without_them(tmp_path: Path) -> None:
    """Every rule's pool changed, then one rule's pool, then more of it: each block is what
    translating from scratch gives, with the rule's three clusters new; a pool-only change
    rebuilds no cluster without its pool (three units fewer built than a change of its
    balancer and TLS, which rebuilds them)."""
    topo = Topology(40, 80)
    cp = ControlPlane(tmp_path)
    cp.load_state()
    assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
    cp.set_instances([instance_from_json(i.row()) for i in topo.instances()])
    outbound_block("ns-0", cp.push)
    for pending in (5, 6):
        assert cp.apply([("dr.yaml", topo.pooled_rules(pending))]).ok
        assert _bytes(outbound_block("ns-0", cp.push)) == _bytes(_fresh(cp.push)), pending
    ns, svc = topo.names[3]
    tls = "tls: {mode: ISTIO_MUTUAL, subjectAltNames: [spiffe://x/y]}}"
    built: dict[str, int] = {}
    for what, policy in (
        ("tls", "{connectionPool: {http: {idleTimeout: 3s}}, " + tls),
        ("pool", "{connectionPool: {http: {idleTimeout: 4s}}, " + tls),
        ("balancer", "{connectionPool: {http: {idleTimeout: 4s}}, loadBalancer: {simple: RANDOM}}"),
        ("no pool", "{loadBalancer: {simple: RANDOM}}"),
    ):
        before = outbound_block("ns-0", cp.push)
        builds = cp.carry.builds
        assert cp.apply([("one.yaml", _rule(ns, svc, policy))]).ok
        after = outbound_block("ns-0", cp.push)
        built[what] = cp.carry.builds - builds
        assert _bytes(after) == _bytes(_fresh(cp.push)), what
        clusters = after.resources[CLUSTER]
        new = {n for n, m in clusters.items() if m is not before.resources[CLUSTER].get(n)}
        assert new == {f"outbound|8080|{s}|{svc}.{ns}.svc.cluster.local" for s in ("", "v1", "v2")}
    assert built["pool"] == built["tls"] - 3 == built["balancer"] - 3, built


def test_a_spec_is_named_by_its_port_service_and_subset_however_it_was_made() -> None:
    """A spec's name is made with it (not a field to compare): a spec made from another with
    `replace` is named by its own port, service and subset (fails if the name were carried
    over), and two specs differing only in policy are equal in name, not as specs."""
    port = ServicePort("http", 8080, Protocol.HTTP, 8080)
    spec = OutboundClusterSpec(Service("reviews", "bookinfo", (port,)), port)
    assert spec.name == "outbound|8080||reviews.bookinfo.svc.cluster.local"
    subset = replace(spec, subset="v2")
    assert subset.name == "outbound|8080|v2|reviews.bookinfo.svc.cluster.local"
    other = replace(spec, service=Service("ratings", "bookinfo", (port,)))
    assert other.name == "outbound|8080||ratings.bookinfo.svc.cluster.local"
    pooled = replace(spec, policy=effective_policy(TrafficPolicy.model_validate({}), None, 8080))
    assert pooled.name == spec.name and replace(spec) == spec


def test_specs_of_one_pool_object_and_of_another_get_each_its_own_settings() -> None:
    """The pool's settings are looked up by the pool object first (`service_clusters.
    _settings`): a spec of another pool, even right after, gets that pool's (fails if the
    settings of the last pool looked up were given)."""
    push = PushContext(RegistrySnapshot())
    port = ServicePort("http", 8080, Protocol.HTTP, 8080)
    specs = []
    for pending in (7, 7, 9):
        top = TrafficPolicy.model_validate(
            {"connectionPool": {"http": {"http1MaxPendingRequests": pending}}}
        )
        specs.append(
            OutboundClusterSpec(
                Service("reviews", "bookinfo", (port,)),
                port,
                policy=effective_policy(top, None, 8080),
            )
        )
    pools = [s.policy.connection_pool for s in specs]
    assert all(p is not None for p in pools)
    found = [_settings(p, push) for p in pools if p is not None for _ in (1, 2)]
    limits = [f.cluster.circuit_breakers.thresholds[0].max_pending_requests.value for f in found]
    assert limits == [7, 7, 7, 7, 9, 9]
    assert found[0] is found[2]  # equal pools share their settings
