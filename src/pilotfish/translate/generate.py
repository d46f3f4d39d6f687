"""`generate(proxy, push)`: everything one proxy needs, as a `ProxyResources` snapshot.

Orchestrates the other modules: outbound cluster specs (service ports x DestinationRule
subsets, with the rule Istio would pick for this proxy), their clusters and endpoints, the
special clusters, then sidecar listeners/routes (outbound HTTP proxy, outbound TCP listeners,
inbound ports) or gateway listeners/routes (HTTP, then HTTPS/TLS/TCP servers and their SDS
secrets). A `Sidecar` resource narrows the push context first (`sidecar_scope`); Istio's
telemetry is added last (`observability`).
Pure: reads only its arguments; never raises for config problems.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf.message import Message

from pilotfish.config.objects import DestinationRule, Diagnostic
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Protocol
from pilotfish.translate import clusters as cluster_builders
from pilotfish.translate import (
    gateway_tls_tcp,
    listeners,
    mesh_tls,
    names,
    service_entries,
    sidecar_scope,
    tcp,
)
from pilotfish.translate.authz import authz_filters
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.endpoints import load_assignment
from pilotfish.translate.gateway_http import (
    apply_https_redirect,
    gateway_ports,
    gateway_route_config,
    with_blackhole_vhost,
)
from pilotfish.translate.observability import decorate
from pilotfish.translate.peer_authentication import effective_mtls
from pilotfish.translate.resources import ProxyResources
from pilotfish.translate.traffic_policy import effective_policy
from pilotfish.translate.virtual_hosts import http_proxy_route_config, inbound_route_config

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        Subset,
    )


def outbound_cluster_specs(
    namespace: str, push: PushContext, diagnostics: list[Diagnostic]
) -> dict[str, OutboundClusterSpec]:
    """Every outbound cluster for proxies in `namespace`, by name, in sorted order."""
    specs: dict[str, OutboundClusterSpec] = {}
    for service in push.services:
        rule = push.destination_rule(service.hostname, namespace, service.namespace)
        top = rule.spec.traffic_policy if rule is not None else None
        subsets = _subsets(rule, diagnostics) if rule is not None else []
        for port in service.ports:
            base = OutboundClusterSpec(service, port, policy=effective_policy(top, None, port.port))
            specs[base.name] = base
            if rule is not None and _passthrough(base):
                diagnostics.append(_passthrough_note(rule, service.hostname, port.port))
            for subset in subsets:
                spec = OutboundClusterSpec(
                    service,
                    port,
                    subset=subset.name or "",
                    subset_labels=cluster_builders.subset_labels(subset),
                    policy=effective_policy(top, subset.traffic_policy, port.port),
                )
                specs[spec.name] = spec
    return dict(sorted(specs.items()))


def _passthrough(spec: OutboundClusterSpec) -> bool:
    lb = spec.policy.load_balancer
    return lb is not None and lb.simple == "PASSTHROUGH"


def _passthrough_note(rule: DestinationRule, host: str, port: int) -> Diagnostic:
    """Istio's PASSTHROUGH sends a connection to the address the caller dialled. In local mode
    callers address services by name through their sidecar, so there is no such address."""
    return rule.diagnostic(
        f"loadBalancer PASSTHROUGH for {host}:{port} needs the address the caller dialled, which "
        "local mode does not have (apps reach services by name): requests will get 503",
        "spec.trafficPolicy.loadBalancer.simple",
    )


def _subsets(rule: DestinationRule, diagnostics: list[Diagnostic]) -> list[Subset]:
    kept: dict[str, Subset] = {}
    for index, subset in enumerate(rule.spec.subsets or ()):
        if not subset.name or subset.name in kept:
            message = f"subset {subset.name!r} is unnamed or repeated: ignored"
            diagnostics.append(rule.diagnostic(message, f"spec.subsets[{index}]"))
            continue
        kept[subset.name] = subset
    return list(kept.values())


def _inbound_is_http(proxy: Proxy, push: PushContext, container_port: int) -> bool:
    """HTTP unless every service port targeting this container port says TCP/TLS."""
    labels = proxy.label_map
    protocols = [
        port.protocol
        for service in push.services
        if service.namespace == proxy.namespace and service.selects(labels)
        for port in service.ports
        if port.target_port == container_port
    ]
    return not protocols or any(p.is_http or p == Protocol.UNKNOWN for p in protocols)


def _outbound(
    namespace: str, push: PushContext
) -> tuple[dict[str, OutboundClusterSpec], tuple[Message, ...], tuple[Diagnostic, ...]]:
    """Outbound cluster specs, clusters and endpoints: the same for every proxy of a namespace,
    so computed once per push context and namespace (the messages are shared: never mutate)."""
    key = ("pilotfish.translate.outbound", namespace)
    if key not in push.memo:
        diagnostics: list[Diagnostic] = []
        specs = outbound_cluster_specs(namespace, push, diagnostics)
        messages: list[Message] = []
        for spec in specs.values():
            cluster = cluster_builders.outbound_cluster(spec)
            mesh_tls.apply_mesh_tls(cluster, spec, push)
            if service_entries.needs_own_endpoints(spec):
                messages.append(service_entries.reshape_cluster(cluster, spec, push))
                continue
            messages.append(cluster)
            messages.append(load_assignment(spec, push))
        push.memo[key] = (specs, tuple(messages), tuple(diagnostics))
    result: tuple[dict[str, OutboundClusterSpec], tuple[Message, ...], tuple[Diagnostic, ...]]
    result = push.memo[key]
    return result


def generate(proxy: Proxy, push: PushContext) -> ProxyResources:
    full_push, push = push, sidecar_scope.scoped_push(proxy, push)
    specs, outbound, found = _outbound(proxy.namespace, push)
    diagnostics = list(found)
    messages = list(outbound)
    messages.append(cluster_builders.blackhole_cluster())
    authz = authz_filters(proxy, full_push)
    diagnostics.extend(authz.http_notes)
    normalization = push.mesh.path_normalization
    if proxy.is_gateway:
        for port, gateway_port in gateway_ports(proxy, push, diagnostics).items():
            messages.append(
                listeners.gateway_listener(proxy.bind_address, port, authz.http, normalization)
            )
            config = gateway_route_config(gateway_port, push, specs, diagnostics)
            config = apply_https_redirect(config, gateway_port)
            messages.append(with_blackhole_vhost(config, port))
        messages.extend(gateway_tls_tcp.gateway_tls_resources(proxy, push, specs, diagnostics))
        return ProxyResources.build(decorate(proxy, full_push, messages), diagnostics)
    forward_proxy = any(service_entries.uses_forward_proxy(s) for s in specs.values())
    passthrough = push.mesh.outbound_traffic_policy != "REGISTRY_ONLY"
    if passthrough:
        messages.append(cluster_builders.passthrough_cluster())
    messages.append(
        listeners.outbound_http_proxy_listener(
            proxy.ip, proxy.outbound_port, passthrough=passthrough or forward_proxy
        )
    )
    http_proxy = http_proxy_route_config(proxy, push, specs, diagnostics)
    messages.append(service_entries.tidy_http_proxy_domains(http_proxy, push))
    messages.extend(tcp.sidecar_tcp_listeners(proxy, push, specs, diagnostics, full_push.services))
    ingress = sidecar_scope.ingress_ports(proxy, full_push)
    if ingress is None:
        ingress = [
            (container, app, _inbound_is_http(proxy, push, container))
            for container, app in proxy.app_ports
        ]
    if not all(http for _, _, http in ingress):
        diagnostics.extend(authz.tcp_notes)
    peer_authentication = effective_mtls(proxy.namespace, proxy.label_map, full_push)
    for container_port, app_port, http in ingress:
        messages.append(
            listeners.inbound_listener(
                proxy.ip,
                container_port,
                http=http,
                policy_filters=authz.http,
                network_filters=authz.network,
                path_normalization=normalization,
                mode=peer_authentication.at(container_port),
                trust_domain=push.mesh.trust_domain,
            )
        )
        messages.append(cluster_builders.inbound_cluster(container_port, app_port))
        if http:
            messages.append(inbound_route_config(container_port))
    return ProxyResources.build(decorate(proxy, full_push, messages), diagnostics)


__all__ = ["generate", "names", "outbound_cluster_specs"]
