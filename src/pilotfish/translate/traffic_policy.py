"""DestinationRule `trafficPolicy` -> Envoy cluster settings (and route hash policies).

Owns the merge order Istio uses (top-level < port-level < subset < subset port-level, field by
field: loadBalancer, connectionPool, outlierDetection, tls) and the mapping of each piece onto a
`Cluster`: lb policy and consistent hash, circuit breakers, connect/idle timeouts, outlier
detection, slow start, TCP keepalive, and the upstream HTTP protocol choice (h2UpgradePolicy,
useClientProtocol). Client TLS lives in `upstream_tls.py`. Policies are the config models'
`TrafficPolicy` and its parts, read by their typed fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2, outlier_detection_pb2
from envoy.config.core.v3 import address_pb2, protocol_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import wrappers_pb2

from pilotfish.translate.envoy_pb import duration_of, seconds_of

if TYPE_CHECKING:
    from pilotfish.config.models.networking.destination_rule import (
        ClientTLSSettings,
        ConnectionPoolSettings,
        LoadBalancerSettings,
        OutlierDetection,
        PortTrafficPolicy,
        TcpKeepalive,
        TrafficPolicy,
    )

_MAX = 4294967295
_DEFAULT_RING_SIZE = 1024
_SIMPLE_LB = {
    "ROUND_ROBIN": cluster_pb2.Cluster.ROUND_ROBIN,
    "LEAST_REQUEST": cluster_pb2.Cluster.LEAST_REQUEST,
    "LEAST_CONN": cluster_pb2.Cluster.LEAST_REQUEST,
    "RANDOM": cluster_pb2.Cluster.RANDOM,
}


@dataclass(frozen=True)
class EffectivePolicy:
    """The four traffic-policy parts that apply to one cluster after merging."""

    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None

    def overlay(self, policy: TrafficPolicy | PortTrafficPolicy | None) -> EffectivePolicy:
        if policy is None:
            return self
        return EffectivePolicy(
            load_balancer=policy.load_balancer or self.load_balancer,
            connection_pool=policy.connection_pool or self.connection_pool,
            outlier_detection=policy.outlier_detection or self.outlier_detection,
            tls=policy.tls or self.tls,
        )


def _port_level(policy: TrafficPolicy | None, port: int) -> PortTrafficPolicy | None:
    for setting in policy.port_level_settings if policy is not None else ():
        if setting.port is not None and setting.port.number == port:
            return setting
    return None


def effective_policy(
    top: TrafficPolicy | None, subset_policy: TrafficPolicy | None, port: int
) -> EffectivePolicy:
    merged = EffectivePolicy().overlay(top).overlay(_port_level(top, port))
    return merged.overlay(subset_policy).overlay(_port_level(subset_policy, port))


@dataclass(frozen=True)
class UpstreamHttp:
    """What the connection pool asks of the upstream HTTP protocol options (the caller packs
    them): common options, upgrade to HTTP/2 (None: the port's protocol decides), speak the
    downstream's protocol, and the HTTP/2 stream limit per connection (0: Envoy's default)."""

    common: protocol_pb2.HttpProtocolOptions | None = None
    http2: bool | None = None
    use_client_protocol: bool = False
    max_concurrent_streams: int = 0


def apply_policy(cluster: cluster_pb2.Cluster, policy: EffectivePolicy) -> UpstreamHttp:
    """Set lb, circuit breakers, timeouts and outlier detection on `cluster`; return what the
    connection pool asks of the upstream HTTP protocol options."""
    _apply_load_balancer(cluster, policy.load_balancer)
    _apply_outlier_detection(cluster, policy.outlier_detection)
    return apply_connection_pool(cluster, policy.connection_pool)


def default_circuit_breakers() -> circuit_breaker_pb2.CircuitBreakers:
    """Istio's defaults: effectively unlimited, with remaining-capacity tracking."""
    return circuit_breaker_pb2.CircuitBreakers(
        thresholds=[
            circuit_breaker_pb2.CircuitBreakers.Thresholds(
                max_connections=wrappers_pb2.UInt32Value(value=_MAX),
                max_pending_requests=wrappers_pb2.UInt32Value(value=_MAX),
                max_requests=wrappers_pb2.UInt32Value(value=_MAX),
                max_retries=wrappers_pb2.UInt32Value(value=_MAX),
                track_remaining=True,
            )
        ]
    )


