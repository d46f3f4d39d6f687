"""Clusters: outbound per service port and DestinationRule subset, inbound, and the specials.

`outbound|<port>|<subset>|<fqdn>` clusters are EDS over ADS (endpoints come separately, see
`endpoints.py`), LEAST_REQUEST (Istio's default) unless a DestinationRule says otherwise, with
Istio's unlimited circuit breakers. `inbound|<port>||` clusters are STATIC at 127.0.0.1:<app port>.
`BlackHoleCluster` is STATIC with no endpoints; `PassthroughCluster` is a dynamic forward proxy
cluster (DNS of the Host header) used for ALLOW_ANY traffic to hosts outside the registry.

Where connections leave from: a proxy sharing the host's network binds them to its pod address
(127.A.x.y, its bootstrap's `upstream_bind_config`), what mesh peers and their policies see.
The kernel refuses a 127/8 source for any destination off the host's loopback (EINVAL), so
clusters to places outside the mesh (`PassthroughCluster`, a MESH_EXTERNAL ServiceEntry's) let
the kernel choose (`0.0.0.0`), as a pod's connections to the outside leave from the node. Inside
the mesh, services off the host's loopback do for the proxies bound to loopback alone
(`source_bind`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2 as ep_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.extensions.clusters.dynamic_forward_proxy.v3 import cluster_pb2 as dfp_cluster_pb2
from envoy.extensions.common.dynamic_forward_proxy.v3 import dns_cache_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2 as upstream_http_pb2
from google.protobuf import any_pb2

from pilotfish.config.protocols import HTTP2_NATIVE
from pilotfish.registry.types import Service, ServicePort
from pilotfish.telemetry.envoy import alt_stat_name
from pilotfish.telemetry.labels import UNKNOWN, service_metadata
from pilotfish.translate import names
from pilotfish.translate.envoy_pb import ads_config_source, duration, pack, socket_address
from pilotfish.translate.istio_metadata import add_cluster_metadata, add_inbound_metadata
from pilotfish.translate.traffic_policy import (
    EffectivePolicy,
    UpstreamHttp,
    apply_connection_pool,
    apply_policy,
    default_circuit_breakers,
)
from pilotfish.translate.upstream_tls import apply_client_tls

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        Subset,
    )
    from pilotfish.config.models.networking.destination_rule import ConnectionPoolSettings

CONNECT_TIMEOUT_SECONDS = 10.0
HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
DFP_CLUSTER_TYPE = "envoy.clusters.dynamic_forward_proxy"


@dataclass(frozen=True)
class OutboundClusterSpec:
    """One outbound cluster to build: which service port, which subset, with what policy."""

    service: Service
    port: ServicePort
    subset: str = ""
    subset_labels: tuple[tuple[str, str], ...] = ()
    policy: EffectivePolicy = field(default_factory=EffectivePolicy)
    rule: str = ""
    """The DestinationRule that applies, as the cluster's `istio.config` names it ("": none)."""
    selected: bool = False
    """Whether that rule has a `workloadSelector` (a sidecar honours `credentialName` only
    then: `sidecar_credentials`)."""
    name: str = field(init=False, repr=False, compare=False)
    """Made with the spec (a default block reads each of its thousands of specs' several
    times): of its port, service and subset, so not compared."""

    def __post_init__(self) -> None:
        name = names.outbound_cluster(self.port.port, self.service.hostname, self.subset)
        object.__setattr__(self, "name", name)


def outbound_cluster(spec: OutboundClusterSpec) -> cluster_pb2.Cluster:
    cluster = cluster_pb2.Cluster(
        name=spec.name,
        alt_stat_name=alt_stat_name(spec.name),
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(
            eds_config=ads_config_source(), service_name=spec.name
        ),
        connect_timeout=duration(CONNECT_TIMEOUT_SECONDS),
        lb_policy=cluster_pb2.Cluster.LEAST_REQUEST,  # Istio's default balancer
        circuit_breakers=default_circuit_breakers(),
        metadata=service_metadata(
            spec.service.hostname, spec.service.name, spec.service.namespace, spec.port.port
        ),
    )
    add_cluster_metadata(
        cluster.metadata,
        spec.service,
        rule=spec.rule,
        subset=spec.subset,
        tls_mode=spec.policy.tls.mode if spec.policy.tls is not None else None,
    )
    if spec.service.mesh_external:
        any_source(cluster)
    upstream = apply_policy(cluster, spec.policy)
    apply_client_tls(cluster, spec.policy.tls)
    _protocol_options(cluster, spec, upstream)
    return cluster


