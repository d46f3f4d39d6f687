"""`generate(proxy, push)`: everything one proxy needs, as a `ProxyResources` snapshot.

Orchestrates the other modules: outbound cluster specs (service ports x DestinationRule
subsets, with the rule Istio would pick for this proxy), their clusters and endpoints, the
special clusters, then sidecar listeners/routes (outbound HTTP proxy, outbound TCP listeners,
inbound ports; a captured pod gets Istio's virtual listeners instead: `captured`) or gateway
listeners/routes (HTTP, then HTTPS/TLS/TCP servers and their SDS secrets). A `Sidecar`
resource narrows the push context first (`sidecar_scope`); Istio's telemetry is added last
(`observability`). Pure: reads only its arguments; never raises for config problems.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf.message import Message

from pilotfish.config.objects import Diagnostic
from pilotfish.config.protocols import HTTP2_NATIVE, HTTP_FAMILY
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Protocol, Service, ServicePort
from pilotfish.translate import (
    captured,
    envoy_filters,
    gateway_http,
    gateway_tls_tcp,
    inbound_shared,
    listeners,
    locality_lb,
    names,
    on_demand_routes,
    own_shape,
    sidecar_credentials,
    sidecar_scope,
    source_bind,
    tcp,
)
from pilotfish.translate import clusters as cluster_builders
from pilotfish.translate.authz import AuthzFilters, authz_filters, with_route_rbac
from pilotfish.translate.carry import carry_of
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.gateway_authz import trusted_hops, with_gateway_authz
from pilotfish.translate.gateway_http import (
    apply_https_redirect,
    gateway_ports,
    gateway_route_config,
    with_blackhole_vhost,
    with_client_address,
)
from pilotfish.translate.http_proxy_part import http_proxy_route
from pilotfish.translate.istio_metadata import config_path
from pilotfish.translate.observability import decorate
from pilotfish.translate.outbound import OutboundBlock, outbound_block, outbound_cluster_specs
from pilotfish.translate.peer_authentication import effective_mtls
from pilotfish.translate.proxy_listeners import outbound_listeners
from pilotfish.translate.resources import ProxyResources
from pilotfish.translate.upstream_tls import with_credentials
from pilotfish.type_urls import CLUSTER, ENDPOINT, LISTENER


def _inbound_targets(
    proxy: Proxy, push: PushContext, container_port: int
) -> list[tuple[Service, ServicePort]]:
    """Every service port of the proxy's services targeting this port. Only the services whose
    selector's first label the proxy has are asked (`Service.selects`)."""
    key = ("pilotfish.translate.generate.selectors", proxy.namespace)
    if (index := push.memo.get(key)) is None:
        index = push.memo[key] = {}
        for service in push.services_by_namespace.get(proxy.namespace, ()):
            if service.selector:
                index.setdefault(service.selector[0], []).append(service)
    labels = proxy.label_map
    return [
        (service, port)
        for pair in labels.items()
        for service in index.get(pair, ())
        if service.selects(labels)
        for port in service.ports
        if port.target_port == container_port
    ]


def _inbound_protocols(proxy: Proxy, push: PushContext, container_port: int) -> list[Protocol]:
    return [port.protocol for _, port in _inbound_targets(proxy, push, container_port)]


def _inbound_protocol(proxy: Proxy, push: PushContext, container_port: int) -> str:
    """The port's protocol, as Istio's inbound chain takes it: its (first) service port's."""
    protocols = _inbound_protocols(proxy, push, container_port)
    return protocols[0].value if protocols else ""


def _inbound_is_http(proxy: Proxy, push: PushContext, container_port: int) -> bool:
    """HTTP unless every service port targeting this container port says TCP/TLS."""
    protocols = _inbound_protocols(proxy, push, container_port)
    return not protocols or any(p.is_http or p == Protocol.UNKNOWN for p in protocols)


def _inbound_is_sniffed(proxy: Proxy, push: PushContext, container_port: int) -> bool:
    """Every service port targeting this container port names no protocol: Istio detects it
    (HTTP or TCP, per connection)."""
    protocols = _inbound_protocols(proxy, push, container_port)
    return bool(protocols) and all(p == Protocol.UNKNOWN for p in protocols)


def _inbound_is_http2(proxy: Proxy, push: PushContext, container_port: int) -> bool:
    """The app speaks HTTP/2 (h2c) on this port: a service port names it `grpc`/`http2` (Istio's
    inbound cluster upgrade for `Protocol.IsHTTP2`)."""
    return any(p in HTTP2_NATIVE for p in _inbound_protocols(proxy, push, container_port))


