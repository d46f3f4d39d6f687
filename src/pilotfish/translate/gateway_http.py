"""Gateways (`ProxyType.ROUTER`): listeners and route configurations per HTTP server port.

A Gateway applies when its `selector` matches the proxy's labels. Every HTTP-family server port
becomes one listener `0.0.0.0_<port>` with RDS `http.<port>`; its virtual hosts come from the
VirtualServices bound to the Gateway (`gateways: [name]` in the VS's namespace, or `ns/name`),
one per host in the intersection of the VS hosts and the server hosts (the more specific name;
`*` matches everything). VirtualServices sharing a host have their routes merged in
namespace/name order, as Istio does on gateways. A port no VirtualService binds still gets its
listener and a `blackhole:<port>` virtual host (404), as Istio. HTTP servers with
`tls.httpsRedirect` answer 301 to https (`require_tls: ALL`) for their hosts. HTTPS, TLS and TCP
servers are served by `gateway_tls_tcp`.

A gateway's own Services (those of its namespace selecting it, e.g. the `istio-ingressgateway`
Service an IstioOperator's `k8s.service.ports` gives) map a Service port to a target port. As
Istio resolves a server port, one that is a Service port listens on its target port (with the
servers of every Gateway on that target, as one listener: Bookinfo's 8080 and another Gateway's
80 -> 8080 serve both their VirtualServices on 8080 and 80); and as
the gateway's address is also its load balancer's (local mode), the listener also accepts on
every Service port that targets it (`with_service_ports`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf.message import Message

from pilotfish.config.hosts import host_matches, intersect, resolve_host
from pilotfish.config.objects import Diagnostic, Gateway
from pilotfish.config.protocols import HTTP_FAMILY, L4_FAMILY
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import names
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.envoy_pb import socket_address
from pilotfish.translate.http_routes import (
    RouteContext,
    virtual_service_routes,
    with_istio_route_defaults,
)

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        Server,
    )


@dataclass
class GatewayPort:
    """Everything served on one gateway port: (gateway, server) pairs in config order."""

    port: int
    servers: list[tuple[Gateway, Server]] = field(default_factory=list)

    @property
    def protocol(self) -> str:
        """The port's protocol (upper case): its first server's, as Istio's merged servers."""
        port = self.servers[0][1].port if self.servers else None
        return str(port.protocol or "").upper() if port is not None else ""


def gateway_ports(
    proxy: Proxy, push: PushContext, diagnostics: list[Diagnostic]
) -> dict[int, GatewayPort]:
    ports: dict[int, GatewayPort] = {}
    targets = service_ports(proxy, push)  # a Service port's servers share its target's listener
    for gateway in push.gateways_for(proxy.label_map):
        for index, server in enumerate(gateway.spec.servers or ()):
            number = server.port.number if server.port is not None else None
            protocol = (server.port.protocol or "").upper() if server.port is not None else ""
            if not number or protocol in L4_FAMILY:
                continue  # served by `gateway_tls_tcp`
            if protocol not in HTTP_FAMILY:
                message = f"server protocol {protocol or '?'} on port {number} is not served yet"
                diagnostics.append(gateway.diagnostic(message, f"spec.servers[{index}].port"))
                continue
            number = targets.get(number, number)
            ports.setdefault(number, GatewayPort(number)).servers.append((gateway, server))
    return dict(sorted(ports.items()))


def service_ports(proxy: Proxy, push: PushContext) -> dict[int, int]:
    """Service port -> target port, for the gateway's own Services (those of its namespace
    selecting it; Kubernetes' `port` -> `targetPort`, as a load balancer forwards them)."""
    found: dict[int, int] = {}
    labels = proxy.label_map
    for service in push.services_by_namespace.get(proxy.namespace, ()):
        if not service.from_service_entry and service.selects(labels):
            for port in service.ports:
                found.setdefault(port.port, port.target_port)
    return found


def _server_host(written: str, gateway_namespace: str, vs_namespace: str) -> str | None:
    """A server host (`ns/host`, `./host`, `*/host` or `host`) as seen by a VS namespace."""
    if "/" not in written:
        return written
    namespace, host = written.split("/", 1)
    if namespace == "*" or namespace == vs_namespace:
        return host
    if namespace == "." and gateway_namespace == vs_namespace:
        return host
    return None


def gateway_route_config(
    gateway_port: GatewayPort,
    push: PushContext,
    clusters: Mapping[str, OutboundClusterSpec],
    diagnostics: list[Diagnostic],
) -> route_pb2.RouteConfiguration:
    routes_by_host: dict[str, list[rc_pb2.Route]] = {}
    seen: set[tuple[str, str, str, str]] = set()
    for gateway, server in gateway_port.servers:
        key = f"{gateway.meta.namespace}/{gateway.meta.name}"
        for vs in push.gateway_virtual_services(key):
            for written in vs.spec.hosts or ():
                vs_host = resolve_host(written, vs.meta.namespace)
                for server_written in server.hosts or ():
                    server_host = _server_host(
                        server_written, gateway.meta.namespace, vs.meta.namespace
                    )
                    host = intersect(vs_host, server_host) if server_host else None
                    identity = (host or "", key, vs.meta.namespace, vs.meta.name)
                    if host is None or identity in seen:
                        continue
                    seen.add(identity)
                    ctx = RouteContext(
                        registry=push.registry,
                        clusters=clusters,
                        port=gateway_port.port,
                        gateway=key,
                        diagnostics=diagnostics,
                        virtual_services=push.kind("VirtualService"),
                        default_retries=push.mesh.retries.outbound,
                    )
                    routes_by_host.setdefault(host, []).extend(virtual_service_routes(vs, ctx))
    config = route_pb2.RouteConfiguration(name=names.gateway_route_config(gateway_port.port))
    for host, routes in routes_by_host.items():
        config.virtual_hosts.append(
            rc_pb2.VirtualHost(
                name=names.vhost(host, gateway_port.port), domains=[host], routes=routes
            )
        )
    return with_istio_route_defaults(config)