def _apply_load_balancer(cluster: cluster_pb2.Cluster, lb: LoadBalancerSettings | None) -> None:
    if lb is None:
        return
    simple = lb.simple or ""
    if simple in _SIMPLE_LB:
        cluster.lb_policy = _SIMPLE_LB[simple]
    elif simple == "PASSTHROUGH":
        # As Istio: no load balancing, the connection goes where the caller sent it.
        cluster.type = cluster_pb2.Cluster.ORIGINAL_DST
        cluster.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
        cluster.ClearField("eds_cluster_config")
    _apply_warmup(cluster, lb.warmup_duration_secs)
    consistent = lb.consistent_hash
    if consistent is None:
        return
    maglev = consistent.maglev
    if maglev is not None:
        cluster.lb_policy = cluster_pb2.Cluster.MAGLEV
        if maglev.table_size:
            cluster.maglev_lb_config.table_size.value = int(maglev.table_size)
        return
    cluster.lb_policy = cluster_pb2.Cluster.RING_HASH
    if consistent.ring_hash is not None:
        ring_size = consistent.ring_hash.minimum_ring_size
    else:  # as Istio: the deprecated top-level field, else Envoy's 1024 written out
        ring_size = consistent.minimum_ring_size or _DEFAULT_RING_SIZE
    if ring_size:
        cluster.ring_hash_lb_config.minimum_ring_size.value = int(ring_size)


def _apply_warmup(cluster: cluster_pb2.Cluster, warmup: str | None) -> None:
    """warmupDurationSecs -> slow start window of the ROUND_ROBIN / LEAST_REQUEST balancer."""
    window = duration_of(warmup if not str(warmup or "").isdigit() else f"{warmup}s")
    if window is None or not window.ByteSize():
        return
    if cluster.lb_policy == cluster_pb2.Cluster.ROUND_ROBIN:
        cluster.round_robin_lb_config.slow_start_config.slow_start_window.CopyFrom(window)
    elif cluster.lb_policy == cluster_pb2.Cluster.LEAST_REQUEST:
        cluster.least_request_lb_config.slow_start_config.slow_start_window.CopyFrom(window)


def hash_policies(lb: LoadBalancerSettings | None) -> list[rc_pb2.RouteAction.HashPolicy]:
    """Route-side hash policy for a consistentHash load balancer (empty if none)."""
    consistent = lb.consistent_hash if lb is not None else None
    if consistent is None:
        return []
    hash_policy = rc_pb2.RouteAction.HashPolicy
    if consistent.http_header_name:
        return [hash_policy(header=hash_policy.Header(header_name=consistent.http_header_name))]
    cookie = consistent.http_cookie
    if cookie is not None:
        built = hash_policy.Cookie(name=cookie.name or "")
        if cookie.path:
            built.path = cookie.path
        ttl = duration_of(cookie.ttl)
        if ttl is not None:
            built.ttl.CopyFrom(ttl)
        return [hash_policy(cookie=built)]
    if consistent.use_source_ip:
        return [hash_policy(connection_properties=hash_policy.ConnectionProperties(source_ip=True))]
    query = consistent.http_query_parameter_name
    if query:
        return [hash_policy(query_parameter=hash_policy.QueryParameter(name=query))]
    return []


