"""Clusters for ServiceEntry services whose endpoints are not plain addresses (Istio's shapes).

- `resolution: STATIC` (and Kubernetes services): EDS, like every outbound cluster.
- `resolution: DNS` / `DNS_ROUND_ROBIN`: `STRICT_DNS` / `LOGICAL_DNS` with the endpoints inline
  (their `address` is a name, resolved by Envoy; with no endpoints, the host itself), so no
  ClusterLoadAssignment is pushed for it.
- `resolution: NONE`: the dynamic forward proxy cluster (Envoy resolves the request's Host), the
  local-mode stand-in for Istio's ORIGINAL_DST cluster, as the app talks to its sidecar and not
  to the original destination. HTTP ports use it (the filter reads the Host header), and so do
  HTTPS/TLS ports, which apps reach with `CONNECT host:port` through HTTPS_PROXY (the filter
  reads the CONNECT authority: Istio's wildcard-hosts task, `*.wikipedia.org`). One that
  originates TLS checks the server as the ORIGINAL_DST cluster does (`_original_dst_tls`).

The traffic policy already set on the EDS cluster (`clusters.outbound_cluster`) is kept.

`tidy_http_proxy_domains`: a ServiceEntry host is reached by the name as written (`api.example`,
`api.example:8080`), not by Kubernetes' short forms (`<name>.<ns>.svc`), which
`slots.service_domains` builds for every service; they are removed from its virtual host
(they would also repeat `host:port`). Pure.
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2 as ep_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.clusters.dynamic_forward_proxy.v3 import cluster_pb2 as dfp_cluster_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2 as upstream_http_pb2

from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Protocol, Service, ServicePort
from pilotfish.translate import names
from pilotfish.translate.clusters import (
    DFP_CLUSTER_TYPE,
    HTTP_OPTIONS_KEY,
    OutboundClusterSpec,
    dns_cache_config,
)
from pilotfish.translate.envoy_pb import pack, socket_address

DNS_RESOLUTIONS = {
    "DNS": cluster_pb2.Cluster.STRICT_DNS,
    "DNS_ROUND_ROBIN": cluster_pb2.Cluster.LOGICAL_DNS,
}


def needs_own_endpoints(spec: OutboundClusterSpec) -> bool:
    """True when the cluster carries its endpoints itself (no EDS)."""
    return carries_endpoints(spec.service, spec.port)


def carries_endpoints(service: Service, port: ServicePort) -> bool:
    """True when the clusters of this service port carry their endpoints themselves (no EDS)."""
    return service.resolution in DNS_RESOLUTIONS or _forward_proxied(service, port)


def uses_forward_proxy(spec: OutboundClusterSpec) -> bool:
    return _forward_proxied(spec.service, spec.port)


def _forward_proxied(service: Service, port: ServicePort) -> bool:
    """NONE on a port the HTTP proxy listener serves: HTTP (by Host) or TLS (by CONNECT)."""
    return service.resolution == "NONE" and (
        port.protocol.is_http or port.protocol in (Protocol.HTTPS, Protocol.TLS)
    )


def reshape_cluster(
    cluster: cluster_pb2.Cluster, spec: OutboundClusterSpec, push: PushContext
) -> cluster_pb2.Cluster:
    """The EDS cluster built for `spec`, turned into a DNS or forward-proxy cluster."""
    reshaped = cluster_pb2.Cluster()
    reshaped.CopyFrom(cluster)
    reshaped.ClearField("eds_cluster_config")
    if uses_forward_proxy(spec):
        reshaped.ClearField("type")
        reshaped.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
        config = dfp_cluster_pb2.ClusterConfig(dns_cache_config=dns_cache_config())
        _original_dst_tls(reshaped, spec, config)
        reshaped.cluster_type.name = DFP_CLUSTER_TYPE
        reshaped.cluster_type.typed_config.CopyFrom(pack(config))
        return reshaped
    reshaped.type = DNS_RESOLUTIONS[spec.service.resolution]
    reshaped.dns_lookup_family = cluster_pb2.Cluster.V4_PREFERRED
    wanted = dict(spec.subset_labels)
    endpoints = [
        (e.address, e.port)
        for e in push.endpoints(spec.service, spec.port)
        if all(dict(e.labels).get(k) == v for k, v in wanted.items())
    ]
    if not endpoints and not spec.subset:
        endpoints = [(spec.service.hostname, spec.port.target_port)]
    if reshaped.type == cluster_pb2.Cluster.LOGICAL_DNS:
        endpoints = endpoints[:1]
    reshaped.load_assignment.CopyFrom(
        endpoint_pb2.ClusterLoadAssignment(
            cluster_name=spec.name,
            endpoints=[
                ep_pb2.LocalityLbEndpoints(
                    lb_endpoints=[
                        ep_pb2.LbEndpoint(endpoint=ep_pb2.Endpoint(address=socket_address(a, p)))
                        for a, p in endpoints
                    ]
                )
            ],
        )
    )
    return reshaped


def _original_dst_tls(
    cluster: cluster_pb2.Cluster, spec: OutboundClusterSpec, config: dfp_cluster_pb2.ClusterConfig
) -> None:
    """A forward-proxy cluster that originates TLS checks the server as Istio's ORIGINAL_DST
    cluster does (`setAutoSniAndAutoSanValidation`): the request's host as SNI and as the
    certificate's expected SAN only when the policy names neither an `sni` nor
    `subjectAltNames` (nor skips verification). Envoy's forward-proxy cluster turns both on
    unless told otherwise, which would refuse a server whose certificate names its host in its
    CN alone (Istio's mutual TLS origination page's), so they are written out."""
    tls = spec.policy.tls
    if tls is None or not cluster.HasField("transport_socket"):
        return
    auto_sni = not tls.sni
    auto_san = auto_sni and not tls.subject_alt_names and not tls.insecure_skip_verify
    if auto_sni and auto_san:
        return  # Envoy's defaults
    config.allow_insecure_cluster_options = True
    options = upstream_http_pb2.HttpProtocolOptions()
    if HTTP_OPTIONS_KEY in cluster.typed_extension_protocol_options:
        cluster.typed_extension_protocol_options[HTTP_OPTIONS_KEY].Unpack(options)
    else:
        options.explicit_http_config.http_protocol_options.SetInParent()
    options.upstream_http_protocol_options.auto_sni = auto_sni
    options.upstream_http_protocol_options.auto_san_validation = auto_san
    cluster.typed_extension_protocol_options[HTTP_OPTIONS_KEY].CopyFrom(pack(options))


def tidy_http_proxy_domains(
    config: route_pb2.RouteConfiguration, push: PushContext
) -> route_pb2.RouteConfiguration:
    """Only `host` and `host:port` domains on the virtual hosts of ServiceEntry hosts."""
    for service in push.services:
        if not service.from_service_entry:
            continue
        for port in service.ports:
            for vhost in config.virtual_hosts:
                if vhost.name != names.vhost(service.hostname, port.port):
                    continue
                allowed = {service.hostname, f"{service.hostname}:{port.port}"}
                kept = list(dict.fromkeys(d for d in vhost.domains if d in allowed))
                del vhost.domains[:]
                vhost.domains.extend(kept)
    return config
