"""Listeners: the sidecar's outbound HTTP proxy, its inbound ports, and gateway server ports.

Every HTTP listener is one HTTP connection manager with RDS over ADS. Filter lists put policy
filters (RBAC, JWT, fault, CORS: `policy_filters`) before the router; a port whose protocol is
GRPC-WEB gets Istio's gRPC-Web filter after authorization (`grpc_web_filters`). Inbound
listeners choose a filter chain by transport: only the plaintext chain exists today; a
`tls_inspector` listener filter and a TLS chain for mTLS slot into `inbound_filter_chains`.
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.core.v3 import base_pb2, protocol_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.dynamic_forward_proxy.v3 import dynamic_forward_proxy_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.http.grpc_web.v3 import grpc_web_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import wrappers_pb2

from pilotfish.ca.identity import DEFAULT_TRUST_DOMAIN
from pilotfish.config.mesh_security import DEFAULT_MESH_MTLS, MeshMtls
from pilotfish.config.models.networking.gateway import ServerTLSSettings
from pilotfish.translate import mtls, names, sidecar_ingress_tls
from pilotfish.translate.authz.normalization import DEFAULT as DEFAULT_NORMALIZATION
from pilotfish.translate.authz.normalization import apply_normalization
from pilotfish.translate.clusters import dns_cache_config
from pilotfish.translate.envoy_pb import (
    HCM_FILTER,
    TCP_PROXY_FILTER,
    ads_config_source,
    duration,
    pack,
    router_filter,
    socket_address,
)
from pilotfish.translate.gateway_authz import trusting
from pilotfish.translate.istio_metadata import set_config
from pilotfish.translate.route_filters import CORS_FILTER, FAULT_FILTER
from pilotfish.translate.ws_scheme import ws_scheme_filter

DFP_FILTER = "envoy.filters.http.dynamic_forward_proxy"
GRPC_WEB_FILTER = "envoy.filters.http.grpc_web"
# As Istio: inbound and gateway answers say `server: istio-envoy`; outbound keeps Envoy's "envoy".
ISTIO_SERVER_NAME = "istio-envoy"


def fault_and_cors_filters() -> list[hcm_pb2.HttpFilter]:
    """Filters whose per-route config VirtualServices set (fault injection, CORS)."""
    return [
        hcm_pb2.HttpFilter(name=FAULT_FILTER, typed_config=pack(fault_pb2.HTTPFault())),
        hcm_pb2.HttpFilter(name=CORS_FILTER, typed_config=pack(cors_pb2.Cors())),
    ]


def grpc_web_filters(protocol: str) -> list[hcm_pb2.HttpFilter]:
    """Istio's gRPC-Web filter, for a connection manager whose port's protocol is GRPC-WEB (its
    `buildHTTPConnectionManager`: after the authorization filters, before fault and CORS)."""
    if protocol.upper() != "GRPC-WEB":
        return []
    return [hcm_pb2.HttpFilter(name=GRPC_WEB_FILTER, typed_config=pack(grpc_web_pb2.GrpcWeb()))]


def http_connection_manager(
    stat_prefix: str,
    route_config_name: str,
    policy_filters: Sequence[hcm_pb2.HttpFilter] = (),
    *,
    gateway: bool = False,
    server_name: str = "",
    path_normalization: str = DEFAULT_NORMALIZATION,
) -> hcm_pb2.HttpConnectionManager:
    """Istio's connection manager: websocket upgrades allowed, no stream idle timeout, path
    normalisation, `Expect: 100-continue` passed to the app, the client's address trusted only
    at gateways."""
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=stat_prefix,
        codec_type=hcm_pb2.HttpConnectionManager.AUTO,
        rds=hcm_pb2.Rds(config_source=ads_config_source(), route_config_name=route_config_name),
        http_filters=[*policy_filters, router_filter()],
        use_remote_address=wrappers_pb2.BoolValue(value=gateway),
        upgrade_configs=[hcm_pb2.HttpConnectionManager.UpgradeConfig(upgrade_type="websocket")],
        stream_idle_timeout=duration(0),
        server_name=ISTIO_SERVER_NAME if gateway else server_name,
        proxy_100_continue=True,  # as Istio (ENABLE_100_CONTINUE_HEADERS, on by default)
    )
    apply_normalization(manager, path_normalization)
    if gateway:
        manager.strip_any_host_port = True
        manager.skip_xff_append = True  # the route config appends it: `with_client_address`
    return manager


def hcm_filter(manager: hcm_pb2.HttpConnectionManager) -> lc_pb2.Filter:
    return lc_pb2.Filter(name=HCM_FILTER, typed_config=pack(manager))


def outbound_http_proxy_listener(
    ip: str, port: int, *, passthrough: bool, ws_scheme: bool = False
) -> listener_pb2.Listener:
    """The listener apps use as their HTTP proxy: absolute-form requests, RDS `http_proxy`.
    With `ws_scheme`, the pod's `WS_PROXY` listener (`outbound_ws_proxy`): the same, behind the
    Wasm filter that makes `GET ws://` lines `GET http://` (`translate.ws_scheme`); a listener of
    its own, so requests to the HTTP proxy never pay for the filter."""
    filters = fault_and_cors_filters()
    if passthrough:
        filters.append(
            hcm_pb2.HttpFilter(
                name=DFP_FILTER,
                typed_config=pack(
                    dynamic_forward_proxy_pb2.FilterConfig(dns_cache_config=dns_cache_config())
                ),
            )
        )
    manager = http_connection_manager(
        f"outbound_0.0.0.0_{port}", names.HTTP_PROXY_ROUTE_CONFIG, filters
    )
    manager.http_protocol_options.CopyFrom(
        protocol_pb2.Http1ProtocolOptions(allow_absolute_url=wrappers_pb2.BoolValue(value=True))
    )
    # `CONNECT host:port` (what clients send through HTTPS_PROXY) is terminated here and its
    # bytes sent to the host's cluster: see `virtual_hosts.connect_vhosts`.
    manager.upgrade_configs.add(upgrade_type="CONNECT")
    chain = [ws_scheme_filter(), hcm_filter(manager)] if ws_scheme else [hcm_filter(manager)]
    return listener_pb2.Listener(
        name=names.OUTBOUND_WS_PROXY_LISTENER if ws_scheme else names.OUTBOUND_HTTP_PROXY_LISTENER,
        address=socket_address(ip, port),
        traffic_direction=base_pb2.OUTBOUND,
        filter_chains=[lc_pb2.FilterChain(filters=chain)],
    )


def inbound_filter_chains(
    container_port: int,
    *,
    http: bool,
    policy_filters: Sequence[hcm_pb2.HttpFilter] = (),
    network_filters: Sequence[lc_pb2.Filter] = (),
    path_normalization: str = DEFAULT_NORMALIZATION,
    mode: str = mtls.DISABLE,
    trust_domain: str = DEFAULT_TRUST_DOMAIN,
    sniffed: bool = False,
    config: str = "",
    mesh_mtls: MeshMtls = DEFAULT_MESH_MTLS,
    tls: ServerTLSSettings | None = None,
    protocol: str = "",
    cluster: str = "",
) -> list[lc_pb2.FilterChain]:
    """Filter chains of one inbound port, selected by transport protocol and ALPN as the
    PeerAuthentication `mode` asks (`mtls`), or the one chain terminating a client's TLS of a
    Sidecar `ingress[].tls` (`sidecar_ingress_tls`, where `mode` is DISABLE). `policy_filters`
    (HTTP) and `network_filters` (TCP) are authorization's. `sniffed`: the port's protocol is
    detected, as Istio's for a Service port that names none: HTTP chains for HTTP streams, TCP
    chains for the rest. `config`: the Sidecar whose `ingress` made the port, named in each
    chain's `istio` metadata as Istio does (`istio_metadata.config_path`; "" for none).
    `mesh_mtls`: the TLS versions and ciphers of the mesh's inbound mTLS (MeshConfig
    `meshMTLS`). `protocol`: the port's (GRPC-WEB adds `grpc_web_filters`). Fault and CORS
    come last, as in Istio's buildHTTPConnectionManager for every class (no inbound route
    configures them; an EnvoyFilter may name them). `cluster`: where TCP goes instead of the
    port's inbound cluster (a captured pod's passthrough chains)."""
    manager = http_connection_manager(
        f"inbound_0.0.0.0_{container_port}",
        names.inbound_route_config(container_port),
        [*policy_filters, *grpc_web_filters(protocol), *fault_and_cors_filters()],
        server_name=ISTIO_SERVER_NAME,
        path_normalization=path_normalization,
    )
    manager.forward_client_cert_details = hcm_pb2.HttpConnectionManager.APPEND_FORWARD
    details = manager.set_current_client_cert_details
    details.subject.value, details.uri, details.dns = True, True, True
    cluster = cluster or names.inbound_cluster(container_port)
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=cluster, cluster=cluster)
    tcp_filters = [*network_filters, lc_pb2.Filter(name=TCP_PROXY_FILTER, typed_config=pack(proxy))]
    if sidecar_ingress_tls.applies(tls, mode):
        assert tls is not None
        chains = [sidecar_ingress_tls.chain([hcm_filter(manager)] if http else tcp_filters, tls)]
    elif sniffed:
        chains = mtls.sniffed_chains(
            [hcm_filter(manager)], tcp_filters, mode, trust_domain=trust_domain, mesh_mtls=mesh_mtls
        )
    else:
        filters = [hcm_filter(manager)] if http else tcp_filters
        chains = mtls.inbound_chains(
            filters, mode, http=http, trust_domain=trust_domain, mesh_mtls=mesh_mtls
        )
    for chain in chains if config else ():
        set_config(chain.metadata, config)
    return chains


def inbound_listener(
    ip: str,
    container_port: int,
    chains: Sequence[lc_pb2.FilterChain],
    mode: str,
    detection_timeout: float = 0.0,
) -> listener_pb2.Listener:
    """The explicit mode's listener of one inbound port, on the instance address: the port's
    `inbound_filter_chains` (the captured mode puts them under `virtualInbound` instead);
    `detection_timeout`: the mesh's `protocolDetectionTimeout` (`mtls.detect_within`)."""
    listener = listener_pb2.Listener(
        name=names.inbound_listener(ip, container_port),
        address=socket_address(ip, container_port),
        traffic_direction=base_pb2.INBOUND,
        filter_chains=chains,
    )
    if mtls.needs_tls_inspector(mode) or mtls.matches_tls(chains):
        listener.listener_filters.append(mtls.tls_inspector())
    if mtls.needs_http_inspector(chains):
        listener.listener_filters.append(mtls.http_inspector())
    mtls.detect_within(listener, detection_timeout)
    return listener


def gateway_listener(
    address: str,
    port: int,
    policy_filters: Sequence[hcm_pb2.HttpFilter] = (),
    path_normalization: str = DEFAULT_NORMALIZATION,
    trusted_hops: int = 0,
    protocol: str = "",
) -> listener_pb2.Listener:
    """A gateway's listener of HTTP servers on `port`; `protocol` the port's (its first
    server's: GRPC-WEB adds `grpc_web_filters`)."""
    manager = http_connection_manager(
        f"outbound_0.0.0.0_{port}",
        names.gateway_route_config(port),
        [*policy_filters, *grpc_web_filters(protocol), *fault_and_cors_filters()],
        gateway=True,
        path_normalization=path_normalization,
    )
    trusting(manager, trusted_hops)
    return listener_pb2.Listener(
        name=names.gateway_listener(port),
        address=socket_address(address, port),
        traffic_direction=base_pb2.OUTBOUND,
        filter_chains=[lc_pb2.FilterChain(filters=[hcm_filter(manager)])],
    )