def _outbound(
    proxy: Proxy, push: PushContext
) -> tuple[Mapping[str, OutboundClusterSpec], tuple[Message, ...], tuple[Diagnostic, ...]]:
    """Outbound cluster specs, clusters and endpoints for a proxy (shared: never mutate them)."""
    found = _proxy_block(block := outbound_block(proxy.namespace, push), proxy, push)
    messages = (*found[CLUSTER].values(), *found[ENDPOINT].values())
    return block.specs, messages, block.diagnostics


def generate(proxy: Proxy, push: PushContext) -> ProxyResources:
    """Everything `proxy` needs: the parts it shares and its own part, merged."""
    return _merged(*generate_parts(proxy, push))


def _merged(shared: tuple[ProxyResources, ...], own: ProxyResources) -> ProxyResources:
    merged = own
    for part in reversed(shared):
        merged = part.merged(merged)
    return merged


def generate_parts(
    proxy: Proxy, push: PushContext
) -> tuple[tuple[ProxyResources, ...], ProxyResources]:
    """(shared parts, own part). Shared: the outbound clusters and endpoints (one object for
    every namespace, and locality, that resolves them alike: `locality_lb`), then what sidecars
    of one namespace (and scope) share — the special clusters, and the `http_proxy` route
    configuration; each built once per push context, the same object for every proxy. Own: the
    listeners bound to the proxy's address and its inbound side, after the EnvoyFilters that
    apply to it (`envoy_filters`). Gateways get everything as their own part, and so does a
    sidecar an EnvoyFilter may patch the shared parts of (`envoy_filters.patches_shared_parts`)."""
    shared, own = _translated_parts(proxy, push)
    if shared and envoy_filters.patches_shared_parts(proxy, push):
        shared, own = (), _merged(shared, own)
    return shared, envoy_filters.patched(proxy, push, own)


def _translated_parts(
    proxy: Proxy, push: PushContext
) -> tuple[tuple[ProxyResources, ...], ProxyResources]:
    full_push, push = push, sidecar_scope.scoped_push(proxy, push)
    if proxy.is_gateway:
        return (), _gateway(proxy, push, full_push, authz_filters(proxy, full_push))
    shared = _shared_parts(proxy, push, vhds=on_demand_routes.applies(proxy, full_push))
    return shared, own_shape.own_part(proxy, full_push, partial(sidecar_own, push=full_push))


def sidecar_own(proxy: Proxy, push: PushContext) -> ProxyResources:
    """A sidecar's own part before EnvoyFilters: its listeners and inbound side (`push`: the
    full push context; translated once per shape of sidecars alike: `own_shape`)."""
    full_push, push = push, sidecar_scope.scoped_push(proxy, push)
    authz = authz_filters(proxy, full_push)
    diagnostics: list[Diagnostic] = list(authz.http_notes)
    normalization = push.mesh.path_normalization
    specs = outbound_block(proxy.namespace, push).specs
    messages = outbound_listeners(proxy, push, full_push)
    messages.extend(tcp.sidecar_tcp_listeners(proxy, push, specs, diagnostics, full_push.services))
    declared = sidecar_scope.ingress_ports(proxy, full_push)
    defaulted = declared is None  # no Sidecar `ingress`: the services' ports say the protocols
    sidecar = None if defaulted else sidecar_scope.selected_sidecar(proxy, full_push)
    ingress = (
        [(container, app, protocol.upper() in HTTP_FAMILY, protocol)
         for container, app, protocol in declared]
        if declared is not None
        else [(container, app, _inbound_is_http(proxy, push, container),
               _inbound_protocol(proxy, push, container)) for container, app in proxy.app_ports]
    )  # fmt: skip
    if not all(http for _, _, http, _ in ingress):
        diagnostics.extend(authz.tcp_notes)
    peer_authentication = effective_mtls(proxy.namespace, proxy.label_map, full_push)
    ingress_tls = {} if defaulted else sidecar_scope.ingress_tls(proxy, full_push)
    inbound_chains, detect = [], push.mesh.protocol_detection_timeout
    for container_port, app_port, http, protocol in ingress:
        mode = peer_authentication.at(container_port)
        build = partial(
            listeners.inbound_filter_chains,
            container_port,
            http=http,
            policy_filters=authz.http,
            network_filters=authz.network,
            path_normalization=normalization,
            mode=mode,
            trust_domain=push.mesh.trust_domain,
            mesh_mtls=push.mesh.mesh_mtls,
            sniffed=defaulted and _inbound_is_sniffed(proxy, push, container_port),
            config=config_path(sidecar.meta) if sidecar is not None else "",
            tls=ingress_tls.get(container_port),
            protocol=protocol,
        )
        chains = build() if proxy.captured else inbound_shared.chains(push, authz, build)
        if proxy.captured:
            inbound_chains.append((container_port, chains, mode))
        else:
            inbound = listeners.inbound_listener(proxy.ip, container_port, chains, mode, detect)
            messages.append(inbound)
        http2 = _inbound_is_http2(proxy, push, container_port)
        targets = _inbound_targets(proxy, push, container_port) if defaulted else []
        messages.append(inbound_shared.cluster(push, container_port, app_port, http2, targets))
        if http:
            grpc = protocol in (Protocol.GRPC, Protocol.GRPC_WEB)  # Istio's IsGRPC
            messages.append(inbound_shared.routes(push, container_port, authz, grpc))
    if proxy.captured:  # Istio's passthrough chains: any port the pod does not declare
        passthrough = listeners.inbound_filter_chains(
            0,
            http=False,
            network_filters=authz.network,
            mode=peer_authentication.mode,
            trust_domain=push.mesh.trust_domain,
            mesh_mtls=push.mesh.mesh_mtls,
            cluster=names.INBOUND_PASSTHROUGH_CLUSTER,
        )
        messages.append(captured.virtual_inbound_listener(
            inbound_chains, passthrough, peer_authentication.mode, detect))  # fmt: skip
    return ProxyResources.build(decorate(proxy, full_push, messages), diagnostics)