def any_source(cluster: cluster_pb2.Cluster) -> None:
    """The kernel chooses the source address (not the pod's 127.A.x.y: see the docstring)."""
    cluster.upstream_bind_config.source_address.CopyFrom(
        socket_address("0.0.0.0", 0).socket_address
    )


@dataclass(frozen=True, eq=False)
class PoolSettings:
    """What a connection pool writes on a cluster (`pool_settings`)."""

    cluster: cluster_pb2.Cluster
    """A cluster with only Istio's defaults, then the pool, in the fields a pool writes."""
    upstream: UpstreamHttp
    options: dict[tuple[bool, bool], any_pb2.Any] = field(default_factory=dict)
    """The upstream HTTP options packed, by (HTTP/2, native HTTP/2): once, not per cluster."""


def pool_settings(pool: ConnectionPoolSettings | None) -> PoolSettings:
    """The pool applied to the defaults it overrides (circuit breakers, connect timeout)."""
    cluster = cluster_pb2.Cluster(
        connect_timeout=duration(CONNECT_TIMEOUT_SECONDS),
        circuit_breakers=default_circuit_breakers(),
    )
    return PoolSettings(cluster, apply_connection_pool(cluster, pool))


def with_pool(
    unpooled: cluster_pb2.Cluster, spec: OutboundClusterSpec, pool: PoolSettings
) -> cluster_pb2.Cluster:
    """The cluster of `spec` made from `unpooled`, the one built (with whatever was applied to
    it afterwards) for the same spec without its connection pool, and `pool`, the spec's pool
    (`pool_settings`): a copy with the pool's settings in place of the defaults. The pool writes
    only circuit breakers, the connect timeout, TCP keepalive and the upstream HTTP protocol
    options, which nothing else writes or reads, so this is the cluster building from scratch
    gives (`tests/translate/test_outbound_reuse.py` compares them)."""
    cluster = cluster_pb2.Cluster()
    cluster.CopyFrom(unpooled)
    cluster.circuit_breakers.CopyFrom(pool.cluster.circuit_breakers)
    cluster.connect_timeout.CopyFrom(pool.cluster.connect_timeout)
    if pool.cluster.HasField("upstream_connection_options"):
        cluster.upstream_connection_options.CopyFrom(pool.cluster.upstream_connection_options)
    if HTTP_OPTIONS_KEY in cluster.typed_extension_protocol_options:
        del cluster.typed_extension_protocol_options[HTTP_OPTIONS_KEY]
    _protocol_options(cluster, spec, pool.upstream, pool.options)
    return cluster


def _protocol_options(
    cluster: cluster_pb2.Cluster,
    spec: OutboundClusterSpec,
    upstream: UpstreamHttp,
    packed: dict[tuple[bool, bool], any_pb2.Any] | None = None,
) -> None:
    """The upstream HTTP options (`packed`: those packed before for the same upstream)."""
    native_http2 = spec.port.protocol in HTTP2_NATIVE
    http2 = native_http2 if upstream.http2 is None or native_http2 else upstream.http2
    if http2 or upstream.common is not None or upstream.use_client_protocol:
        known = packed.get((http2, native_http2)) if packed is not None else None
        if known is None:
            known = _http_protocol_options(
                http2=http2, upstream=upstream, native_http2=native_http2
            )
            if packed is not None:
                packed[(http2, native_http2)] = known
        cluster.typed_extension_protocol_options[HTTP_OPTIONS_KEY].CopyFrom(known)


def _http_protocol_options(
    *, http2: bool, upstream: UpstreamHttp, native_http2: bool
) -> any_pb2.Any:
    options = upstream_http_pb2.HttpProtocolOptions()
    if upstream.use_client_protocol:
        downstream = options.use_downstream_protocol_config
        downstream.http_protocol_options.SetInParent()
        downstream.http2_protocol_options.SetInParent()
    elif http2:
        http2_options = options.explicit_http_config.http2_protocol_options
        http2_options.SetInParent()
        # As Istio: the stream limit only reaches clusters whose port already speaks HTTP/2
        # (Istio applies the pool before upgrading, so upgraded clusters do not get it).
        if native_http2 and upstream.max_concurrent_streams:
            http2_options.max_concurrent_streams.value = upstream.max_concurrent_streams
    else:
        options.explicit_http_config.http_protocol_options.SetInParent()
    if upstream.common is not None:
        options.common_http_protocol_options.CopyFrom(upstream.common)
    return pack(options)


