"""Listeners of a pod whose traffic iptables captures (Istio's REDIRECT interception, the
isolated local mode), in Istio's shapes:

- `virtualOutbound` on 0.0.0.0:15001 with `use_original_dst`: Envoy hands each connection to the
  listener for the address the app dialled: `<VIP>_<port>` for a TCP service's cluster IP
  (`tcp.at_vip`), else `0.0.0.0_<port>` (not bound to a port), one per HTTP service port, whose
  route configuration is named by the port (`"9080"`) as in Istio: only the virtual hosts of
  services with that port (routing is by dialled port, then Host), each with the domains of
  the explicit mode's `http_proxy` configuration (same routes) plus their port-less forms and
  the service's cluster IP (`10.A.240.7`, `10.A.240.7:9080`), then the catch-all. A connection
  no listener wants goes to `PassthroughCluster` (an ORIGINAL_DST cluster: where the app sent
  it) under ALLOW_ANY, to `BlackHoleCluster` under REGISTRY_ONLY.
- `virtualInbound` on 0.0.0.0:15006 with the `original_dst` listener filter: one set of filter
  chains per inbound port, chosen by `destination_port` (then transport protocol/ALPN, as
  PeerAuthentication asks), then Istio's passthrough chains for a port the pod does not declare
  (`virtualInbound`, no port: TCP to `InboundPassthroughCluster`, ORIGINAL_DST from 127.0.0.6,
  which the capture rules let through, under the workload's mTLS mode and with its
  authorization's network filters, so a policy's `ports` hold there), and Istio's
  `virtualInbound-blackhole` chain for 15006 itself (no loop). Istio's passthrough chains also
  sniff HTTP (an HTTP connection manager routing to the same cluster); here HTTP to an
  undeclared port is relayed as TCP, so HTTP-only rules act as on any TCP port (an ALLOW rule
  with them matches nothing, a DENY rule is widened): never more permissive.

Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.dynamic_forward_proxy.v3 import dynamic_forward_proxy_pb2
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import wrappers_pb2

from pilotfish.registry.cluster_ips import cluster_ip
from pilotfish.registry.types import Protocol, Service
from pilotfish.telemetry.envoy import alt_stat_name
from pilotfish.translate import mtls, names
from pilotfish.translate.clusters import OutboundClusterSpec, dns_cache_config
from pilotfish.translate.envoy_pb import TCP_PROXY_FILTER, duration, pack, socket_address
from pilotfish.translate.http_routes import with_istio_route_defaults
from pilotfish.translate.listeners import (
    DFP_FILTER,
    fault_and_cors_filters,
    grpc_web_filters,
    hcm_filter,
    http_connection_manager,
)
from pilotfish.translate.traffic_policy import default_circuit_breakers
from pilotfish.translate.virtual_hosts import catch_all_vhost

OUTBOUND_PORT, INBOUND_PORT = 15001, 15006
INBOUND_BIND = "127.0.0.6"  # Istio's InboundPassthroughBindIpv4 (capture.rules lets it through)
BLACKHOLE_CHAIN = "virtualInbound-blackhole"
ORIGINAL_DST_FILTER = "envoy.filters.listener.original_dst"
ANY = "0.0.0.0"


def passthrough_cluster() -> cluster_pb2.Cluster:
    """Istio's `PassthroughCluster`: ORIGINAL_DST, the connection goes where the app sent it."""
    return cluster_pb2.Cluster(
        name=names.PASSTHROUGH_CLUSTER,
        alt_stat_name=alt_stat_name(names.PASSTHROUGH_CLUSTER),
        type=cluster_pb2.Cluster.ORIGINAL_DST,
        lb_policy=cluster_pb2.Cluster.CLUSTER_PROVIDED,
        connect_timeout=duration(10),
        circuit_breakers=default_circuit_breakers(),
    )


def inbound_passthrough_cluster() -> cluster_pb2.Cluster:
    """Istio's `InboundPassthroughCluster`: to the address the client dialled (the pod's own,
    any port), bound to 127.0.0.6 so that the capture rules do not send it back to Envoy."""
    cluster = passthrough_cluster()
    cluster.name = names.INBOUND_PASSTHROUGH_CLUSTER
    cluster.alt_stat_name = alt_stat_name(names.INBOUND_PASSTHROUGH_CLUSTER)
    source = cluster.upstream_bind_config.source_address
    source.address, source.port_value = INBOUND_BIND, 0
    return cluster


def _tcp_chain(cluster: str, name: str) -> lc_pb2.FilterChain:
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=cluster, cluster=cluster)
    return lc_pb2.FilterChain(
        name=name, filters=[lc_pb2.Filter(name=TCP_PROXY_FILTER, typed_config=pack(proxy))]
    )


def virtual_outbound_listener(allow_any: bool) -> listener_pb2.Listener:
    cluster = names.PASSTHROUGH_CLUSTER if allow_any else names.BLACKHOLE_CLUSTER
    return listener_pb2.Listener(
        name=names.VIRTUAL_OUTBOUND_LISTENER,
        address=socket_address(ANY, OUTBOUND_PORT),
        use_original_dst=wrappers_pb2.BoolValue(value=True),
        traffic_direction=base_pb2.OUTBOUND,
        default_filter_chain=_tcp_chain(cluster, cluster),
    )


