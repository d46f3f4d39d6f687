"""Route configurations for sidecars: the outbound `http_proxy` and one per inbound port.

`http_proxy` has one virtual host per HTTP-family service port, named `<fqdn>:<port>`, whose
domains are the names an app may put in an absolute-form request (`fqdn`, `fqdn:port`,
`name.ns.svc:port`, `name.ns:port`, and `name:port` for the proxy's own namespace; port-less
short forms only for port 80). Its routes come from the VirtualService for the host (exact host
before wildcard, then namespace/name order) or Istio's `default` route. A catch-all virtual host
sends unknown hosts to the passthrough cluster (ALLOW_ANY) or answers 502 (REGISTRY_ONLY).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar, overload

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from envoy.type.matcher.v3 import string_pb2

from pilotfish.config.kinds import VIRTUAL_SERVICE, Kind
from pilotfish.config.objects import ConfigObject, Diagnostic, VirtualService
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import MESH_GATEWAY, PushContext
from pilotfish.registry.types import Service, ServicePort
from pilotfish.translate import names
from pilotfish.translate.carry import Carry, carry_of
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.envoy_pb import duration
from pilotfish.translate.http_routes import (
    RouteContext,
    default_route,
    set_grpc_timeout_cap,
    virtual_service_routes,
    with_istio_route_defaults,
)
from pilotfish.translate.slots import Slot, http_slots, service_domains
from pilotfish.translate.tcp import connect_sni_targets, connect_targets
from pilotfish.translate.traffic_policy import hash_policies


def http_proxy_route_config(
    proxy: Proxy,
    push: PushContext,
    clusters: Mapping[str, OutboundClusterSpec],
    diagnostics: list[Diagnostic],
    finish: Callable[[rc_pb2.VirtualHost], rc_pb2.VirtualHost] | None = None,
    slot_notes: list[tuple[Diagnostic, ...]] | None = None,
) -> route_pb2.RouteConfiguration:
    """The sidecar's `http_proxy` route configuration: a virtual host per slot (`http_slots`,
    `slot_unit`), then `tail_vhosts`. `finish` (e.g. telemetry) is applied to every virtual
    host once per unit and push context, however many configurations hold it (its result must
    depend only on the virtual host and the push context). `slot_notes` receives each slot's
    diagnostics in order (`derived_routes` patches them)."""
    config = route_pb2.RouteConfiguration(name=names.HTTP_PROXY_ROUTE_CONFIG)
    slots, claimed = http_slots(push, proxy.namespace)
    for slot in slots:
        unit = slot_unit(proxy, push, slot, clusters)
        diagnostics.extend(unit.diagnostics)
        if slot_notes is not None:
            slot_notes.append(unit.diagnostics)
        config.virtual_hosts.append(finished(push, unit, finish))
    config.virtual_hosts.extend(tail_vhosts(proxy, push, clusters, claimed, diagnostics, finish))
    return with_istio_route_defaults(config)


def slot_unit(
    proxy: Proxy, push: PushContext, slot: Slot, clusters: Mapping[str, OutboundClusterSpec]
) -> VhostUnit:
    """A slot's virtual host, a `Carry` unit keyed by what it depends on (service, port,
    domains, the VirtualService object, the cluster specs object, the proxy's labels and
    namespace only when some VirtualService matches on them, the mesh's default retry
    policy), plus the services and the
    config kinds its routes looked up: a VirtualService change rebuilds only the virtual
    hosts of its hosts, and one virtual host serves every namespace alike."""
    carry = carry_of(push)
    by_host = push.memo.get("pilotfish.translate.services_by_host")
    if by_host is None:
        by_host = push.memo["pilotfish.translate.services_by_host"] = {
            s.hostname: s for s in push.services
        }
        carry.provide(push, "services", by_host)
    labels_matter, namespace_matters = push.source_matches()
    service, port, domains = slot.service, slot.port, slot.domains
    vs = push.mesh_virtual_service(service.hostname, proxy.namespace)
    labels = proxy.labels if labels_matter and _may_match_labels(vs) else ()
    key = (
        "pilotfish.translate.vhost",
        id(service),
        port.port,
        domains,
        id(vs),
        id(clusters),
        labels,
        proxy.namespace if namespace_matters else "",
        push.mesh.retries.outbound,  # by value: the routes that set no retries take it
    )
    build = partial(_vhost, push, carry, proxy, service, port, domains, vs, clusters, labels)
    return carry.unit(push, key, build, keep=(vs, clusters, service), lasting=True)


def tail_vhosts(
    proxy: Proxy,
    push: PushContext,
    clusters: Mapping[str, OutboundClusterSpec],
    claimed: frozenset[str],
    diagnostics: list[Diagnostic],
    finish: Callable[[rc_pb2.VirtualHost], rc_pb2.VirtualHost] | None = None,
) -> list[rc_pb2.VirtualHost]:
    """What follows the slots: CONNECT virtual hosts, the pod's own, the catch-all (these two
    the same objects for every namespace of a push context: `finish` keeps what it made of
    them, `observability.reused_outbound_vhost`)."""
    policy = push.mesh.outbound_traffic_policy
    key = ("pilotfish.translate.virtual_hosts.tail", policy)
    fixed: tuple[rc_pb2.VirtualHost, ...] | None = push.memo.get(key)
    if fixed is None:
        fixed = push.memo[key] = (pod_local_vhost(), catch_all_vhost(policy))
    others = [*connect_vhosts(proxy, push, clusters, set(claimed), diagnostics), *fixed]
    return others if finish is None else [finish(v) for v in others]


def finished(
    push: PushContext,
    unit: VhostUnit,
    finish: Callable[[rc_pb2.VirtualHost], rc_pb2.VirtualHost] | None,
) -> rc_pb2.VirtualHost:
    """`unit`'s virtual host through `finish`, memoised per push context and unit (held with
    it, so no other unit takes its id meanwhile)."""
    if finish is None:
        return unit.vhost
    key = ("pilotfish.translate.vhost.finished", id(unit))
    found: tuple[VhostUnit, rc_pb2.VirtualHost] | None = push.memo.get(key)
    if found is None or found[0] is not unit:
        found = push.memo[key] = (unit, finish(unit.vhost))
    return found[1]


def _may_match_labels(vs: VirtualService | None) -> bool:
    """Whether routes built from `vs` may depend on the caller's labels (a `sourceLabels`
    match, or a delegate, whose matches are the delegate's)."""
    for http in (vs.spec.http or ()) if vs is not None else ():
        if http.delegate is not None:
            return True
        if any(m.source_labels for m in http.match or ()):
            return True
    return False


