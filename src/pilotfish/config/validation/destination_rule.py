"""Istio's semantic checks of a DestinationRule: host, subsets (names unique and valid, labels),
traffic policies (load balancer oneof, connection pool, outlier detection, client TLS, port-level
settings) and the workload selector."""

from __future__ import annotations

from pilotfish.config.durations import duration_problem, parse_duration
from pilotfish.config.models.networking import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    DestinationRuleSpec,
    LoadBalancerSettings,
    OutlierDetection,
    TrafficPolicy,
)
from pilotfish.config.schema import Problem
from pilotfish.config.validation.common import Findings
from pilotfish.config.validation.locality import REGION as REGION
from pilotfish.config.validation.locality import SUBZONE as SUBZONE
from pilotfish.config.validation.locality import TOPOLOGY_LABELS, failovers, locality_lb
from pilotfish.config.validation.locality import ZONE as ZONE


def validate_destination_rule(spec: DestinationRuleSpec) -> list[Problem]:
    found = Findings()
    found.host("spec.host", spec.host)
    if spec.traffic_policy is not None:
        _traffic_policy(found, "spec.trafficPolicy", spec.traffic_policy)
    seen: dict[str, int] = {}
    for index, subset in enumerate(spec.subsets):
        path = f"spec.subsets[{index}]"
        found.subset_name(f"{path}.name", subset.name)
        if subset.name:
            if subset.name in seen:
                found.error(f"{path}.name", f'duplicate subset name "{subset.name}"')
            seen.setdefault(subset.name, index)
        found.labels(f"{path}.labels", subset.labels)
        if subset.traffic_policy is not None:
            _traffic_policy(found, f"{path}.trafficPolicy", subset.traffic_policy)
    if spec.workload_selector is not None:
        found.labels("spec.workloadSelector.matchLabels", spec.workload_selector.match_labels)
        if not spec.workload_selector.match_labels:
            found.warn("spec.workloadSelector", "workload selector specified without labels")
    return found.problems


def _traffic_policy(found: Findings, path: str, policy: TrafficPolicy) -> None:
    _common_policy(
        found,
        path,
        policy.load_balancer,
        policy.connection_pool,
        policy.outlier_detection,
        policy.tls,
    )
    ports: dict[int, int] = {}
    for index, port_policy in enumerate(policy.port_level_settings):
        p_path = f"{path}.portLevelSettings[{index}]"
        number = port_policy.port.number if port_policy.port is not None else None
        found.port(f"{p_path}.port.number", number, "port level settings port number")
        if number is not None:
            if number in ports:
                found.error(
                    f"{p_path}.port.number", f"duplicate port level settings for port {number}"
                )
            ports.setdefault(number, index)
        _common_policy(
            found,
            p_path,
            port_policy.load_balancer,
            port_policy.connection_pool,
            port_policy.outlier_detection,
            port_policy.tls,
        )
    if policy.tunnel is not None:
        found.host(f"{path}.tunnel.targetHost", policy.tunnel.target_host)
        found.port(f"{path}.tunnel.targetPort", policy.tunnel.target_port, "tunnel target port")
        if policy.tunnel.protocol not in (None, "CONNECT", "POST"):
            found.error(f"{path}.tunnel.protocol", "tunnel protocol must be CONNECT or POST")
    if policy.retry_budget is not None:
        found.percent(f"{path}.retryBudget.percent", policy.retry_budget.percent)
        found.duration(f"{path}.retryBudget.budgetInterval", policy.retry_budget.budget_interval)


def _common_policy(
    found: Findings,
    path: str,
    load_balancer: LoadBalancerSettings | None,
    pool: ConnectionPoolSettings | None,
    outlier: OutlierDetection | None,
    tls: ClientTLSSettings | None,
) -> None:
    if load_balancer is not None:
        _load_balancer(found, f"{path}.loadBalancer", load_balancer)
        _zone_aware(found, f"{path}.loadBalancer", load_balancer, outlier)
        if load_balancer.locality_lb_setting is not None:
            where = f"{path}.loadBalancer.localityLbSetting"
            locality_lb(found, where, load_balancer.locality_lb_setting, outlier)
    if pool is not None:
        connection_pool(found, f"{path}.connectionPool", pool)
    if outlier is not None:
        _outlier(found, f"{path}.outlierDetection", outlier)
    if tls is not None:
        _client_tls(found, f"{path}.tls", tls)


def _load_balancer(found: Findings, path: str, lb: LoadBalancerSettings) -> None:
    found.one_of(path, ["simple", "consistentHash"], [lb.simple, lb.consistent_hash])
    found.duration(f"{path}.warmupDurationSecs", lb.warmup_duration_secs)
    if lb.warmup is not None:
        found.duration(f"{path}.warmup.duration", lb.warmup.duration)
        found.percent(f"{path}.warmup.minimumPercent", lb.warmup.minimum_percent)
        if lb.warmup.aggression == 0:  # a negative one is the schema's (minimum 0)
            found.error(f"{path}.warmup.aggression", "aggression should be greater than 0")
    hashing = lb.consistent_hash
    if hashing is not None:
        found.one_of(
            f"{path}.consistentHash",
            ["httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"],
            [
                hashing.http_header_name,
                hashing.http_cookie,
                hashing.use_source_ip or None,
                hashing.http_query_parameter_name,
            ],
        )
        if hashing.http_cookie is not None:
            if not hashing.http_cookie.name:
                found.error(f"{path}.consistentHash.httpCookie.name", "cookie name is required")
            ttl = hashing.http_cookie.ttl
            if ttl is not None and duration_problem(ttl) is not None:
                try:  # Istio checks no range: 0s is a session cookie
                    parse_duration(ttl)
                except ValueError:
                    found.error(
                        f"{path}.consistentHash.httpCookie.ttl", duration_problem(ttl) or ""
                    )
        if hashing.minimum_ring_size:
            found.warn(
                f"{path}.consistentHash.minimumRingSize",
                "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash "
                "configuration instead",
            )


