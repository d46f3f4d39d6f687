"""Snapshot invariants checked before anything is published (and on every test snapshot).

Every route (including weighted clusters and mirrors, and those of on-demand virtual hosts)
names an existing cluster, every RDS name a listener uses exists, every TCP proxy (weighted or
not) names an existing cluster, every SDS secret a TLS filter chain names is in the snapshot,
every EDS cluster has a ClusterLoadAssignment, resource names match their keys and are unique,
a domain is in one virtual host only (of a route configuration, or of the on-demand virtual
hosts with the configurations that take them), and no two listeners bind the same address and
port.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2

from pilotfish.translate import message_facts, names
from pilotfish.translate.resources import ProxyResources
from pilotfish.type_urls import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    SECRET,
    VIRTUAL_HOST,
    resource_name,
)


class _Any(Mapping[str, object]):
    """Membership in any of several mappings (a proxy's own part and the parts it shares)."""

    def __init__(self, parts: list[Mapping[str, object]]) -> None:
        self.parts = parts

    def __contains__(self, key: object) -> bool:
        for part in self.parts:  # noqa: SIM110 (any() over a generator: ~5x slower per route)
            if key in part:
                return True
        return False

    def __getitem__(self, key: str) -> object:
        for part in self.parts:
            if key in part:
                return part[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k for part in self.parts for k in part))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def check_invariants(
    resources: ProxyResources, context: Sequence[ProxyResources] = ()
) -> list[str]:
    """Problems with a snapshot, one message each; an empty list means it is consistent.

    With `context` (the parts a proxy shares with others, each checked once on its own),
    `resources` is one more part: references may point into any of them, names must not repeat
    across them, and only `resources` is walked — so a proxy costs what it owns, not what it
    shares.
    """
    problems = _name_problems(resources, context)
    seen: Mapping[str, Mapping[str, object]] = (
        {t: _Any([resources[t], *(p[t] for p in context)]) for t in _SEEN} if context else resources
    )
    clusters = seen[CLUSTER]
    for config_name, config in resources[ROUTE].items():
        domains: set[str] = set()
        for vhost in message_facts.route_facts(config).vhosts:  # read once per object
            for domain in vhost.domains:
                if domain in domains:
                    problems.append(f"route {config_name}: domain {domain!r} in two virtual hosts")
                domains.add(domain)
            problems.extend(_missing_clusters(f"route {config_name}/{vhost.name}", vhost, clusters))
    problems.extend(_on_demand_vhost_problems(resources, clusters))
    problems.extend(_address_problems(resources))
    for name, listener in resources[LISTENER].items():
        assert isinstance(listener, listener_pb2.Listener)
        named = message_facts.facts(listener)  # read once per listener content
        for rds in named.routes:
            if rds not in seen[ROUTE]:
                problems.append(f"listener {name}: route configuration {rds!r} does not exist")
        for cluster in named.tcp_clusters:
            if cluster not in clusters:
                problems.append(f"listener {name}: cluster {cluster!r} does not exist")
        for secret in named.secrets:
            if secret not in seen[SECRET]:
                problems.append(f"listener {name}: SDS secret {secret!r} does not exist")
    for name, cluster in resources[CLUSTER].items():
        assert isinstance(cluster, cluster_pb2.Cluster)
        if cluster.type == cluster_pb2.Cluster.EDS and not cluster.HasField("cluster_type"):
            service = cluster.eds_cluster_config.service_name or name
            if service not in seen[ENDPOINT]:
                problems.append(f"EDS cluster {name}: no ClusterLoadAssignment {service!r}")
    return problems


def check_spliced(resources: ProxyResources, context: Sequence[ProxyResources]) -> list[str]:
    """`check_invariants`' checks of names and addresses alone: for a part that is one
    `check_invariants` found nothing wrong with after the same `context` but for its listeners'
    names and addresses (`own_shape.SplicedPart`: its shape's template), whose references are
    then the same and hold."""
    return _name_problems(resources, context) + _address_problems(resources)


_TYPES = (LISTENER, ROUTE, CLUSTER, ENDPOINT, SECRET, VIRTUAL_HOST)
_SEEN = (ROUTE, CLUSTER, ENDPOINT, SECRET)  # the types references are looked up in


