"""TCP and TLS routing: VirtualService `tcp` and `tls` routes -> Envoy `tcp_proxy` filter chains.

Sidecars: every TCP-family service port (TCP, TLS, HTTPS, ... : not HTTP, not UNKNOWN) gets an
outbound listener `outbound_<proxy ip>_<listen port>` at the sidecar's own address (ports chosen
by `pilotfish.registry.tcp_ports`, the same function that gives the app its
`<NAME>_SERVICE_HOST/PORT` variables). Its filter chains come from the VirtualService for the
host (the most specific one bound to `mesh`):

- `tls` routes (TLS/HTTPS ports): a `tls_inspector` reads the SNI; each applying match becomes
  one chain with `server_names` = its `sniHosts`, in route order (a repeated SNI set keeps the
  first); the default chain (no SNI match) carries the first applying `tcp` route or the
  service's own cluster.
- `tcp` routes: the first route with an applying match (or no match) wins.
- A match applies when its `port` is the service port, `gateways` names `mesh` (or is empty and
  the VS is mesh-bound), `sourceLabels` are a subset of the proxy's labels, `sourceNamespace`
  is the proxy's namespace, and `destinationSubnets` contain one of the service's addresses
  (ServiceEntry `addresses`, else its endpoint addresses): in local mode the connection's own
  destination is the sidecar's listener, so the subnet is checked against the service instead.

A captured pod (`up --isolated`) also gets, for each such port of a service with a cluster IP,
Istio's `<VIP>_<port>` listener (not bound; the same chains): a connection its app makes to
the VIP is handed there by `virtualOutbound`.

Destinations become one cluster, or `weighted_clusters` for several (the rules of
`destinations.py`, shared with HTTP routes; nothing left -> `BlackHoleCluster`). Pure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from pilotfish.config.hosts import host_matches, resolve_host
from pilotfish.config.objects import Diagnostic, VirtualService
from pilotfish.config.protocols import TLS_FAMILY
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import MESH_GATEWAY, PushContext, gateway_ref
from pilotfish.registry.cluster_ips import cluster_ip
from pilotfish.registry.tcp_ports import outbound_tcp_ports
from pilotfish.registry.types import Service
from pilotfish.translate import names
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.destinations import Destinations, split
from pilotfish.translate.envoy_pb import TCP_PROXY_FILTER, pack, socket_address
from pilotfish.translate.istio_metadata import config_path, set_config
from pilotfish.translate.mtls import detect_within, tls_inspector

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        L4MatchAttributes,
        TCPRoute,
        TLSMatchAttributes,
        TLSRoute,
    )


def tcp_proxy(
    stat_prefix: str,
    vs: VirtualService | None,
    route: TCPRoute | TLSRoute | None,
    port: int,
    push: PushContext,
    clusters: Mapping[str, OutboundClusterSpec],
    diagnostics: list[Diagnostic],
    path: str,
) -> tcp_proxy_pb2.TcpProxy:
    """A `tcp_proxy` for one `tcp`/`tls` route's destinations (weighted when several)."""
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix)
    traffic = None
    if vs is not None and route is not None:
        destinations = Destinations(push.registry, clusters, port, diagnostics)
        traffic = split(route, destinations.targets(vs, route, path))
    if isinstance(traffic, str):
        proxy.cluster = traffic
    elif traffic:
        for target in traffic:
            proxy.weighted_clusters.clusters.append(
                tcp_proxy_pb2.TcpProxy.WeightedCluster.ClusterWeight(
                    name=target.cluster, weight=target.weight
                )
            )
    else:
        proxy.cluster = names.BLACKHOLE_CLUSTER
    return proxy


def l4_targets(
    vs: VirtualService | None,
    route: TCPRoute | TLSRoute | None,
    port: int,
    push: PushContext,
    clusters: Mapping[str, OutboundClusterSpec],
    diagnostics: list[Diagnostic],
    path: str,
) -> list[tuple[str, int]]:
    """(cluster, weight) of one `tcp`/`tls` route's destinations, as `tcp_proxy` splits them."""
    if vs is None or route is None:
        return []
    destinations = Destinations(push.registry, clusters, port, diagnostics)
    traffic = split(route, destinations.targets(vs, route, path))
    if isinstance(traffic, str):
        return [(traffic, 100)]
    return [(t.cluster, t.weight) for t in traffic or ()]


