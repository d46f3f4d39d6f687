"""DestinationRule (networking.istio.io v1/v1beta1/v1alpha3): traffic policy and subsets.

Class names are Istio's proto message names; attributes are the snake_case of the API fields, with
the camelCase as alias. Validation beyond types lives in `pilotfish.config.validation`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pilotfish.config.models.base import Bool, EnumNumber, Float, Int, IstioModel, Str
from pilotfish.config.models.networking.virtual_service import PortSelector
from pilotfish.config.models.selectors import WorkloadSelector as WorkloadSelector


class Http2KeepAlive(IstioModel):
    interval: Str | None = None
    timeout: Str | None = None


class HTTPSettings(IstioModel):
    h2_upgrade_policy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | EnumNumber | None = None
    http1_max_pending_requests: Int | None = None
    http2_keep_alive: Http2KeepAlive | None = None
    http2_max_requests: Int | None = None
    idle_timeout: Str | None = None
    max_concurrent_streams: Int | None = None
    max_requests_per_connection: Int | None = None
    max_retries: Int | None = None
    use_client_protocol: Bool | None = None


class TcpKeepalive(IstioModel):
    interval: Str | None = None
    probes: Int | None = None
    time: Str | None = None


class TCPSettings(IstioModel):
    connect_timeout: Str | None = None
    idle_timeout: Str | None = None
    max_connection_duration: Str | None = None
    max_connections: Int | None = None
    tcp_keepalive: TcpKeepalive | None = None


class ConnectionPoolSettings(IstioModel):
    http: HTTPSettings | None = None
    tcp: TCPSettings | None = None


class BackendUtilizationLB(IstioModel):
    error_utilization_penalty_percent: Int | None = None
    metric_names_for_computing_utilization: tuple[Str, ...] = ()
    weight_expiration_period: Str | None = None
    weight_stabilization_period: Str | None = None
    weight_update_period: Str | None = None


class HTTPCookieAttribute(IstioModel):
    name: Str | None = None
    value: Str | None = None


class HTTPCookie(IstioModel):
    attributes: tuple[HTTPCookieAttribute, ...] = ()
    name: Str | None = None
    path: Str | None = None
    ttl: Str | None = None


class MagLev(IstioModel):
    table_size: Int | None = None


class RingHash(IstioModel):
    minimum_ring_size: Int | None = None


class ConsistentHashLB(IstioModel):
    http_cookie: HTTPCookie | None = None
    http_header_name: Str | None = None
    http_query_parameter_name: Str | None = None
    maglev: MagLev | None = None
    minimum_ring_size: Int | None = None
    ring_hash: RingHash | None = None
    use_source_ip: Bool | None = None


class Distribute(IstioModel):
    from_: Str | None = Field(default=None, alias="from")
    to: dict[str, Int] = Field(default_factory=dict)


class Failover(IstioModel):
    from_: Str | None = Field(default=None, alias="from")
    to: Str | None = None


class LocalityLoadBalancerSetting(IstioModel):
    distribute: tuple[Distribute, ...] = ()
    enabled: Bool | None = None
    failover: tuple[Failover, ...] = ()
    failover_priority: tuple[Str, ...] = ()


class WarmupConfiguration(IstioModel):
    aggression: Float | None = None
    duration: Str | None = None
    minimum_percent: Float | None = None


class ZoneAwareLoadBalancerSetting(IstioModel):
    enabled: Bool | None = None
    failover: tuple[Failover, ...] = ()
    failover_priority: tuple[Str, ...] = ()
    min_cluster_size: Int | None = None


class LoadBalancerSettings(IstioModel):
    backend_utilization: BackendUtilizationLB | None = None
    consistent_hash: ConsistentHashLB | None = None
    locality_lb_setting: LocalityLoadBalancerSetting | None = None
    simple: (
        Literal[
            "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"
        ]
        | EnumNumber
        | None
    ) = None
    warmup: WarmupConfiguration | None = None
    warmup_duration_secs: Str | None = None
    zone_aware_lb_setting: ZoneAwareLoadBalancerSetting | None = None


class OutlierDetection(IstioModel):
    base_ejection_time: Str | None = None
    consecutive5xx_errors: Int | None = Field(default=None, alias="consecutive5xxErrors")
    consecutive_errors: Int | None = None
    consecutive_gateway_errors: Int | None = None
    consecutive_local_origin_failures: Int | None = None
    interval: Str | None = None
    max_ejection_percent: Int | None = None
    min_health_percent: Int | None = None
    outlier_detection_http_error_codes: tuple[Int, ...] = ()
    split_external_local_origin_errors: Bool | None = None


class ClientTLSSettings(IstioModel):
    ca_certificates: Str | None = None
    ca_crl: Str | None = None
    client_certificate: Str | None = None
    credential_name: Str | None = None
    insecure_skip_verify: Bool | None = None
    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] | EnumNumber | None = None
    private_key: Str | None = None
    sni: Str | None = None
    subject_alt_names: tuple[Str, ...] = ()


class PortTrafficPolicy(IstioModel):
    connection_pool: ConnectionPoolSettings | None = None
    load_balancer: LoadBalancerSettings | None = None
    outlier_detection: OutlierDetection | None = None
    port: PortSelector | None = None
    tls: ClientTLSSettings | None = None


class ProxyProtocol(IstioModel):
    version: Literal["V1", "V2"] | EnumNumber | None = None


class RetryBudget(IstioModel):
    budget_interval: Str | None = None
    min_retry_concurrency: Int | None = None
    percent: Float | None = None


class TunnelSettings(IstioModel):
    protocol: Str | None = None
    target_host: Str | None = None
    target_port: Int | None = None


class TrafficPolicy(IstioModel):
    connection_pool: ConnectionPoolSettings | None = None
    load_balancer: LoadBalancerSettings | None = None
    outlier_detection: OutlierDetection | None = None
    port_level_settings: tuple[PortTrafficPolicy, ...] = ()
    proxy_protocol: ProxyProtocol | None = None
    retry_budget: RetryBudget | None = None
    tls: ClientTLSSettings | None = None
    tunnel: TunnelSettings | None = None


class Subset(IstioModel):
    labels: dict[str, Str] = Field(default_factory=dict)
    name: Str | None = None
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(IstioModel):
    export_to: tuple[Str, ...] = ()
    host: Str | None = None
    subsets: tuple[Subset, ...] = ()
    traffic_policy: TrafficPolicy | None = None
    workload_selector: WorkloadSelector | None = None
