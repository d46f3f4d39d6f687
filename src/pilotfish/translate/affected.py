"""Which proxies a config change can affect: only those are translated again and pushed.

Istio scopes a push by what changed (`PushRequest.ConfigsUpdated`, `DefaultProxyNeedsPush`,
`SidecarScope.DependsOnConfig`); pilotfish does the same, conservatively — when in doubt, a
proxy is affected:
- gateways are affected by every change (there are few of them, and they read most kinds);
- a `Gateway` affects only gateways; a VirtualService whose `gateways` do not include `mesh`
  also affects only gateways;
- a namespaced policy (AuthorizationPolicy, RequestAuthentication, Telemetry, Sidecar,
  EnvoyFilter: Istio's namespace-scoped kinds) affects the proxies of its namespace, every
  proxy when it is in the root namespace (or when a Telemetry change decides whether clients
  send their identity at all: `policy.peers_exchanged`);
- a VirtualService or DestinationRule affects the proxies of the namespaces it is exported to
  (a DestinationRule with a `workloadSelector`: the proxies of its namespace it selects, and
  the others there only if what they get for its host changes: `_selected_reaches`);
  a ServiceEntry every proxy (its `exportTo` does not narrow the registry here). Of those, a
  proxy whose `Sidecar` narrows its egress is affected only if one of the services the object's
  hosts name is visible to it (every proxy that can see it when the hosts name no service);
- anything else (PeerAuthentication, which clients read for auto mTLS — Istio pushes it to every
  proxy too —, the manifest, kinds not listed here) affects every proxy: `affected_proxies`
  returns None.
Both versions of a changed object count (what it was, what it is). A manifest change of the
mesh's outbound traffic policy alone affects every proxy, but of a sidecar's own part only its
HTTP proxy listeners (`outbound_policy_change`, `generate.with_new_outbound_policy`).

A registry change that moves only endpoints (pods scaled, made ready or not ready, with the same
services and config) is Istio's incremental EDS push: `endpoint_change` names the services whose
endpoints moved, and the control plane rebuilds only the outbound clusters' endpoint assignments
(`generate.with_new_endpoints`), so sidecars are sent EDS for those clusters and nothing else. As
in Istio, it is a full push when more than endpoints can change: the service accounts secure
naming lists in a cluster (`mesh_tls.service_accounts`), a service
whose clusters carry their endpoints (DNS ServiceEntries), or endpoint addresses a TCP route
matches (`destinationSubnets`). What TCP servers know of their clients' certificates
(`peer_table_changed`) is not a reason: only the sidecars whose own part holds
that table are translated again (`ControlPlane.set_instances`).
Pure; checked against translation from scratch by `tests/controlplane/test_incremental.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pilotfish.config.hosts import host_matches, resolve_host
from pilotfish.config.kinds import (
    AUTHORIZATION_POLICY,
    DESTINATION_RULE,
    ENVOY_FILTER,
    GATEWAY,
    REQUEST_AUTHENTICATION,
    SERVICE_ENTRY,
    SIDECAR,
    TELEMETRY_KIND,
    VIRTUAL_SERVICE,
)
from pilotfish.config.objects import AnyConfig
from pilotfish.model.host_index import exported_to
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import MESH_GATEWAY, PushContext
from pilotfish.registry.types import Endpoint, Service
from pilotfish.telemetry import exchange
from pilotfish.telemetry.policy import peers_exchanged
from pilotfish.translate.mesh_tls import service_accounts
from pilotfish.translate.observability import principal_table, workload_identities
from pilotfish.translate.resources import ProxyResources
from pilotfish.translate.service_entries import carries_endpoints
from pilotfish.translate.sidecar_scope import selected_sidecar, visible

NAMESPACED: frozenset[str] = frozenset(
    {AUTHORIZATION_POLICY, REQUEST_AUTHENTICATION, TELEMETRY_KIND, SIDECAR, ENVOY_FILTER}
)
ROUTING: frozenset[str] = frozenset({VIRTUAL_SERVICE, DESTINATION_RULE, SERVICE_ENTRY})


def changed_configs(old: Iterable[AnyConfig], new: Iterable[AnyConfig]) -> list[AnyConfig]:
    """Both versions of every object that is not the same in `old` and `new` (by store key):
    re-applying an unchanged object from the same file changes nothing. Objects found in both
    (the same object: parsed objects are reused) are set aside first by identity, so a change
    costs what it changed, not a key per object."""
    old, new = list(old), list(new)
    old_at = dict(zip(map(id, old), range(len(old)), strict=True))  # id -> last index, in C
    new_at = dict(zip(map(id, new), range(len(new)), strict=True))
    gone = sorted(old_at.keys() - new_at.keys(), key=old_at.__getitem__)
    came = sorted(new_at.keys() - old_at.keys(), key=new_at.__getitem__)
    before = {old[old_at[i]].meta.key: old[old_at[i]] for i in gone}
    after = {new[new_at[i]].meta.key: new[new_at[i]] for i in came}
    changed: list[AnyConfig] = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was is now or (
            was is not None
            and now is not None
            and was.raw == now.raw
            and was.meta.source == now.meta.source  # translation's notes name file and line
            and was.lines == now.lines
        ):
            continue
        changed.extend(c for c in (was, now) if c is not None)
    return changed


def affected_proxies(
    proxies: Mapping[str, Proxy],
    changed: Iterable[AnyConfig],
    push: PushContext,
    previous: PushContext,
) -> set[str] | None:
    """Node ids of the proxies the changed objects can affect; None: every proxy."""
    changed = list(changed)
    if any(c.meta.kind not in NAMESPACED | ROUTING | {GATEWAY} for c in changed):
        return None
    if any(_selects_workloads(c) for c in changed):
        return None
    if push.source_matches() != previous.source_matches():
        return None  # whether routes depend on the proxy's own labels changed
    if peers_exchanged(push) != peers_exchanged(previous):
        return None  # whether every client sends its identity changed
    by_namespace: dict[tuple[str, object], bool] = {}  # with no Sidecar, a sidecar's
    per_namespace = not push.kind(SIDECAR)  # namespace decides (and its labels, in one of a
    selecting = {c.meta.namespace for c in changed if _selected_rule(c)}  # changed selector)
    affected = set()
    for node_id, proxy in proxies.items():
        if proxy.is_gateway:
            affected.add(node_id)
            continue
        key = (proxy.namespace, proxy.labels if proxy.namespace in selecting else None)
        found = by_namespace.get(key) if per_namespace else None
        if found is None:
            found = any(_depends(proxy, c, push, previous) for c in changed)
            by_namespace[key] = found
        if found:
            affected.add(node_id)
    return affected


def virtual_service_hosts(
    changed: Iterable[AnyConfig], push: PushContext, previous: PushContext
) -> frozenset[str] | None:
    """The hostnames of the services the changed objects name, when every one is a
    VirtualService with HTTP routes only that names one at least (then it changes only the
    virtual hosts of those services: `translate.on_demand_routes.holds_any`); else None."""
    found: set[str] = set()
    for config in changed:
        spec = config.spec
        if config.meta.kind != VIRTUAL_SERVICE or getattr(spec, "tcp", None):
            return None
        if getattr(spec, "tls", None):
            return None
        services = [*_named_services(config, push), *_named_services(config, previous)]
        if not services:
            return None
        found.update(s.hostname for s in services)
    return frozenset(found)


def _selects_workloads(config: AnyConfig) -> bool:
    """A ServiceEntry with a `workloadSelector` makes pods its endpoints (and changes them)."""
    return config.meta.kind == SERVICE_ENTRY and bool(
        getattr(config.spec, "workload_selector", None)
    )


def _depends(proxy: Proxy, config: AnyConfig, push: PushContext, previous: PushContext) -> bool:
    kind, namespace = config.meta.kind, config.meta.namespace
    if kind == GATEWAY:
        return False
    if kind in NAMESPACED:
        return namespace in (proxy.namespace, push.mesh.root_namespace)
    if kind == VIRTUAL_SERVICE:
        gateways = tuple(getattr(config.spec, "gateways", ()) or ())
        if gateways and MESH_GATEWAY not in gateways:
            return False
    if _selected_rule(config):
        return namespace == proxy.namespace and _selected_reaches(proxy, config, push, previous)
    defaults = push.mesh.export_defaults
    default = defaults.virtual_service if kind == VIRTUAL_SERVICE else defaults.destination_rule
    if kind != SERVICE_ENTRY and not exported_to(config, proxy.namespace, default):
        return False
    sidecar = selected_sidecar(proxy, push)
    if sidecar is None or not sidecar.spec.egress:
        return True
    services = [*_named_services(config, push), *_named_services(config, previous)]
    return not services or any(visible(sidecar, proxy.namespace, s) for s in services)


def _selected_rule(config: AnyConfig) -> bool:
    """A DestinationRule with a `workloadSelector`: its own namespace's proxies' alone."""
    return config.meta.kind == DESTINATION_RULE and config.spec.workload_selector is not None


def _selected_reaches(
    proxy: Proxy, config: AnyConfig, push: PushContext, previous: PushContext
) -> bool:
    """Whether a DestinationRule with a selector, of `proxy`'s namespace, can change what the
    proxy gets: it selects the proxy, or what the namespace's proxies that no rule selects
    get for a host it names changed (a rule with a selector hides the service namespace's
    rules from them: `model.destination_rules`), which the proxy gets for such a host
    unless a rule selects it."""
    labels = proxy.label_map
    if all(labels.get(k) == v for k, v in config.spec.workload_selector.match_labels.items()):
        return True
    namespace = proxy.namespace
    services = {s.hostname: s for s in [*_named_services(config, push),
                                        *_named_services(config, previous)]}  # fmt: skip
    return any(
        push.destination_rule(s.hostname, namespace, s.namespace, ())
        != previous.destination_rule(s.hostname, namespace, s.namespace, ())
        for s in services.values()
    )


def _named_services(config: AnyConfig, push: PushContext) -> list[Service]:
    """Services of `push` that the object's hosts (`hosts`, or a DestinationRule's `host`)
    name or cover (in no particular order)."""
    spec = config.spec
    written = list(getattr(spec, "hosts", ()) or ())
    host = getattr(spec, "host", None)
    if isinstance(host, str):
        written.append(host)
    patterns = [resolve_host(h, config.meta.namespace) for h in written]
    if any(p.startswith("*") for p in patterns):
        return [s for s in push.services if any(host_matches(p, s.hostname) for p in patterns)]
    key = "pilotfish.translate.affected.services_by_host"  # names alone: looked up, not scanned
    by_host: dict[str, list[Service]] | None = push.memo.get(key)
    if by_host is None:
        by_host = push.memo[key] = {}
        for service in push.services:
            by_host.setdefault(service.hostname.lower(), []).append(service)
    found = {id(s): s for p in patterns for s in by_host.get(p.lower(), ())}
    return list(found.values())


def endpoint_change(previous: PushContext, push: PushContext) -> frozenset[str] | None:
    """Hostnames of the services whose endpoints differ from `previous` to `push` when nothing
    but endpoint assignments can differ (an EDS-only push); None when the change needs a full
    push (see the module's docstring)."""
    if (
        previous.services != push.services
        or previous.configs != push.configs
        or previous.mesh != push.mesh
    ):
        return None
    candidates = push.moved_by(previous.registry.instances)  # selecting a changed instance
    moved: set[str] = set()
    for service in push.services:
        if candidates is not None and service.hostname not in candidates:
            continue
        before = [previous.endpoints(service, p) for p in service.ports]
        after = [push.endpoints(service, p) for p in service.ports]
        if before == after:
            continue
        if any(carries_endpoints(service, p) for p in service.ports):
            return None
        if service_accounts(service, previous) != service_accounts(service, push):
            return None
        if (
            not service.addresses
            and _addresses(before) != _addresses(after)
            and _matches_destination_subnets(push)
        ):
            return None
        moved.add(service.hostname)
    return frozenset(moved)


def peer_table_changed(previous: PushContext, push: PushContext) -> bool:
    """Whether the table TCP servers read their clients from (`observability.principal_table`)
    differs from `previous` to `push` (the identities first: tables are built only when those
    differ)."""
    if workload_identities(previous) == workload_identities(push):
        return False
    return principal_table(previous) != principal_table(push)


def holds_peer_table(own: ProxyResources) -> bool:
    """Whether a sidecar's own part holds that table (the inbound clusters of its mutual TLS
    TCP chains carry it in their metadata): a change of the table translates it again."""
    return any(
        exchange.PEERS_METADATA in cluster.metadata.filter_metadata
        for cluster in own.clusters.values()
    )


def _addresses(endpoints: list[tuple[Endpoint, ...]]) -> set[str]:
    return {e.address for found in endpoints for e in found}


def _matches_destination_subnets(push: PushContext) -> bool:
    """Some TCP/TLS route matches on destination subnets (`translate.tcp` reads the endpoint
    addresses of a service without `addresses` for them). Asked again of the very same
    VirtualServices (a push context keeps the kind's tuple: `model.kind_groups`), the last
    answer."""
    global _SUBNETS
    found, last = push.virtual_services(), _SUBNETS
    if last[0] is not found:
        last = _SUBNETS = (found, any(_subnet_match(vs.spec) for vs in found))
    return last[1]


def _subnet_match(spec: Any) -> bool:
    routes = (*(spec.tcp or ()), *(spec.tls or ()))
    return any(m.destination_subnets for r in routes for m in r.match or ())


_SUBNETS: tuple[object, bool] = ((), False)  # the last VirtualServices asked about, the answer


def outbound_policy_change(push: PushContext, previous: PushContext) -> bool:
    """Whether the mesh's `outboundTrafficPolicy` is all that differs between two push contexts
    built from the same config objects: a sidecar's route configuration changes (its catch-all
    virtual host), its own part does not (`generate.with_new_outbound_policy`)."""
    before = previous.mesh
    return (
        push.mesh != before
        and dataclasses.replace(push.mesh, outbound_traffic_policy=before.outbound_traffic_policy)
        == before
        and push.registry == previous.registry
    )


def manifest_affects_proxies(push: PushContext, previous: PushContext) -> bool:
    """Whether a manifest change can affect any proxy: translation reads of the manifest only
    what the push context holds of it (services, gateway secrets, mesh config). A change of
    workloads only (replicas, command, env) affects none: as a Deployment in Istio, it moves
    pods, whose endpoints come as registry changes (`endpoint_change`)."""
    return (
        push.mesh != previous.mesh
        or push.registry.services != previous.registry.services
        or push.registry.secrets != previous.registry.secrets
    )