def connect_targets(
    proxy: Proxy,
    push: PushContext,
    service: Service,
    number: int,
    clusters: Mapping[str, OutboundClusterSpec],
    diagnostics: list[Diagnostic],
) -> list[tuple[str, int]]:
    """Where `CONNECT host:port` through the HTTP proxy goes: as the TCP listener would send
    it. The sidecar decides when the tunnel opens, before any TLS, so a `tls` route matches
    when its `sniHosts` name the CONNECT host (the SNI an `https://host` client sends); then the
    first applying `tcp` route; else the service itself."""
    vs = push.mesh_virtual_service(service.hostname, proxy.namespace)
    own = [(names.outbound_cluster(number, service.hostname), 100)]
    if vs is None:
        return own
    addresses = _service_addresses(service, push)

    def applies(match: L4MatchAttributes | TLSMatchAttributes) -> bool:
        return l4_match_applies(
            match, port=number, gateway=MESH_GATEWAY, vs_namespace=vs.meta.namespace,
            labels=proxy.label_map, namespace=proxy.namespace, addresses=addresses,
        )  # fmt: skip

    for index, route in enumerate(vs.spec.tls or ()):
        for match in route.match or ():
            sni = {resolve_host(h, vs.meta.namespace) for h in match.sni_hosts}
            if any(host_matches(h, service.hostname) for h in sni) and applies(match):
                path = f"spec.tls[{index}]"
                return l4_targets(vs, route, number, push, clusters, diagnostics, path) or own
    tcp_route, path = first_tcp_route(vs, applies)
    if tcp_route is None:
        return own
    return l4_targets(vs, tcp_route, number, push, clusters, diagnostics, path) or own


def connect_sni_targets(
    proxy: Proxy,
    push: PushContext,
    service: Service,
    number: int,
    clusters: Mapping[str, OutboundClusterSpec],
    diagnostics: list[Diagnostic],
) -> list[tuple[str, list[tuple[str, int]]]]:
    """The other names a `CONNECT name:port` may ask for and still reach this port's routes: the
    wildcard `sniHosts` (`*.wikipedia.org`) of the host's VirtualService `tls` routes that apply
    (Istio's sidecar gives this port's listener a chain per SNI, whatever address the client
    dialled), each with that route's targets, in config order. Exact names have virtual hosts
    of their own when they are services (`connect_targets`); `*` alone is left out."""
    vs = push.mesh_virtual_service(service.hostname, proxy.namespace)
    if vs is None:
        return []
    addresses = _service_addresses(service, push)
    found = []
    for index, route in enumerate(vs.spec.tls or ()):
        for match in route.match or ():
            applies = l4_match_applies(
                match, port=number, gateway=MESH_GATEWAY, vs_namespace=vs.meta.namespace,
                labels=proxy.label_map, namespace=proxy.namespace, addresses=addresses,
            )  # fmt: skip
            if not applies:
                continue
            for host in match.sni_hosts:
                sni = resolve_host(host, vs.meta.namespace)
                path = f"spec.tls[{index}]"
                targets = l4_targets(vs, route, number, push, clusters, diagnostics, path)
                if sni.startswith("*.") and targets:
                    found.append((sni, targets))
    return found


def _in_subnets(subnets: Iterable[str], addresses: Iterable[str]) -> bool:
    networks = []
    for subnet in subnets:
        try:
            networks.append(ipaddress.ip_network(subnet, strict=False))
        except ValueError:
            continue
    for address in addresses:
        try:
            found = ipaddress.ip_network(address, strict=False)
        except ValueError:
            continue
        if any(found.version == n.version and found.subnet_of(n) for n in networks):  # type: ignore[arg-type]
            return True
    return False


def l4_match_applies(
    match: L4MatchAttributes | TLSMatchAttributes,
    *,
    port: int,
    gateway: str,
    vs_namespace: str,
    labels: Mapping[str, str],
    namespace: str,
    addresses: Iterable[str] = (),
) -> bool:
    """Istio's L4 match semantics (see the module docstring), for one service port."""
    if match.port and match.port != port:
        return False
    gateways = [gateway_ref(g, vs_namespace) for g in match.gateways or ()]
    if gateways and gateway not in gateways:
        return False
    if match.source_labels and any(labels.get(k) != v for k, v in match.source_labels.items()):
        return False
    if match.source_namespace and match.source_namespace != namespace:
        return False
    subnets = match.destination_subnets
    return not subnets or _in_subnets(subnets, addresses)


def first_tcp_route(
    vs: VirtualService | None, applies: Callable[[L4MatchAttributes], bool]
) -> tuple[TCPRoute, str] | tuple[None, str]:
    """The first `tcp` route with an applying match (or none), and its path."""
    for index, route in enumerate(vs.spec.tcp or () if vs is not None else ()):
        if not route.match or any(applies(m) for m in route.match):
            return route, f"spec.tcp[{index}]"
    return None, ""