POOL_NUMBERS = {
    "http1MaxPendingRequests": "http1 max pending requests",
    "http2MaxRequests": "http2 max requests",
    "maxRequestsPerConnection": "max requests per connection",
    "maxRetries": "max retries",
    "maxConcurrentStreams": "max concurrent streams",
    "maxConnections": "max connections",
}
"""Istio's names of the connection pool numbers in its errors (`max retries must be
non-negative`)."""


def connection_pool(found: Findings, path: str, pool: ConnectionPoolSettings) -> None:
    """Istio's validateConnectionPool numbers and durations (a DestinationRule's and a
    Sidecar's pools; emptiness and keepalive: `webhook_policies`)."""
    if pool.http is not None:
        http = pool.http
        for name, value in (
            ("http1MaxPendingRequests", http.http1_max_pending_requests),
            ("http2MaxRequests", http.http2_max_requests),
            ("maxRequestsPerConnection", http.max_requests_per_connection),
            ("maxRetries", http.max_retries),
            ("maxConcurrentStreams", http.max_concurrent_streams),
        ):
            found.non_negative(f"{path}.http.{name}", value, POOL_NUMBERS[name])
        found.duration(f"{path}.http.idleTimeout", http.idle_timeout)
    if pool.tcp is not None:
        tcp = pool.tcp
        found.non_negative(
            f"{path}.tcp.maxConnections", tcp.max_connections, POOL_NUMBERS["maxConnections"]
        )
        found.duration(f"{path}.tcp.connectTimeout", tcp.connect_timeout)
        found.duration(f"{path}.tcp.maxConnectionDuration", tcp.max_connection_duration)
        if tcp.tcp_keepalive is not None:
            found.duration(f"{path}.tcp.tcpKeepalive.time", tcp.tcp_keepalive.time)
            found.duration(f"{path}.tcp.tcpKeepalive.interval", tcp.tcp_keepalive.interval)


def _outlier(found: Findings, path: str, outlier: OutlierDetection) -> None:
    found.duration(f"{path}.interval", outlier.interval)
    found.duration(f"{path}.baseEjectionTime", outlier.base_ejection_time)
    for name, value in (
        ("maxEjectionPercent", outlier.max_ejection_percent),
        ("minHealthPercent", outlier.min_health_percent),
    ):
        if value is not None and not 0 <= value <= 100:
            found.error(f"{path}.{name}", f"percentage {value} is out of range 0-100")
    if outlier.consecutive_errors:
        found.warn(
            f"{path}.consecutiveErrors",
            "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or "
            "consecutive5xxErrors instead",
        )
    if outlier.consecutive_local_origin_failures and not outlier.split_external_local_origin_errors:
        found.error(
            f"{path}.consecutiveLocalOriginFailures",
            "outlier detection consecutive local origin failures is specified, but split "
            "external local origin errors is set to false",
        )


def _zone_aware(
    found: Findings, path: str, lb: LoadBalancerSettings, outlier: OutlierDetection | None
) -> None:
    """Istio's rules of zoneAwareLbSetting: not with localityLbSetting; failover between
    distinct regions named without zone, subzone or wildcard; no topology label in
    failoverPriority (Envoy orders those itself); failover needs outlier detection (a warning)."""
    zone = lb.zone_aware_lb_setting
    if zone is None:
        return
    where = f"{path}.zoneAwareLbSetting"
    if lb.locality_lb_setting is not None:
        found.error(path, "only one of localityLbSetting and zoneAwareLbSetting can be set")
    for index, label in enumerate(zone.failover_priority):
        if label in TOPOLOGY_LABELS:
            found.error(
                f"{where}.failoverPriority[{index}]",
                f"'failover_priority' for zone aware lb must not use topology label '{label}'; "
                "region- and zone-level routing are handled automatically",
            )
    failovers(
        found,
        where,
        zone,
        outlier,
        "zone aware lb",
        "zone aware lb failover only specifies region; zone and subzone failover are handled "
        "automatically",
    )


def _client_tls(found: Findings, path: str, tls: ClientTLSSettings) -> None:
    """Istio's ValidateTLS (insecureSkipVerify: webhook_policies): with a credentialName, SIMPLE
    and MUTUAL take no certificate, key, CA or CRL; MUTUAL without one needs a certificate and a
    key. Other modes ignore certificates (Istio accepts them)."""
    if tls.mode in ("SIMPLE", "MUTUAL") and tls.credential_name:
        if tls.client_certificate or tls.ca_certificates or tls.private_key or tls.ca_crl:
            found.error(
                path,
                "cannot specify client certificates or CA certificate or CA CRL If credentialName "
                "is set",
            )
    elif tls.mode == "MUTUAL":
        if not tls.client_certificate:
            found.error(f"{path}.clientCertificate", "client certificate required for mutual tls")
        if not tls.private_key:
            found.error(f"{path}.privateKey", "private key required for mutual tls")
