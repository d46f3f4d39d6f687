"""`translate.vhds_source`: a sidecar with on-demand virtual hosts is given its `http_proxy`
route part without the whole configuration (`vhds_part.OnDemandRoutePart`); what it is sent
of it must be what it would be sent of the whole one. For every sidecar case under testdata/
(ServiceEntries with short names tidied away, wildcard hosts, CONNECT virtual hosts for TCP
and TLS ports, delegates, Sidecar scopes), turned into a delta sidecar with on-demand
clusters and virtual hosts: every domain of the whole configuration and a few no service
has are answered alike, byte for byte, the diagnostics are the same, and so are the clusters
an on-demand CDS request for any cluster brings along (`on_demand.clusters_for`)."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from envoy.config.route.v3 import route_pb2
from tests.translate.translate_harness import load_case

from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import on_demand, on_demand_routes
from pilotfish.translate.generate import generate_parts
from pilotfish.translate.http_proxy_part import whole_parts
from pilotfish.translate.resources import ProxyResources
from pilotfish.translate.vhds_part import DomainIndex, OnDemandRoutePart
from pilotfish.type_urls import CLUSTER, ROUTE

UNKNOWN = ("nowhere.test", "nowhere.test:81", "api.example.com", "x.svc.cluster.local:9080")


def _on_demand_sidecar(case: Path) -> tuple[Proxy, PushContext]:
    proxy, push = load_case(case)
    mesh = replace(push.mesh, on_demand_clusters=True, on_demand_routes=True)
    push = PushContext(registry=push.registry, configs=push.configs, mesh=mesh)
    return replace(proxy, delta_xds=True), push


CASES = [  # not the gateways and captured pods (their configurations are whole)
    p
    for p in sorted((Path(__file__).parent / "testdata").iterdir())
    if p.is_dir() and on_demand_routes.applies(*_on_demand_sidecar(p))
]


def test_the_cases_are_many() -> None:
    assert len(CASES) >= 10


def _bytes(part: ProxyResources) -> dict[str, dict[str, bytes]]:
    return {
        t: {n: m.SerializeToString(deterministic=True) for n, m in part[t].items()} for t in part
    }


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_what_is_sent_is_what_the_whole_configuration_gives(case: Path) -> None:
    proxy, push = _on_demand_sidecar(case)
    shared, _ = generate_parts(proxy, push)
    index = next(i for i, p in enumerate(shared) if isinstance(p, OnDemandRoutePart))
    whole = whole_parts(proxy, push, shared)
    assert whole[:index] == shared[:index] and whole[index + 1 :] == shared[index + 1 :]
    lazy, full = shared[index], whole[index]
    assert [str(d) for d in lazy.diagnostics] == [str(d) for d in full.diagnostics]
    config = full[ROUTE]["http_proxy"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    hosts = [d for v in config.virtual_hosts for d in v.domains if d != "*"] + list(UNKNOWN)
    aliases = [f"http_proxy/{h}" for h in hosts]
    assert len(aliases) > 4
    for asked in [aliases, *([a] for a in aliases)]:  # all at once, then one by one
        sent_lazy, answers_lazy = on_demand_routes.published(lazy, asked, push)
        sent_full, answers_full = on_demand_routes.published(full, asked, push)
        assert answers_lazy == answers_full
        assert _bytes(sent_lazy) == _bytes(sent_full), asked
    clusters = [n for p in shared for n in p[CLUSTER]]
    for name in clusters:
        assert on_demand.clusters_for([name], shared, push) == on_demand.clusters_for(
            [name], whole, push
        ), name


def _envoy_pick(vhosts: list[list[str]], host: str) -> int | None:
    """Envoy's choice, written plainly: the first virtual host with the exact domain, else
    the longest suffix wildcard, else the longest prefix wildcard (each matching one
    character at least; the first of a length), else the first `*`."""
    pairs = [(i, d.lower()) for i, domains in enumerate(vhosts) for d in domains]
    exact = [i for i, d in pairs if d == host and "*" not in d]
    if exact:
        return exact[0]
    suffix = [
        (-len(d), i)
        for i, d in pairs
        if d.startswith("*") and d != "*" and len(host) > len(d) - 1 and host.endswith(d[1:])
    ]
    prefix = [
        (-len(d), i)
        for i, d in pairs
        if d.endswith("*")
        and not d.startswith("*")
        and len(host) > len(d) - 1
        and host.startswith(d[:-1])
    ]
    for found in (suffix, prefix):
        if found:
            return min(found)[1]
    return next((i for i, d in pairs if d == "*"), None)


def test_the_domain_index_picks_as_envoy_does() -> None:
    rng = random.Random(7)
    words = ["a", "b", "api", "example", "com", "svc"]
    for _ in range(300):
        vhosts = []
        for _ in range(rng.randint(0, 6)):
            domains = []
            for _ in range(rng.randint(0, 3)):
                name = ".".join(rng.choice(words) for _ in range(rng.randint(1, 3)))
                name = rng.choice(["", "", "*.", "*"]) + name if rng.random() < 0.4 else name
                domains.append(rng.choice([name, name.upper(), name + "*", "*"]))
            vhosts.append(domains)
        index = DomainIndex.of_domains(vhosts)
        for host in {d.lower().strip("*.") for v in vhosts for d in v} | {"x.example.com", "api"}:
            assert index.lookup(host) == _envoy_pick(vhosts, host), (vhosts, host)