def with_new_outbound_policy(
    proxy: Proxy,
    push: PushContext,
    parts: tuple[tuple[ProxyResources, ...], ProxyResources],
) -> tuple[tuple[ProxyResources, ...], ProxyResources] | None:
    """A sidecar's parts after a change of the mesh's outbound traffic policy alone
    (`affected.outbound_policy_change`), its parts built from the push context before it: new
    shared parts (the catch-all of its `http_proxy` configuration), its own part kept: a
    sidecar's own translation does not read the policy (its HTTP proxy listeners are the same
    under both: `proxy_listeners`). None for a gateway or a captured pod (their listeners read
    it): translate it again."""
    shared, own = parts
    if proxy.is_gateway or proxy.captured or not shared:
        return None
    scoped = sidecar_scope.scoped_push(proxy, push)
    return _shared_parts(proxy, scoped, vhds=on_demand_routes.applies(proxy, push)), own


_PROXY_LISTENERS = (names.OUTBOUND_HTTP_PROXY_LISTENER, names.OUTBOUND_WS_PROXY_LISTENER)


def _has_tcp_listener(own: ProxyResources) -> bool:
    """An outbound listener other than the HTTP proxy ones (its filter chains follow TCP/TLS
    routes)."""
    return any(
        name not in _PROXY_LISTENERS
        and getattr(listener, "traffic_direction", None) != base_pb2.INBOUND
        for name, listener in own[LISTENER].items()
    )


def with_new_endpoints(
    proxy: Proxy,
    push: PushContext,
    parts: tuple[tuple[ProxyResources, ...], ProxyResources],
) -> tuple[tuple[ProxyResources, ...], ProxyResources] | None:
    """A sidecar's parts after a change that moved only endpoints (`affected.endpoint_change`):
    its outbound block (clusters and endpoints, rebuilt from `push` where they changed) is
    taken from `push`, every other part is kept. None for a gateway (its endpoints are in its
    own part: translate it again)."""
    shared, own = parts
    if proxy.is_gateway or not shared:
        return None
    block = _sidecar_block(proxy, scoped := sidecar_scope.scoped_push(proxy, push))
    return (_proxy_block(block, proxy, scoped), *shared[1:]), own


def with_new_routes(
    proxy: Proxy,
    push: PushContext,
    previous: PushContext,
    parts: tuple[tuple[ProxyResources, ...], ProxyResources],
) -> tuple[tuple[ProxyResources, ...], ProxyResources] | None:
    """A sidecar's parts after a change of VirtualServices and DestinationRules only (no
    service, mesh or other config changed), its parts built from `previous`: the shared parts
    (clusters, endpoints, route configurations: each built once per namespace and scope) are
    taken from `push` and its own part (its listeners and inbound side) is kept, since a
    sidecar's own part reads routing only for its outbound TCP listeners and a captured pod's
    outbound listeners (its HTTP proxy listeners read neither: `proxy_listeners`). None when it
    may read it (a gateway, a captured pod, a sidecar with an outbound TCP listener): translate
    it again."""
    shared, own = parts
    if proxy.is_gateway or proxy.captured or not shared or _has_tcp_listener(own):
        return None
    scoped, scoped_before = (sidecar_scope.scoped_push(proxy, p) for p in (push, previous))
    vhds = on_demand_routes.applies(proxy, push)
    return _shared_parts(proxy, scoped, scoped_before, vhds), own