def apply_connection_pool(
    cluster: cluster_pb2.Cluster, pool: ConnectionPoolSettings | None
) -> UpstreamHttp:
    if pool is None:
        return UpstreamHttp()
    thresholds = cluster.circuit_breakers.thresholds[0]
    tcp, http = pool.tcp, pool.http
    # As Istio: a limit of 0 is indistinguishable from unset, so it keeps the unlimited default.
    for source, target in (
        (tcp.max_connections if tcp else None, thresholds.max_connections),
        (http.http1_max_pending_requests if http else None, thresholds.max_pending_requests),
        (http.http2_max_requests if http else None, thresholds.max_requests),
        (http.max_retries if http else None, thresholds.max_retries),
    ):
        if source is not None and source > 0:
            target.value = source
    connect_timeout = duration_of(tcp.connect_timeout if tcp else None)
    if connect_timeout is not None:
        cluster.connect_timeout.CopyFrom(connect_timeout)
    _apply_tcp_keepalive(cluster, tcp.tcp_keepalive if tcp else None)
    options = protocol_pb2.HttpProtocolOptions()
    # As Istio: the TCP idle timeout stands in for the HTTP one when that is unset.
    idle = duration_of(http.idle_timeout if http else None) or duration_of(
        tcp.idle_timeout if tcp else None
    )
    if idle is not None:
        options.idle_timeout.CopyFrom(idle)
    per_connection = http.max_requests_per_connection if http else None
    if per_connection:
        options.max_requests_per_connection.value = per_connection
    lifetime = duration_of(tcp.max_connection_duration if tcp else None)
    if lifetime is not None:
        options.max_connection_duration.CopyFrom(lifetime)
    upgrade = (http.h2_upgrade_policy if http else None) or ""
    return UpstreamHttp(
        common=options if options.ByteSize() else None,
        http2={"UPGRADE": True, "DO_NOT_UPGRADE": False}.get(str(upgrade)),  # a number: default
        use_client_protocol=bool(http and http.use_client_protocol),
        max_concurrent_streams=max(0, (http.max_concurrent_streams if http else None) or 0),
    )


def _apply_tcp_keepalive(cluster: cluster_pb2.Cluster, keepalive: TcpKeepalive | None) -> None:
    """tcpKeepalive -> SO_KEEPALIVE on upstream connections (probes, time, interval if set)."""
    if keepalive is None:
        return
    target = address_pb2.TcpKeepalive()
    if keepalive.probes is not None:
        target.keepalive_probes.value = keepalive.probes
    for source, field in (
        (keepalive.time, target.keepalive_time),
        (keepalive.interval, target.keepalive_interval),
    ):
        seconds = seconds_of(source)
        if seconds is not None:
            field.value = max(1, int(seconds))
    cluster.upstream_connection_options.tcp_keepalive.CopyFrom(target)


def _apply_outlier_detection(
    cluster: cluster_pb2.Cluster, outlier: OutlierDetection | None
) -> None:
    if outlier is None:
        return
    # As Istio: success-rate ejection is off; unset counts keep Envoy's defaults.
    detection = outlier_detection_pb2.OutlierDetection()
    detection.enforcing_success_rate.value = 0
    five_xx = outlier.consecutive5xx_errors
    if five_xx is None and (outlier.consecutive_errors or 0) > 0:
        five_xx = outlier.consecutive_errors  # deprecated; Istio warns and lets a negative through
    if five_xx is not None:
        detection.consecutive_5xx.value = five_xx
        detection.enforcing_consecutive_5xx.value = 100 if five_xx else 0
    gateway = outlier.consecutive_gateway_errors
    if gateway is not None:
        detection.consecutive_gateway_failure.value = gateway
        detection.enforcing_consecutive_gateway_failure.value = 100 if gateway else 0
    for source, target in (
        (outlier.interval, detection.interval),
        (outlier.base_ejection_time, detection.base_ejection_time),
    ):
        value = duration_of(source)
        if value is not None:
            target.CopyFrom(value)
    max_percent = outlier.max_ejection_percent
    if max_percent is not None and max_percent > 0:
        detection.max_ejection_percent.value = max_percent
    # As Istio: the panic threshold is minHealthPercent, 0 (panic mode off) when unset.
    min_health = outlier.min_health_percent or 0
    cluster.common_lb_config.healthy_panic_threshold.CopyFrom(
        percent_pb2.Percent(value=float(min_health))
    )
    cluster.outlier_detection.CopyFrom(detection)