def _service_addresses(service: Service, push: PushContext) -> list[str]:
    if service.addresses:
        return list(service.addresses)
    return sorted({e.address for p in service.ports for e in push.endpoints(service, p)})


def _filter(proxy: tcp_proxy_pb2.TcpProxy) -> lc_pb2.Filter:
    return lc_pb2.Filter(name=TCP_PROXY_FILTER, typed_config=pack(proxy))


def sidecar_tcp_listeners(
    proxy: Proxy,
    push: PushContext,
    clusters: Mapping[str, OutboundClusterSpec],
    diagnostics: list[Diagnostic],
    all_services: Iterable[Service],
) -> list[listener_pb2.Listener]:
    """One outbound listener per TCP-family service port the proxy can see; listen ports are
    allocated over `all_services` (unscoped), as the agent does for the app's environment."""
    inbound = tuple(container for container, _ in proxy.app_ports)
    found = []
    services = tuple(all_services)
    key = ("pilotfish.translate.tcp_ports", id(services) if services else 0, inbound)
    ports = push.memo.get(key)
    if ports is None or ports[0] is not services:  # the same for every proxy: memoised
        ports = push.memo[key] = (services, outbound_tcp_ports(services, inbound))
    for item in ports[1]:
        service, port = item.service, item.port
        if names.outbound_cluster(port.port, service.hostname) not in clusters:
            continue
        vs = push.mesh_virtual_service(service.hostname, proxy.namespace)
        addresses = _service_addresses(service, push)

        def applies(
            match: L4MatchAttributes | TLSMatchAttributes,
            number: int = port.port,
            where: list[str] = addresses,
            vs_namespace: str = vs.meta.namespace if vs is not None else proxy.namespace,
        ) -> bool:
            return l4_match_applies(
                match,
                port=number,
                gateway=MESH_GATEWAY,
                vs_namespace=vs_namespace,
                labels=proxy.label_map,
                namespace=proxy.namespace,
                addresses=where,
            )

        stat = names.outbound_cluster(port.port, service.hostname)
        listener = listener_pb2.Listener(
            name=names.outbound_tcp_listener(proxy.ip, item.listen_port),
            address=socket_address(proxy.ip, item.listen_port),
            traffic_direction=base_pb2.OUTBOUND,
        )
        if port.protocol in TLS_FAMILY and vs is not None and vs.spec.tls:
            listener.listener_filters.append(tls_inspector())
            detect_within(listener, 0.0)  # Istio: no limit where no HTTP inspector sniffs
            seen: set[tuple[str, ...]] = set()
            for index, route in enumerate(vs.spec.tls):
                for match in route.match or ():
                    written = (resolve_host(s, vs.meta.namespace) for s in match.sni_hosts)
                    sni = tuple(sorted(h for h in written if h != "*"))
                    if not sni or sni in seen or not applies(match):
                        continue
                    seen.add(sni)
                    path = f"spec.tls[{index}]"
                    chain = lc_pb2.FilterChain(
                        filter_chain_match=lc_pb2.FilterChainMatch(server_names=sni),
                        filters=[
                            _filter(
                                tcp_proxy(
                                    stat, vs, route, port.port, push, clusters, diagnostics, path
                                )
                            )
                        ],
                    )
                    set_config(chain.metadata, config_path(vs.meta))
                    listener.filter_chains.append(chain)
        tcp_route, path = first_tcp_route(vs, applies)
        default = tcp_proxy(stat, vs, tcp_route, port.port, push, clusters, diagnostics, path)
        if tcp_route is None:
            default.cluster = stat
        last = lc_pb2.FilterChain(filters=[_filter(default)])
        if tcp_route is not None and vs is not None:  # as Istio: chains of a VirtualService
            set_config(last.metadata, config_path(vs.meta))  # name it (core/tls.go)
        listener.filter_chains.append(last)
        found.append(listener)
        vip = cluster_ip(service)
        if proxy.captured and vip:  # what a captured connection to the service's VIP finds
            found.append(at_vip(listener, vip, port.port))
    return found


def at_vip(listener: listener_pb2.Listener, vip: str, port: int) -> listener_pb2.Listener:
    """Istio's `<VIP>_<port>` outbound listener of a captured pod: the same filter chains,
    not bound (virtualOutbound hands it the connections the app dialled to `vip:port`)."""
    found = listener_pb2.Listener()
    found.CopyFrom(listener)
    found.name = names.outbound_vip_listener(vip, port)
    found.address.CopyFrom(socket_address(vip, port))
    found.bind_to_port.value = False
    return found