def with_blackhole_vhost(
    config: route_pb2.RouteConfiguration, port: int
) -> route_pb2.RouteConfiguration:
    """As Istio: a gateway route configuration left with no virtual host gets `blackhole:<port>`
    for every domain and no routes, so Envoy answers 404 (NR)."""
    if not config.virtual_hosts:
        config.virtual_hosts.append(
            rc_pb2.VirtualHost(name=names.vhost(names.BLACKHOLE_VHOST, port), domains=["*"])
        )
    return config


def with_client_address(config: route_pb2.RouteConfiguration) -> route_pb2.RouteConfiguration:
    """Gateways append the client's address to `X-Forwarded-For`, as Istio's do through
    `use_remote_address`. Envoy itself appends its host's address instead when the client is
    127.0.0.1 (it takes that for a local sidecar), which is every local client in local mode; so
    the connection manager skips its append (`skip_xff_append`, see `listeners`) and the route
    configuration appends the real downstream address. `x-envoy-external-address` and
    `remoteIpBlocks` keep using the address Envoy trusts, as in Istio."""
    config.request_headers_to_add.append(
        base_pb2.HeaderValueOption(
            header=base_pb2.HeaderValue(
                key="x-forwarded-for", value="%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
            ),
            append_action=base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD,
        )
    )
    return config


def apply_https_redirect(
    config: route_pb2.RouteConfiguration, gateway_port: GatewayPort
) -> route_pb2.RouteConfiguration:
    """`require_tls: ALL` on the virtual hosts of HTTP servers that say `httpsRedirect`; as
    Istio, a redirecting server host that no virtual host serves gets one of its own, with no
    routes, so the redirect happens even without a VirtualService."""
    redirecting = [
        h.split("/", 1)[-1]
        for _, server in gateway_port.servers
        if server.tls is not None and server.tls.https_redirect
        for h in server.hosts or ()
    ]
    for vhost in config.virtual_hosts:
        if any(host_matches(h, d) for h in redirecting for d in vhost.domains):
            vhost.require_tls = rc_pb2.VirtualHost.ALL
    served = {d for vhost in config.virtual_hosts for d in vhost.domains}
    for host in dict.fromkeys(redirecting):
        if host not in served:
            config.virtual_hosts.append(
                rc_pb2.VirtualHost(
                    name=names.vhost(host, gateway_port.port),
                    domains=[host],
                    require_tls=rc_pb2.VirtualHost.ALL,
                    include_request_attempt_count=True,
                )
            )
    return config


def referenced_clusters_only(messages: list[Message]) -> list[Message]:
    """Istio's PILOT_FILTER_GATEWAY_CLUSTER_CONFIG: a gateway keeps only the outbound service
    clusters (and their endpoints) that its listeners and routes name — by its bound
    VirtualServices' routes, TCP/TLS servers, authorization providers or tracing. A name is
    looked up in the serialised listeners and routes, so nothing they use can be dropped."""
    used = b"".join(
        m.SerializeToString()
        for m in messages
        if isinstance(m, listener_pb2.Listener | route_pb2.RouteConfiguration)
    )

    def kept(message: Message) -> bool:
        name = getattr(message, "name", "") or getattr(message, "cluster_name", "")
        is_service = isinstance(message, cluster_pb2.Cluster | endpoint_pb2.ClusterLoadAssignment)
        return not (is_service and name.startswith("outbound|")) or name.encode() in used

    return [m for m in messages if kept(m)]


def with_service_ports(proxy: Proxy, push: PushContext, messages: list[Message]) -> None:
    """Gateway listeners as the gateway's Services forward to them: a server port that is a
    Service port listens on its target port (Istio's port resolution), and also on the other
    Service ports that target it and no listener of its own takes (`additional_addresses`)."""
    targets = service_ports(proxy, push)
    if not targets:
        return
    found = [m for m in messages if isinstance(m, listener_pb2.Listener)]
    taken = {m.address.socket_address.port_value for m in found}
    for listener in found:  # never onto a port another listener holds (Envoy would refuse)
        address = listener.address.socket_address
        target = targets.get(address.port_value, address.port_value)
        if target not in taken:
            taken.add(target)
            address.port_value = target
    taken = {m.address.socket_address.port_value for m in found}
    for listener in found:
        target = listener.address.socket_address.port_value
        for alias in sorted(p for p, t in targets.items() if t == target and p not in taken):
            extra = listener.additional_addresses.add()
            extra.address.CopyFrom(socket_address(proxy.bind_address, alias))