def _shared_parts(
    proxy: Proxy, push: PushContext, previous: PushContext | None = None, vhds: bool = False
) -> tuple[ProxyResources, ...]:
    """A sidecar's shared parts (`generate_parts`) from its scoped push context (`previous`:
    the one before, when only VirtualServices and DestinationRules changed since; `vhds`: its
    virtual hosts come on demand, `http_proxy_part`)."""
    route = http_proxy_route(proxy, push, previous, vhds)
    block = _proxy_block(_sidecar_block(proxy, push), proxy, push)
    return (block, _namespace_part(proxy, push), route)


def _sidecar_block(proxy: Proxy, push: PushContext) -> OutboundBlock:
    """A sidecar's outbound block: its namespace's, with `credentialName` clusters as Istio
    builds them at sidecars (`sidecar_credentials`)."""
    return sidecar_credentials.sidecar_block(outbound_block(proxy.namespace, push), proxy, push)


def _proxy_block(block: OutboundBlock, proxy: Proxy, push: PushContext) -> ProxyResources:
    """The outbound block's resources for `proxy`: its endpoints where locality load balancing
    tells proxies apart (`locality_lb`), its clusters off the host's loopback where it binds to
    loopback (`source_bind`); the block's own (shared) otherwise."""
    return source_bind.bound(locality_lb.localized(block, proxy, push), block, proxy, push)


def _gateway(
    proxy: Proxy, push: PushContext, full_push: PushContext, authz: AuthzFilters
) -> ProxyResources:
    specs, outbound, found = _outbound(proxy, push)
    diagnostics = list(found) + list(authz.http_notes)

    def report(spec: OutboundClusterSpec, text: str) -> None:
        diagnostics.append(Diagnostic("warning", f"{spec.name}: {text}", kind="DestinationRule"))

    messages, credential_secrets = with_credentials(proxy, push, specs, outbound, report)
    messages.append(cluster_builders.blackhole_cluster())
    normalization = push.mesh.path_normalization
    for port, gateway_port in gateway_ports(proxy, push, diagnostics).items():
        messages.append(
            listeners.gateway_listener(
                proxy.bind_address,
                port,
                authz.http,
                normalization,
                trusted_hops(proxy, push),
                gateway_port.protocol,
            )
        )
        config = gateway_route_config(gateway_port, push, specs, diagnostics)
        config = apply_https_redirect(config, gateway_port)
        messages.append(
            with_client_address(
                with_route_rbac(with_blackhole_vhost(config, port), authz.per_route)
            )
        )
    tls = gateway_tls_tcp.gateway_tls_resources(proxy, push, specs, diagnostics)
    messages.extend(with_gateway_authz(tls, authz, normalization, trusted_hops(proxy, push)))
    gateway_http.with_service_ports(proxy, push, messages)
    emitted = {getattr(m, "name", "") for m in messages if isinstance(m, secret_pb2.Secret)}
    messages.extend(s for s in credential_secrets if getattr(s, "name", "") not in emitted)
    decorated = decorate(proxy, full_push, messages)
    if push.mesh.filter_gateway_clusters:
        decorated = gateway_http.referenced_clusters_only(decorated)
    return ProxyResources.build(decorated, diagnostics)


def _namespace_part(proxy: Proxy, push: PushContext) -> ProxyResources:
    """What sidecars of one namespace share besides the outbound block: `BlackHoleCluster` and
    `PassthroughCluster` whatever the outbound traffic policy (as istiod, which gives every
    sidecar both; the policy decides only where catch-all routes and listeners send; a captured
    pod also `InboundPassthroughCluster`, for its undeclared inbound ports), the SDS
    secrets of the block's `credentialName` clusters, and the block's diagnostics. A `Carry`
    unit kept while the block is the same object."""
    block = _sidecar_block(proxy, push)
    secrets = sidecar_credentials.secrets_of(block)
    key = ("pilotfish.translate.namespace_part", proxy.namespace, proxy.captured, id(block))
    made: tuple[Callable[[], Message], ...] = (
        (
            cluster_builders.blackhole_cluster,
            captured.passthrough_cluster,
            captured.inbound_passthrough_cluster,
        )
        if proxy.captured
        else (cluster_builders.blackhole_cluster, cluster_builders.passthrough_cluster)
    )  # built only when not kept
    return carry_of(push).unit(
        push,
        key,
        lambda: ProxyResources.build([*(f() for f in made), *secrets], block.diagnostics),
        keep=block,
    )


__all__ = [
    "generate",
    "generate_parts",
    "names",
    "outbound_cluster_specs",
    "with_new_endpoints",
    "with_new_outbound_policy",
    "with_new_routes",
]