@dataclass(frozen=True)
class VhostUnit:
    vhost: rc_pb2.VirtualHost  # never mutate: shared by every configuration holding it
    diagnostics: tuple[Diagnostic, ...]


class _ServicesByHost:
    """`RegistrySnapshot.service` over a watched hostname -> Service mapping."""

    def __init__(self, by_host: Mapping[str, Service]) -> None:
        self.by_host = by_host

    def service(self, hostname: str) -> Service | None:
        found: Service | None = self.by_host.get(hostname)
        return found


SpecT = TypeVar("SpecT")


class _LazyKind(Sequence[ConfigObject[SpecT]]):
    """`push.kind(kind)`, read (and so recorded) only if something looks at it."""

    def __init__(self, push: PushContext, kind: Kind[SpecT]) -> None:
        self.push, self.kind = push, kind

    @overload
    def __getitem__(self, index: int) -> ConfigObject[SpecT]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[ConfigObject[SpecT]]: ...
    def __getitem__(
        self, index: int | slice
    ) -> ConfigObject[SpecT] | Sequence[ConfigObject[SpecT]]:
        return self.push.kind(self.kind)[index]

    def __len__(self) -> int:
        return len(self.push.kind(self.kind))


def _vhost(
    push: PushContext,
    carry: Carry,
    proxy: Proxy,
    service: Service,
    port: ServicePort,
    domains: tuple[str, ...],
    vs: VirtualService | None,
    clusters: Mapping[str, OutboundClusterSpec],
    labels: tuple[tuple[str, str], ...],
) -> VhostUnit:
    notes: list[Diagnostic] = []
    ctx = RouteContext(
        registry=_ServicesByHost(carry.watch("services", Service)),
        clusters=clusters,
        port=port.port,
        gateway=MESH_GATEWAY,
        proxy_labels=dict(labels),
        diagnostics=notes,
        proxy_namespace=proxy.namespace,
        virtual_services=_LazyKind(push, VIRTUAL_SERVICE),
        default_retries=push.mesh.retries.outbound,
    )
    routes = virtual_service_routes(vs, ctx) if vs is not None else []
    if not routes:
        cluster = names.outbound_cluster(port.port, service.hostname)
        hashing = hash_policies(clusters[cluster].policy.load_balancer)
        routes = [default_route(cluster, hashing, push.mesh.retries.outbound)]
    vhost = rc_pb2.VirtualHost(
        name=names.vhost(service.hostname, port.port), domains=domains, routes=routes
    )
    return VhostUnit(vhost, tuple(notes))


