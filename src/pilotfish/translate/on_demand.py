"""On-demand clusters (pilotfish's default, beyond Istio; `PILOTFISH_ON_DEMAND_CLUSTERS=false`
turns it off): a sidecar holds every listener and route configuration, but only the outbound
clusters (and so endpoints) it has called.

How: its outbound HTTP connection managers run Envoy's `envoy.filters.http.on_demand` filter
with `odcds` over ADS, before the fault filter (an aborted request's metrics still name the
service: Istio's stats read it from the cluster) or else just before the router. A request whose
route names a cluster the sidecar lacks is paused while Envoy asks the control plane for it (a
CDS subscription by that cluster's plain name on the ADS stream), then resumed. The control
plane remembers which clusters each sidecar asked for (`clusters_for`) and narrows the sidecar's
outbound block to them (`narrowed`): what other services change is never pushed to it. The
clusters its routes mirror to are always kept (`MIRRORS`): Envoy's filter fetches only the
cluster a request is routed to, and a shadow whose cluster is not yet active (fetched with the
routed one, still warming) is skipped, so the first request to a mirrored route would not be
mirrored, where Istio, which sends every cluster, mirrors it.

Who gets it (`applies`): sidecars that speak delta ADS (Envoy's state-of-the-world reconnect
sends the on-demand names without `*`, so a server cannot tell a wildcard CDS from a named one:
measured, README; a SotW Envoy keeps getting every cluster). A `Sidecar` resource restricts
what its proxies may reach (their outbound block is already scoped: `sidecar_scope`); on
demand applies inside that scope, so a proxy never holds more clusters with a Sidecar than
without, and a host outside it has no route (Istio's PassthroughCluster or BlackHole, as the
mesh's outboundTrafficPolicy says). Gateways never (they have
`PILOT_FILTER_GATEWAY_CLUSTER_CONFIG`).
Clusters the listeners name (TCP proxies, ext_authz, tracing) are always kept; TCP traffic
therefore needs no on-demand step.

Pure: reads only its arguments (memoised per push context).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.extensions.filters.http.on_demand.v3 import on_demand_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf.message import Message

from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import envoy_filters, message_facts, names
from pilotfish.translate.carry import carry_of
from pilotfish.translate.envoy_pb import ads_config_source, duration, pack
from pilotfish.translate.message_facts import route_clusters
from pilotfish.translate.resources import KeptPart, ProxyResources
from pilotfish.translate.route_filters import FAULT_FILTER
from pilotfish.translate.vhds_part import OnDemandRoutePart, routed_vhosts
from pilotfish.type_urls import CLUSTER, ENDPOINT, LISTENER

ON_DEMAND_FILTER = "envoy.filters.http.on_demand"
DISCOVERY_TIMEOUT_SECONDS = 10.0
"""How long Envoy holds a request while its cluster is fetched (Envoy's default is 5 s; a
loaded control plane translating a connect storm may need longer)."""


def applies(proxy: Proxy, push: PushContext) -> bool:
    """Whether this proxy's clusters come on demand (not when an EnvoyFilter may patch what it
    would share: it gets everything as its own then)."""
    return (
        push.mesh.on_demand_clusters
        and proxy.delta_xds
        and not proxy.is_gateway
        and not envoy_filters.patches_shared_parts(proxy, push)
    )


def on_demand_filter() -> hcm_pb2.HttpFilter:
    """`envoy.filters.http.on_demand` asking for missing clusters over ADS."""
    config = on_demand_pb2.OnDemand()
    config.odcds.source.CopyFrom(ads_config_source())
    config.odcds.timeout.CopyFrom(duration(DISCOVERY_TIMEOUT_SECONDS))
    return hcm_pb2.HttpFilter(name=ON_DEMAND_FILTER, typed_config=pack(config))


def cluster_host(name: str) -> str | None:
    """The service host of an outbound cluster name (None for any other cluster)."""
    parsed = names.parse_outbound_cluster(name)
    return parsed[2] if parsed is not None else None


def clusters_for(
    cluster_names: Iterable[str],
    parts: Iterable[ProxyResources],
    push: PushContext | None = None,
) -> frozenset[str]:
    """The outbound clusters a sidecar asking for `cluster_names` gets: each of them, and every
    cluster a route sending to one of them names too (its other weighted destinations and its
    mirrors: Envoy's on-demand filter asks only for the cluster a request was routed to, and a
    mirror must never be skipped for want of its cluster). Not the service's other subsets:
    each cluster costs Envoy a TLS context to build before the paused request goes on
    (measured: README). Only clusters the parts have: a name Envoy is made to ask for cannot
    grow it. `push`: where each part's route groups are kept (a `Carry` unit per part, so a
    demand or a later push context with the same part costs what it asks for, not a walk
    over every route: `_route_groups`)."""
    parts, wanted = tuple(parts), frozenset(cluster_names)
    found = set(wanted)
    for part in parts:
        for groups in _route_groups(part, push):
            for name in wanted:
                named = groups.get(name)
                if named:
                    found.update(named)
    held = [part[CLUSTER] for part in parts]
    return frozenset(n for n in found if cluster_host(n) is not None and any(n in c for c in held))


MIRRORS = ""
"""The key (no cluster's name) under which a route-groups map holds the clusters its routes
mirror to, which `narrowed` always keeps."""
GROUP_CHUNK = 64
"""Virtual hosts of an `OnDemandRoutePart` whose route groups are kept together."""
Groups = Mapping[str, frozenset[str]]


def _route_groups(part: ProxyResources, push: PushContext | None) -> tuple[Groups, ...]:
    """cluster name -> every cluster named by a route of `part` that names it (itself
    included), in maps whose union is that: a `Carry` unit of `push` kept with the part (it
    reads nothing else; not lasting: the parts it keeps alive are whole namespace
    configurations). Of an `OnDemandRoutePart` (whose virtual hosts are units, shared by
    namespaces and kept by derived parts) one map per `GROUP_CHUNK` of its services' virtual
    hosts and one of its tail, each a lasting unit keyed by the virtual hosts themselves: a
    part derived for a change of a few virtual hosts or of the catch-all builds the maps of
    those alone."""
    if push is None:
        return (_groups(routed_vhosts(part)),)
    memo_key = ("pilotfish.translate.on_demand.groups_of", id(part))
    known: tuple[ProxyResources, tuple[Groups, ...]] | None = push.memo.get(memo_key)
    if known is not None and known[0] is part:  # every sidecar of the part, one push context
        return known[1]
    found = _kept_groups(part, push)
    push.memo[memo_key] = (part, found)
    return found


def _kept_groups(part: ProxyResources, push: PushContext) -> tuple[Groups, ...]:
    carry = carry_of(push)
    if not isinstance(part, OnDemandRoutePart):
        key = ("pilotfish.translate.on_demand.groups", id(part))
        return carry.unit(push, key, lambda: (_groups(routed_vhosts(part)),), keep=part)

    def chunk(vhosts: tuple[rc_pb2.VirtualHost, ...]) -> Groups:
        key = ("pilotfish.translate.on_demand.chunk", tuple(map(id, vhosts)))
        return carry.unit(push, key, lambda: _groups(vhosts, push.memo), keep=vhosts, lasting=True)

    def build() -> tuple[Groups, ...]:
        vhosts, slots = part.vhosts, part.slots
        starts = range(0, slots, GROUP_CHUNK)
        chunks = [vhosts[i : min(i + GROUP_CHUNK, slots)] for i in starts] + [vhosts[slots:]]
        return tuple(chunk(c) for c in chunks)

    return carry.unit(push, ("pilotfish.translate.on_demand.groups", id(part)), build, keep=part)


def _groups(
    vhosts: Iterable[rc_pb2.VirtualHost], memo: dict[Hashable, Any] | None = None
) -> Groups:
    """The route groups of these virtual hosts (`memo`: where each one's are kept, when they
    are shared units), those that name a service's cluster (what `clusters_for` keeps; so the
    catch-all's is empty whatever the outbound traffic policy: `Narrowing`)."""
    groups: dict[str, set[str]] = {}
    for vhost in vhosts:
        for name, named in _vhost_groups(vhost, memo):
            groups.setdefault(name, set()).update(named)
    return {
        name: frozenset(names)
        for name, names in groups.items()
        if any(cluster_host(n) is not None for n in names)
    }


def _vhost_groups(
    vhost: rc_pb2.VirtualHost, memo: dict[Hashable, Any] | None
) -> tuple[tuple[str, frozenset[str]], ...]:
    """(cluster name, the clusters named by a route of `vhost` naming it) pairs, kept in
    `memo` (if given) with the virtual host."""
    key = ("pilotfish.translate.on_demand.vhost_groups", id(vhost))
    found: tuple[rc_pb2.VirtualHost, tuple[tuple[str, frozenset[str]], ...]] | None = (
        memo.get(key) if memo is not None else None
    )
    if found is None or found[0] is not vhost:
        pairs: list[tuple[str, frozenset[str]]] = []
        for route in vhost.routes:
            named = frozenset(route_clusters(route))
            pairs.extend((name, named) for name in named)
            mirrored = frozenset(m.cluster for m in route.route.request_mirror_policies)
            if mirrored:
                pairs.append((MIRRORS, mirrored))
        found = (vhost, tuple(pairs))
        if memo is not None:
            memo[key] = found
    return found[1]


def narrowed(
    shared: tuple[ProxyResources, ...],
    own: ProxyResources,
    clusters: frozenset[str],
    push: PushContext,
) -> tuple[ProxyResources, ...]:
    """The shared parts with the outbound block (the first) narrowed to `clusters` (with
    those their routes name with them, `clusters_for`), the clusters the listeners name, and
    every cluster that is not a service's; their endpoints follow. A `Carry` unit (sidecars
    asking for the same clusters share it; a later push context with the same block reuses
    it, and so does the check of what it is sent)."""
    if not shared:
        return shared
    block = shared[0]
    # what the routes now name with the asked-for clusters: a mirror added to a route the
    # sidecar already used (Istio's Mirroring task) is never asked for on demand; and every
    # cluster a route mirrors to, there before a first request is shadowed (`MIRRORS`)
    clusters = clusters | clusters_for(clusters, shared, push) | _mirrored(shared, push)
    carry = carry_of(push)
    used = frozenset(listener_clusters(own[LISTENER].values()))
    key = ("pilotfish.translate.on_demand", id(block), clusters, used)
    found = carry.unit(
        push, key, lambda: _kept(push, _narrow(_index(block, push), clusters, used)), keep=block
    )
    return (found, *shared[1:])


def _mirrored(shared: tuple[ProxyResources, ...], push: PushContext) -> frozenset[str]:
    """The service clusters the parts' routes mirror to that the parts hold."""
    found: set[str] = set()
    for part in shared:
        for groups in _route_groups(part, push):
            found.update(groups.get(MIRRORS, ()))
    held = [part[CLUSTER] for part in shared]
    return frozenset(n for n in found if cluster_host(n) is not None and any(n in c for c in held))


def _kept(push: PushContext, part: Mapping[str, Mapping[str, Message]]) -> KeptPart:
    """`part` (clusters and endpoints, by type) as a lasting unit keyed by the very messages it
    holds (`KeptPart`): a new block narrowed to the same messages (one an endpoint or rule
    change rebuilt but kept those of) gives the same object, whose check and bytes the snapshot
    assembly kept with it, and which a sidecar's composition keeps (`SnapshotAssembly`). A
    message's name is its own (`resource_name`), so the ids of each type's say it all."""
    held = tuple(tuple(m for _, m in sorted(part[t].items())) for t in _TYPES)
    key = ("pilotfish.translate.on_demand.kept", *(tuple(map(id, h)) for h in held))
    build = lambda: KeptPart(part)  # noqa: E731
    return carry_of(push).unit(push, key, build, keep=held, lasting=True)


_TYPES = (CLUSTER, ENDPOINT)  # what a narrowed block holds (`_narrow`)


def listener_clusters(listeners: Iterable[Message]) -> set[str]:
    """The outbound cluster names anywhere in these listeners (TCP proxies, ext_authz
    services, tracers): looked up in their serialised bytes, so nothing they use is missed.
    A match may run on into the next field's bytes: a name is used if it starts one. Read
    once per listener content (`message_facts`: sidecars' listeners that differ only by the
    address they bind are read once)."""
    found: set[str] = set()
    for listener in listeners:
        found.update(message_facts.outbound_names(listener))
    return found


_Pieces = dict[str, dict[str, dict[str, Message]]]
"""host ("" for what is no service's) -> type URL -> name -> message."""


def _index(block: ProxyResources, push: PushContext) -> _Pieces:
    """The block's clusters and endpoints by service host, once per block (kept from one push
    context to the next while the block is the same object: `translate.carry`)."""
    key = ("pilotfish.translate.on_demand.index", id(block))
    return carry_of(push).unit(push, key, lambda: _index_of(block), keep=block)


def _index_of(block: ProxyResources) -> _Pieces:
    found: _Pieces = {}
    for type_url in (CLUSTER, ENDPOINT):
        for name, message in block[type_url].items():
            host = cluster_host(name) or ""
            found.setdefault(host, {CLUSTER: {}, ENDPOINT: {}})[type_url][name] = message
    return found


def _narrow(
    pieces: _Pieces, clusters: frozenset[str], used: frozenset[str]
) -> dict[str, dict[str, Message]]:
    kept: dict[str, dict[str, Message]] = {CLUSTER: {}, ENDPOINT: {}}
    for type_url, messages in pieces.get("", {}).items():
        kept[type_url].update(messages)
    for name in sorted(clusters):  # a cluster and its endpoints share their name
        for type_url, messages in pieces.get(cluster_host(name) or "", {}).items():
            if name in messages:
                kept[type_url][name] = messages[name]
    for match in used:  # a listener's cluster never asked for: that cluster only
        host = cluster_host(match) or ""
        for candidate in (h for h in pieces if h and host.startswith(h)):
            for type_url, messages in pieces[candidate].items():
                kept[type_url].update((n, m) for n, m in messages.items() if match.startswith(n))
    return kept  # the block's notes are read of the block (`_checked`)


def with_filter(listener: listener_pb2.Listener) -> listener_pb2.Listener:
    """`listener` with the on-demand filter before the fault filter (else just before the
    router) of each of its HTTP connection managers (a new message; the argument is not
    changed)."""
    changed = listener_pb2.Listener()
    changed.CopyFrom(listener)
    for chain in changed.filter_chains:
        for network_filter in chain.filters:
            manager = hcm_pb2.HttpConnectionManager()
            if not network_filter.typed_config.Unpack(manager):
                continue
            filters = list(manager.http_filters)
            names = [f.name for f in filters]  # before a fault that ends the request early: its
            at = names.index(FAULT_FILTER) if FAULT_FILTER in names else len(filters) - 1
            filters.insert(max(at, 0), on_demand_filter())  # metrics name the cluster's service
            del manager.http_filters[:]
            manager.http_filters.extend(filters)
            network_filter.typed_config.Pack(manager)
    return changed


__all__ = [
    "ON_DEMAND_FILTER",
    "applies",
    "cluster_host",
    "clusters_for",
    "narrowed",
    "on_demand_filter",
    "with_filter",
]