def _name_problems(resources: ProxyResources, context: Sequence[ProxyResources]) -> list[str]:
    """Each resource is named as its key, and no part of `context` has that name."""
    problems: list[str] = []
    for type_url in _TYPES:
        found = resources[type_url]
        if not found:
            continue
        shared = [part[type_url] for part in context]
        for key, message in found.items():
            name = resource_name(type_url, message)
            if name != key:
                problems.append(f"{type_url}: key {key!r} != name {name!r}")
            for held in shared:
                if key in held:
                    problems.append(f"{type_url}: {key!r} is both shared and the proxy's own")
                    break
    return problems


def _address_problems(resources: ProxyResources) -> list[str]:
    """No two listeners bind the same address and port."""
    problems: list[str] = []
    addresses: dict[tuple[str, int], str] = {}
    for name, listener in resources[LISTENER].items():
        assert isinstance(listener, listener_pb2.Listener)
        socket = listener.address.socket_address
        where = (socket.address, socket.port_value)
        if where in addresses:
            problems.append(f"listeners {addresses[where]} and {name} both bind {where}")
        addresses.setdefault(where, name)
    return problems


def _on_demand_vhost_problems(
    resources: ProxyResources, clusters: Mapping[str, object]
) -> list[str]:
    """On-demand (VHDS) virtual hosts: their routes name existing clusters, and no domain is
    in two of them or in one and a route configuration that takes them (Envoy refuses it)."""
    problems: list[str] = []
    if not resources[VIRTUAL_HOST]:
        return problems
    domains: set[str] = set()
    for config in resources[ROUTE].values():
        found = message_facts.route_facts(config)
        if found.vhds:
            domains.update(d for vhost in found.vhosts for d in vhost.domains)
    for key, message in resources[VIRTUAL_HOST].items():
        vhost = message_facts.vhost_facts(message)
        for domain in vhost.domains:
            if domain in domains:
                problems.append(f"virtual host {key}: domain {domain!r} is held twice")
            domains.add(domain)
        problems.extend(_missing_clusters(f"virtual host {key}", vhost, clusters))
    return problems


Holdings = tuple[frozenset[tuple[str, str]], frozenset[str]]
"""What a piece of a part holds that another piece must not: (type URL, name) pairs, and the
domains of its on-demand virtual hosts and of its route configurations that take them."""


def holdings(piece: ProxyResources) -> Holdings:
    """`piece`'s `Holdings` (a domain twice in one piece is `check_invariants`'s to find)."""
    names_held = frozenset((t, key) for t in piece for key in piece[t])
    domains: set[str] = set()
    for config in piece[ROUTE].values():
        found = message_facts.route_facts(config)
        if found.vhds:
            domains.update(d for vhost in found.vhosts for d in vhost.domains)
    for vhost in piece[VIRTUAL_HOST].values():
        domains.update(message_facts.vhost_facts(vhost).domains)
    return names_held, frozenset(domains)


def pieces_problems(held: Sequence[Holdings]) -> list[str]:
    """What one part sent in several pieces (`check_invariants` checks each against the parts
    before it) must also hold across them, given each piece's `holdings`: no name in two
    pieces, and no domain in two of their on-demand virtual hosts or in one and a route
    configuration that takes them."""
    problems: list[str] = []
    for index, (names_held, domains) in enumerate(held):
        for other_names, other_domains in held[:index]:
            for type_url, key in sorted(names_held & other_names):
                problems.append(f"{type_url}: {key!r} is in two pieces of one part")
            for domain in sorted(domains & other_domains):
                problems.append(f"domain {domain!r} is held twice (two pieces of one part)")
    return problems


def _missing_clusters(
    where: str, vhost: message_facts.VhostFacts, clusters: Mapping[str, object]
) -> Iterator[str]:
    """One problem per cluster a route of `vhost` names that is neither in `clusters` nor one
    of the bootstrap's."""
    for route, named in vhost.routes:
        for cluster in named:
            if cluster not in clusters and cluster not in names.BOOTSTRAP_CLUSTERS:
                yield f"{where}/{route or '?'}: cluster {cluster!r} does not exist"