def connect_route(name: str, targets: list[tuple[str, int]]) -> rc_pb2.Route:
    """Terminate `CONNECT` and tunnel the bytes to the target cluster(s) (TLS stays end to
    end); several targets are weighted as the VirtualService's L4 route says."""
    upgrade = rc_pb2.RouteAction.UpgradeConfig(
        upgrade_type="CONNECT", connect_config=rc_pb2.RouteAction.UpgradeConfig.ConnectConfig()
    )
    action = rc_pb2.RouteAction(timeout=duration(0), upgrade_configs=[upgrade])
    if len(targets) == 1:
        action.cluster = targets[0][0]
    else:
        for cluster, weight in targets:
            action.weighted_clusters.clusters.add(name=cluster).weight.value = weight
    match = rc_pb2.RouteMatch(connect_matcher=rc_pb2.RouteMatch.ConnectMatcher())
    return rc_pb2.Route(name=name, match=match, route=action)


def connect_vhosts(
    proxy: Proxy,
    push: PushContext,
    clusters: Mapping[str, OutboundClusterSpec],
    claimed: set[str],
    diagnostics: list[Diagnostic],
) -> list[rc_pb2.VirtualHost]:
    """Non-HTTP service ports (TLS, HTTPS, TCP) reached with `CONNECT host:port` through the HTTP
    proxy, the way `https://` URLs go through HTTPS_PROXY: one virtual host per port, routed by
    the host's VirtualService `tls`/`tcp` routes as its TCP listener is (`tcp.connect_targets`),
    and one per other SNI those `tls` routes name (`tcp.connect_sni_targets`)."""
    found = []
    for service, port in _other_ports(push):
        if names.outbound_cluster(port.port, service.hostname) in clusters:
            domains = [
                d
                for d in service_domains(service, port, proxy.namespace)
                if ":" in d and d not in claimed
            ]
            if not domains:
                continue
            claimed.update(domains)
            name = names.vhost(service.hostname, port.port)
            targets = connect_targets(proxy, push, service, port.port, clusters, diagnostics)
            found.append(
                rc_pb2.VirtualHost(
                    name=name, domains=domains, routes=[connect_route(name, targets)]
                )
            )
            for sni, sni_targets in connect_sni_targets(
                proxy, push, service, port.port, clusters, diagnostics
            ):
                if (domain := f"{sni}:{port.port}") not in claimed:
                    claimed.add(domain)
                    name = names.vhost(sni, port.port)
                    route = connect_route(name, sni_targets)
                    found.append(rc_pb2.VirtualHost(name=name, domains=[domain], routes=[route]))
    return found


def _other_ports(push: PushContext) -> tuple[tuple[Service, ServicePort], ...]:
    """The services' ports that are not HTTP-family, in order, memoised per push context."""
    key = "pilotfish.translate.virtual_hosts.other_ports"
    found: tuple[tuple[Service, ServicePort], ...] | None = push.memo.get(key)
    if found is None:
        found = push.memo[key] = tuple(
            (s, p) for s in push.services for p in s.ports if not p.protocol.is_http
        )
    return found


POD_LOCAL_PORTS = (15000, 15090)  # Envoy's admin, and its Prometheus page as Istio serves it
_STATS_PAGE = "/stats/prometheus"


def pod_local_authorities() -> list[str]:
    """The authorities of `pod_local_vhost`: requests for them go to the pod's own Envoy."""
    return [f"{host}:{port}" for port in POD_LOCAL_PORTS for host in ("localhost", "127.0.0.1")]


