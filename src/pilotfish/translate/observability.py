"""`decorate(proxy, push, messages)`: add Istio's telemetry (built by `pilotfish.telemetry`) to
one proxy's generated resources.

- Listeners: every HTTP connection manager gets the peer-exchange filter first (inbound: learn the
  client from the request; outbound and gateways: send the proxy's identity, with a filter of its
  own listener, `exchange.identity_filter`; they learn the server from its endpoint's metadata)
  and the metric loggers of its reporter (no exchange at all when no server of the mesh reads a
  client's identity: `policy.peers_exchanged`); every TCP proxy gets the TCP metric loggers.
  Both get the file access logs the mesh config / Telemetry API ask for on that side, HTTP
  managers their tracing (and the trace collector's cluster: `tracing_policy`).
- Route configurations: inbound ones name their spans after the service. Outbound and gateway
  ones hold nothing of the proxy (`outbound_routes`: span names, the identity filter off on
  routes to hosts outside the mesh, as Istio skips external clusters), so proxies share them.

Messages are copied before being changed: translation may share them between proxies.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from envoy.data.accesslog.v3.accesslog_pb2 import TcpConnectionEnd, TcpPeriodic
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf.message import Message

from pilotfish.ca.identity import spiffe_id
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import WorkloadInstance
from pilotfish.registry.workloads import (
    INGRESS_GATEWAY,
    INGRESS_GATEWAY_ACCOUNT,
    INGRESS_GATEWAY_LABELS,
    INGRESS_GATEWAY_NAMESPACE,
)
from pilotfish.telemetry import exchange, identity_env
from pilotfish.telemetry.access_log import access_log
from pilotfish.telemetry.labels import Reporter, ServiceLabels
from pilotfish.telemetry.metrics import (
    MetricsPolicy,
    reads_peer,
    tcp_stats_logs,
)
from pilotfish.telemetry.policy import access_logs, metrics_policy, peers_exchanged
from pilotfish.telemetry.tracing import (
    TracingSettings,
    hcm_tracing,
    request_id_extension,
    tracing_bytes,
)
from pilotfish.telemetry.tracing_policy import trace_collector_cluster, tracing_settings
from pilotfish.translate import sidecar_scope
from pilotfish.translate.authz.rbac import dry_run_trace_tags
from pilotfish.translate.carry import carry_of
from pilotfish.translate.envoy_pb import HCM_FILTER, TCP_PROXY_FILTER, duration, pack
from pilotfish.translate.hcm_telemetry import decorate_hcm
from pilotfish.translate.mtls import TLS_SOCKET
from pilotfish.translate.names import parse_outbound_cluster
from pilotfish.wire import encode_field, insert_field

INBOUND_ROUTE_PREFIX = "inbound|"
HCM_TRACING = 7  # HttpConnectionManager.tracing
HCM_REQUEST_ID = 36  # HttpConnectionManager.request_id_extension
IDENTITY_MEMO = 16384  # workload instances whose certificate identity is kept (`_certified`)


def decorate(proxy: Proxy, push: PushContext, messages: Iterable[Message]) -> list[Message]:
    policy = metrics_policy(proxy, push)
    exchanged = peers_exchanged(push)
    logs = {
        reporter: [access_log(log) for log in access_logs(proxy, push, reporter)]
        for reporter in Reporter
    }
    traces = {reporter: tracing_settings(proxy, push, reporter) for reporter in Reporter}
    out: list[Message] = []
    for settings in dict.fromkeys(t for t in traces.values() if t is not None):
        collector = trace_collector_cluster(push, settings)
        if collector is None:
            traces = {r: None if t == settings else t for r, t in traces.items()}
        elif collector is not True:
            out.append(collector)
    messages = list(messages)
    peers = _mtls_tcp_clusters(messages) if policy.enabled else set()
    for message in messages:
        if isinstance(message, listener_pb2.Listener):
            message = _listener(proxy, push, policy, logs, traces, message, exchanged)
        elif isinstance(message, route_pb2.RouteConfiguration):
            # the header to remove: one a client sidecar sent, that this server does not read
            removes = exchanged and not reads_peer(policy, Reporter.DESTINATION)
            message = _route_config(proxy, push, message, removes)
        elif isinstance(message, cluster_pb2.Cluster) and message.name in peers:
            message = _with_peer_table(push, message)
        out.append(message)
    return out


def _mtls_tcp_clusters(messages: list[Message]) -> set[str]:
    """The inbound clusters a TCP proxy of an Istio mutual TLS chain forwards to: their metadata
    holds the table its metric loggers read the client from (`exchange.principal_table`)."""
    found = set()
    for message in messages:
        if not isinstance(message, listener_pb2.Listener):
            continue
        if message.traffic_direction != base_pb2.INBOUND:
            continue
        for chain in message.filter_chains:
            if not _terminates_mtls(chain):
                continue
            for network_filter in chain.filters:
                if network_filter.name == TCP_PROXY_FILTER:
                    proxy = tcp_proxy_pb2.TcpProxy()
                    network_filter.typed_config.Unpack(proxy)
                    found.add(proxy.cluster)
                    found.update(c.name for c in proxy.weighted_clusters.clusters)
    return found


@functools.lru_cache(maxsize=IDENTITY_MEMO)
def _certified(instance: WorkloadInstance, domain: str) -> tuple[str, exchange.Identity]:
    uri = spiffe_id(domain, instance.namespace, instance.service_account)
    return uri, exchange.identity(instance.label_map, instance.workload or instance.name,
                                  instance.namespace)  # fmt: skip


def workload_identities(push: PushContext) -> frozenset[tuple[str, exchange.Identity]]:
    """(SPIFFE URI, identity) of every workload instance with a sidecar (once per push context;
    each instance's pair kept across push contexts): all `principal_table` reads. Local mode's
    own ingress gateway is no registry instance: its identity is added unless an instance holds
    its URI (so a TCP server knows a gateway client as Istio names it, not as `unknown`)."""

    def build() -> frozenset[tuple[str, exchange.Identity]]:
        domain = push.mesh.trust_domain
        found = {_certified(i, domain) for i in push.registry.instances if i.sidecar}
        gateway = spiffe_id(domain, INGRESS_GATEWAY_NAMESPACE, INGRESS_GATEWAY_ACCOUNT)
        if all(uri != gateway for uri, _ in found):
            labels = dict(INGRESS_GATEWAY_LABELS)
            found.add(
                (gateway, exchange.identity(labels, INGRESS_GATEWAY, INGRESS_GATEWAY_NAMESPACE))
            )
        return frozenset(found)

    return push.memoized("pilotfish.translate.observability.workload_identities", build)


def principal_table(push: PushContext) -> dict[str, str]:
    """Every workload with a sidecar, by the SPIFFE URI its certificate carries (once per push
    context)."""
    return push.memoized(
        "pilotfish.translate.observability.principal_table",
        lambda: exchange.principal_table(workload_identities(push)),
    )


def _with_peer_table(push: PushContext, cluster: cluster_pb2.Cluster) -> cluster_pb2.Cluster:
    metadata = push.memoized(
        "pilotfish.translate.observability.peer_metadata",
        lambda: exchange.cluster_metadata(principal_table(push)),
    )
    result = cluster_pb2.Cluster()
    result.CopyFrom(cluster)
    result.metadata.MergeFrom(metadata)
    return result


def _copy(message: Message) -> Message:
    copied = type(message)()
    copied.CopyFrom(message)
    return copied


def inbound_service(proxy: Proxy, push: PushContext, container_port: int) -> ServiceLabels | None:
    """The first service (by hostname) that sends this container port traffic: Istio's
    `destination_service` for an inbound listener."""
    labels = proxy.label_map
    for service in push.services_by_namespace.get(proxy.namespace, ()):  # by hostname
        if not service.selects(labels):
            continue
        if any(port.target_port == container_port for port in service.ports):
            return ServiceLabels(service.hostname, service.name, service.namespace)
    return None


def _listener(
    proxy: Proxy,
    push: PushContext,
    policy: MetricsPolicy,
    logs: dict[Reporter, list[accesslog_pb2.AccessLog]],
    traces: dict[Reporter, TracingSettings | None],
    listener: listener_pb2.Listener,
    exchanged: bool,
) -> listener_pb2.Listener:
    inbound = listener.traffic_direction == base_pb2.INBOUND
    reporter = Reporter.DESTINATION if inbound else Reporter.SOURCE
    if proxy.type is ProxyType.ROUTER:
        reporter = Reporter.SOURCE
    me = exchange.identity_of(proxy)
    env = identity_env.declared(proxy, me)
    result = listener_pb2.Listener()
    result.CopyFrom(listener)
    for chain in result.filter_chains:
        # a captured pod's virtualInbound: each chain says its port (`destination_port`)
        port = chain.filter_chain_match.destination_port.value
        port = port or listener.address.socket_address.port_value
        service = inbound_service(proxy, push, port) if inbound else None
        mtls = _terminates_mtls(chain) if inbound else None
        for network_filter in chain.filters:
            if network_filter.name == HCM_FILTER:
                gateway = proxy.type is ProxyType.ROUTER
                decorate_hcm(
                    network_filter,
                    reporter,
                    me,
                    policy,
                    service,
                    logs[reporter],
                    mtls,
                    gateway,
                    env,
                    exchanged,
                )
                if traces[reporter] is not None:
                    _trace(network_filter, traces[reporter], me, env)
            elif network_filter.name == TCP_PROXY_FILTER:
                _decorate_tcp(network_filter, reporter, me, policy, service, logs[reporter], mtls)
    return result


def _terminates_mtls(chain: lc_pb2.FilterChain) -> bool:
    """An inbound chain ends Istio mTLS when it has the TLS transport socket (the mTLS chain);
    plaintext and TLS-passthrough chains do not (`mtls.inbound_chains`)."""
    return bool(chain.transport_socket.name == TLS_SOCKET)


def _trace(
    network_filter: lc_pb2.Filter,
    settings: TracingSettings | None,
    me: exchange.Identity,
    env: bool,
) -> None:
    """The manager's `tracing`, put in its bytes (translation sets none)."""
    assert settings is not None
    config = network_filter.typed_config
    config.value = insert_field(config.value, HCM_TRACING, _tracing_field(settings, me, env))
    if extension := request_id_extension(settings):
        config.value = insert_field(
            config.value, HCM_REQUEST_ID, encode_field(HCM_REQUEST_ID, extension)
        )


@functools.lru_cache(maxsize=IDENTITY_MEMO)
def _tracing_field(settings: TracingSettings, me: exchange.Identity, env: bool) -> bytes:
    tracing = hcm_tracing(settings, me, env)
    dry_run = dry_run_trace_tags() if settings.istio_tags else []  # as Istio: with its tags
    tags = [*tracing.custom_tags, *dry_run]
    del tracing.custom_tags[:]
    tracing.custom_tags.extend(sorted(tags, key=lambda t: t.tag))
    return encode_field(HCM_TRACING, tracing_bytes(tracing, settings.propagate))


def _decorate_tcp(
    network_filter: lc_pb2.Filter,
    reporter: Reporter,
    me: exchange.Identity,
    policy: MetricsPolicy,
    service: ServiceLabels | None,
    logs: list[accesslog_pb2.AccessLog],
    mtls: bool | None,
) -> None:
    proxy = tcp_proxy_pb2.TcpProxy()
    network_filter.typed_config.Unpack(proxy)
    stats = tcp_stats_logs(reporter, me, policy, service, mtls)
    if stats and mtls:
        # the connection is counted when the upstream one is up: only after the handshake is
        # the client's certificate known (else a fast app made the first reports `unknown`)
        # (the client's bytes wait unread meanwhile, as they wait for the upstream connection
        # in Envoy's default mode: nothing is buffered early)
        proxy.upstream_connect_mode = tcp_proxy_pb2.ON_DOWNSTREAM_TLS_HANDSHAKE
        proxy.max_early_data_bytes.value = 0
    if stats:
        proxy.access_log.extend(stats)
        proxy.access_log_options.flush_access_log_on_connected = True
        if any(TcpPeriodic in log.filter.log_type_filter.types for log in stats):
            interval = duration(policy.reporting_interval)
            proxy.access_log_options.access_log_flush_interval.CopyFrom(interval)
    for log in logs:  # the file log once, at close (not when the upstream connects)
        closing = proxy.access_log.add()
        closing.CopyFrom(log)
        if stats:
            closing.filter.log_type_filter.types.append(TcpConnectionEnd)
    network_filter.typed_config.CopyFrom(pack(proxy))


def _route_config(
    proxy: Proxy, push: PushContext, config: route_pb2.RouteConfiguration, removes_peer: bool
) -> route_pb2.RouteConfiguration:
    """`removes_peer`: the inbound routes remove the client's identity header, so the app never
    sees it (when clients send it and this side does not read it, which removes it too)."""
    if not config.name.startswith(INBOUND_ROUTE_PREFIX):
        return outbound_routes(push, config)
    operation = _inbound_operation(proxy, push, int(config.name.split("|")[1]))
    key = ("pilotfish.translate.observability.inbound_routes", id(config), removes_peer, operation)
    found: tuple[Message, route_pb2.RouteConfiguration] | None = push.memo.get(key)
    if found is None or found[0] is not config:  # once per push context for a shared `config`
        found = push.memo[key] = (config, _inbound_routes(config, removes_peer, operation))
    return found[1]


def _inbound_routes(
    config: route_pb2.RouteConfiguration, removes_peer: bool, operation: str
) -> route_pb2.RouteConfiguration:
    result = route_pb2.RouteConfiguration()
    result.CopyFrom(config)
    if removes_peer:
        result.request_headers_to_remove.append(exchange.PEER_HEADER)
    for vhost in result.virtual_hosts:
        for route in vhost.routes:
            route.decorator.operation = operation
    return result


def outbound_routes(
    push: PushContext, config: route_pb2.RouteConfiguration
) -> route_pb2.RouteConfiguration:
    """An outbound or gateway route configuration's telemetry, the same for every proxy using
    it: Istio's span name per route, and no identity header to hosts outside the mesh."""
    result = route_pb2.RouteConfiguration()
    result.CopyFrom(config)
    for vhost in result.virtual_hosts:
        _outbound_routes_of(push, vhost)
    return result


def outbound_vhost(push: PushContext, vhost: rc_pb2.VirtualHost) -> rc_pb2.VirtualHost:
    """One virtual host of an outbound route configuration with `outbound_routes`' telemetry
    (a copy). Applying it again changes nothing, so a configuration of such virtual hosts may
    still go through `outbound_routes`."""
    result = rc_pb2.VirtualHost()
    result.CopyFrom(vhost)
    _outbound_routes_of(push, result)
    return result


def reused_outbound_vhost(push: PushContext, vhost: rc_pb2.VirtualHost) -> rc_pb2.VirtualHost:
    """`outbound_vhost`, kept from one push context to the next (a `Carry` unit) while the
    virtual host is the same object and so are the registry's services (what it reads of the
    push context): a change of one VirtualService finishes one virtual host, not all."""
    services = push.registry.services
    return carry_of(push).unit(
        push,
        ("pilotfish.translate.observability.outbound_vhost", id(vhost), id(services)),
        lambda: outbound_vhost(push, vhost),
        keep=(vhost, services),
        lasting=True,  # as the virtual host it finishes
    )


def _outbound_routes_of(push: PushContext, vhost: rc_pb2.VirtualHost) -> None:
    for route in vhost.routes:
        if route.HasField("route") and not _to_mesh(route.route, push):
            exchange.identity_off(route)
        if route.HasField("route") and not route.HasField("decorator"):
            parsed = parse_outbound_cluster(route.route.cluster)
            if parsed is not None:  # Istio's span name: `<host>:<port>/*`
                route.decorator.operation = f"{parsed[2]}:{parsed[0]}/*"


def _inbound_operation(proxy: Proxy, push: PushContext, container_port: int) -> str:
    """Istio names server spans after the service: `<host>:<service port>/*`; on a port of a
    Sidecar's `ingress`, after the Sidecar (Istio's synthetic host `<name>.<namespace>`) and the
    listener's port: `ingress-sidecar.test:9080/*`."""
    if sidecar_scope.ingress_ports(proxy, push) is not None:
        sidecar = sidecar_scope.selected_sidecar(proxy, push)
        assert sidecar is not None
        return f"{sidecar.meta.name}.{sidecar.meta.namespace}:{container_port}/*"
    labels = proxy.label_map
    for service in push.services_by_namespace.get(proxy.namespace, ()):  # by hostname
        if service.selects(labels):
            for port in service.ports:
                if port.target_port == container_port:
                    return f"{service.hostname}:{port.port}/*"
    return f"inbound|{container_port}||/*"


def _to_mesh(action: rc_pb2.RouteAction, push: PushContext) -> bool:
    """Routes to registry services not MESH_EXTERNAL (Istio sends no metadata headers there)."""
    clusters = [action.cluster, *(c.name for c in action.weighted_clusters.clusters)]
    for name in clusters:
        parsed = parse_outbound_cluster(name) if name else None
        service = push.registry.service(parsed[2]) if parsed else None
        if service is not None and not service.mesh_external:
            return True
    return False