def http_ports(specs: Mapping[str, OutboundClusterSpec]) -> dict[int, str]:
    """Service ports whose traffic is HTTP (or sniffed as such), one listener each, with the
    protocol of the first service port of that number (Istio's listener takes its first
    service's: a GRPC-WEB one gets the gRPC-Web filter)."""
    ports: dict[int, str] = {}
    for spec in specs.values():
        if spec.port.protocol.is_http or spec.port.protocol == Protocol.UNKNOWN:
            ports.setdefault(spec.port.port, spec.port.protocol.value)
    return {p: ports[p] for p in sorted(ports) if p not in (OUTBOUND_PORT, INBOUND_PORT)}


def outbound_port_listener(
    port: int, forward_proxy: bool, protocol: str = ""
) -> listener_pb2.Listener:
    filters = [*grpc_web_filters(protocol), *fault_and_cors_filters()]
    if forward_proxy:  # ServiceEntry `resolution: NONE` hosts go through the DNS forward proxy
        config = dynamic_forward_proxy_pb2.FilterConfig(dns_cache_config=dns_cache_config())
        filters.append(hcm_pb2.HttpFilter(name=DFP_FILTER, typed_config=pack(config)))
    manager = http_connection_manager(
        f"outbound_0.0.0.0_{port}", names.outbound_port_route_config(port), filters
    )
    return listener_pb2.Listener(
        name=names.outbound_port_listener(port),
        address=socket_address(ANY, port),
        bind_to_port=wrappers_pb2.BoolValue(value=False),
        traffic_direction=base_pb2.OUTBOUND,
        filter_chains=[lc_pb2.FilterChain(filters=[hcm_filter(manager)])],
    )


def outbound_listeners(
    specs: Mapping[str, OutboundClusterSpec], *, allow_any: bool, forward_proxy: bool
) -> list[listener_pb2.Listener]:
    return [
        virtual_outbound_listener(allow_any),
        *(
            outbound_port_listener(port, forward_proxy, protocol)
            for port, protocol in http_ports(specs).items()
        ),
    ]


def port_route_configs(
    http_proxy: route_pb2.RouteConfiguration,
    ports: Iterable[int],
    services: Iterable[Service],
    outbound_traffic_policy: str,
) -> list[route_pb2.RouteConfiguration]:
    """Istio's per-port outbound route configurations, from the `http_proxy` configuration's
    virtual hosts (never mutated: copies)."""
    by_name = {vhost.name: vhost for vhost in http_proxy.virtual_hosts}
    found = []
    for port in ports:
        config = route_pb2.RouteConfiguration(name=names.outbound_port_route_config(port))
        claimed: set[str] = set()
        for service in services:
            if not any(p.port == port and p.protocol.is_http for p in service.ports):
                continue
            vhost = by_name.get(names.vhost(service.hostname, port))
            if vhost is None:
                continue
            suffix = f":{port}"
            vip = cluster_ip(service)
            wanted = [
                *vhost.domains,
                *(d.removesuffix(suffix) for d in vhost.domains if d.endswith(suffix)),
                *((vip, f"{vip}{suffix}") if vip else ()),
            ]
            domains = [d for d in dict.fromkeys(wanted) if d not in claimed]
            if not domains:
                continue
            claimed.update(domains)
            copied = config.virtual_hosts.add()
            copied.CopyFrom(vhost)
            del copied.domains[:]
            copied.domains.extend(domains)
        config.virtual_hosts.append(catch_all_vhost(outbound_traffic_policy))
        found.append(with_istio_route_defaults(config))
    return found


def virtual_inbound_listener(
    ports: Iterable[tuple[int, list[lc_pb2.FilterChain], str]],
    passthrough: list[lc_pb2.FilterChain],
    passthrough_mode: str,
    detection_timeout: float = 0.0,
) -> listener_pb2.Listener:
    """`ports`: (container port, its chains from `listeners.inbound_filter_chains`, its mTLS
    mode); `passthrough`: the chains for any other port (`listeners.inbound_filter_chains` to
    `InboundPassthroughCluster`) under the workload's mode `passthrough_mode`;
    `detection_timeout`: the mesh's `protocolDetectionTimeout` (`mtls.detect_within`)."""
    listener = listener_pb2.Listener(
        name=names.VIRTUAL_INBOUND_LISTENER,
        address=socket_address(ANY, INBOUND_PORT),
        traffic_direction=base_pb2.INBOUND,
        listener_filters=[
            lc_pb2.ListenerFilter(
                name=ORIGINAL_DST_FILTER, typed_config=pack(original_dst_pb2.OriginalDst())
            )
        ],
    )
    inspect = False
    for port, chains, mode in ports:
        inspect = inspect or mtls.needs_tls_inspector(mode) or mtls.matches_tls(chains)
        for chain in chains:
            chain.filter_chain_match.destination_port.value = port
            chain.name = f"{port}-{chain.name}" if chain.name else str(port)
            listener.filter_chains.append(chain)
    blackhole = _tcp_chain(names.BLACKHOLE_CLUSTER, BLACKHOLE_CHAIN)
    blackhole.filter_chain_match.destination_port.value = INBOUND_PORT
    listener.filter_chains.append(blackhole)
    inspect = inspect or mtls.needs_tls_inspector(passthrough_mode) or mtls.matches_tls(passthrough)
    for chain in passthrough:
        chain.name = names.VIRTUAL_INBOUND_LISTENER + (f"-{chain.name}" if chain.name else "")
        listener.filter_chains.append(chain)
    if inspect:
        listener.listener_filters.append(mtls.tls_inspector())
    if mtls.needs_http_inspector(listener.filter_chains):
        listener.listener_filters.append(mtls.http_inspector())
    mtls.detect_within(listener, detection_timeout)
    return listener