def pod_local_vhost() -> rc_pb2.VirtualHost:
    """Local mode: inside a pod, `localhost:15000` is that pod's Envoy admin (`kubectl exec … --
    curl localhost:15000/stats`). Apps share the machine's loopback, so a request for it comes
    to the sidecar as a proxied `http://localhost:15000/…`, which goes to the sidecar's own admin
    (a bootstrap cluster). Its `/stats/prometheus`, and `localhost:15090`, go to the pod's 15090,
    where Istio's metrics have Istio's names and labels, as Istio's Envoy prints them on both
    (`kubectl exec POD -c istio-proxy -- curl localhost:15000/stats/prometheus | grep
    istio_requests_total`, Istio's "Customizing Istio Metrics")."""
    domains = pod_local_authorities()
    stats_port = [
        rc_pb2.HeaderMatcher(
            name=":authority",
            string_match=string_pb2.StringMatcher(suffix=f":{POD_LOCAL_PORTS[1]}"),
        )
    ]

    def route(match: rc_pb2.RouteMatch, cluster: str) -> rc_pb2.Route:
        action = rc_pb2.RouteAction(cluster=cluster, timeout=duration(0))
        return rc_pb2.Route(name=names.POD_LOCAL_VHOST, match=match, route=action)

    routes = [
        route(rc_pb2.RouteMatch(prefix="/", headers=stats_port), names.STATS_SELF_CLUSTER),
        route(rc_pb2.RouteMatch(path_separated_prefix=_STATS_PAGE), names.STATS_SELF_CLUSTER),
        route(rc_pb2.RouteMatch(prefix="/"), names.ADMIN_SELF_CLUSTER),
    ]
    return rc_pb2.VirtualHost(name=names.POD_LOCAL_VHOST, domains=domains, routes=routes)


def catch_all_vhost(outbound_traffic_policy: str) -> rc_pb2.VirtualHost:
    everything = rc_pb2.RouteMatch(prefix="/")
    if outbound_traffic_policy == "REGISTRY_ONLY":
        refuse = rc_pb2.DirectResponseAction(status=502)
        connect = rc_pb2.RouteMatch(connect_matcher=rc_pb2.RouteMatch.ConnectMatcher())
        return rc_pb2.VirtualHost(
            name=names.BLOCK_ALL_VHOST,
            domains=["*"],
            routes=[
                rc_pb2.Route(name=names.BLOCK_ALL_VHOST, match=connect, direct_response=refuse),
                rc_pb2.Route(name=names.BLOCK_ALL_VHOST, match=everything, direct_response=refuse),
            ],
        )
    action = rc_pb2.RouteAction(cluster=names.PASSTHROUGH_CLUSTER, timeout=duration(0))
    set_grpc_timeout_cap(action, duration(0))
    return rc_pb2.VirtualHost(
        name=names.ALLOW_ANY_VHOST,
        domains=["*"],
        routes=[
            connect_route(names.ALLOW_ANY_VHOST, [(names.PASSTHROUGH_CLUSTER, 100)]),
            rc_pb2.Route(name=names.ALLOW_ANY_VHOST, match=everything, route=action),
        ],
    )


def inbound_route_config(
    container_port: int, retry: rc_pb2.RetryPolicy | None = None
) -> route_pb2.RouteConfiguration:
    """Istio's inbound route configuration of an HTTP port: everything to the app, no timeout,
    `retry` (`retries.inbound_retry_policy`)."""
    action = rc_pb2.RouteAction(cluster=names.inbound_cluster(container_port), timeout=duration(0))
    set_grpc_timeout_cap(action, duration(0))
    if retry is not None:
        action.retry_policy.CopyFrom(retry)
    return route_pb2.RouteConfiguration(
        name=names.inbound_route_config(container_port),
        virtual_hosts=[
            rc_pb2.VirtualHost(
                name=f"inbound|http|{container_port}",
                domains=["*"],
                routes=[
                    rc_pb2.Route(
                        name=names.DEFAULT_ROUTE,
                        match=rc_pb2.RouteMatch(prefix="/"),
                        route=action,
                    )
                ],
            )
        ],
    )