def inbound_cluster(
    container_port: int,
    app_port: int,
    http2: bool = False,
    services: Sequence[tuple[Service, ServicePort]] = (),
) -> cluster_pb2.Cluster:
    """The local app's port; HTTP/2 without TLS (h2c) when the port speaks gRPC or HTTP/2;
    `services` the service ports targeting it (the `istio` metadata's `services`)."""
    name = names.inbound_cluster(container_port)
    cluster = cluster_pb2.Cluster(
        name=name,
        alt_stat_name=alt_stat_name(name),
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration(CONNECT_TIMEOUT_SECONDS),
        lb_policy=cluster_pb2.Cluster.ROUND_ROBIN,
        circuit_breakers=default_circuit_breakers(),
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[
                ep_pb2.LocalityLbEndpoints(
                    lb_endpoints=[
                        ep_pb2.LbEndpoint(
                            endpoint=ep_pb2.Endpoint(address=socket_address("127.0.0.1", app_port))
                        )
                    ]
                )
            ],
        ),
    )
    # from the app's loopback, as Istio's inbound connections reach it; the proxy's other
    # connections leave from the pod's address (its bootstrap's `upstream_bind_config`)
    cluster.upstream_bind_config.source_address.CopyFrom(
        socket_address("127.0.0.1", 0).socket_address
    )
    if http2:
        options = upstream_http_pb2.HttpProtocolOptions()
        options.explicit_http_config.http2_protocol_options.SetInParent()
        cluster.typed_extension_protocol_options[HTTP_OPTIONS_KEY].CopyFrom(pack(options))
    add_inbound_metadata(cluster.metadata, [(s, p.port) for s, p in services])
    return cluster


def inbound_cluster_for(template: cluster_pb2.Cluster, app_port: int) -> cluster_pb2.Cluster:
    """`template` (an `inbound_cluster`) for another app port: what `inbound_cluster` gives
    with that app port and the template's other arguments (a new message)."""
    cluster = cluster_pb2.Cluster()
    cluster.CopyFrom(template)
    endpoint = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint
    endpoint.address.socket_address.port_value = app_port
    return cluster


def blackhole_cluster() -> cluster_pb2.Cluster:
    return cluster_pb2.Cluster(
        name=names.BLACKHOLE_CLUSTER,
        alt_stat_name=alt_stat_name(names.BLACKHOLE_CLUSTER),
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration(CONNECT_TIMEOUT_SECONDS),
        metadata=service_metadata(UNKNOWN, names.BLACKHOLE_CLUSTER, UNKNOWN),
    )


def dns_cache_config() -> dns_cache_pb2.DnsCacheConfig:
    """Shared by the passthrough cluster and the HTTP filter: Envoy requires them identical."""
    return dns_cache_pb2.DnsCacheConfig(
        name=names.DNS_CACHE_NAME, dns_lookup_family=cluster_pb2.Cluster.V4_PREFERRED
    )


def passthrough_cluster() -> cluster_pb2.Cluster:
    config = dfp_cluster_pb2.ClusterConfig(dns_cache_config=dns_cache_config())
    cluster = cluster_pb2.Cluster(
        name=names.PASSTHROUGH_CLUSTER,
        alt_stat_name=alt_stat_name(names.PASSTHROUGH_CLUSTER),
        connect_timeout=duration(CONNECT_TIMEOUT_SECONDS),
        lb_policy=cluster_pb2.Cluster.CLUSTER_PROVIDED,
        circuit_breakers=default_circuit_breakers(),
        metadata=service_metadata(UNKNOWN, names.PASSTHROUGH_CLUSTER, UNKNOWN),
    )
    cluster.cluster_type.name = DFP_CLUSTER_TYPE
    cluster.cluster_type.typed_config.CopyFrom(pack(config))
    any_source(cluster)
    return cluster


def subset_labels(subset: Subset) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(subset.labels.items()))
