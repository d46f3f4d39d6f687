"""Istio fidelity: defaults istiod sets that a user would notice, checked on generated config.

Each test names the Istio behaviour it pins (pilot/pkg/networking/core: listener_builder.go
`buildHTTPConnectionManager`, httproute.go `GetProxyHeadersFromProxyConfig`, gateway.go,
cluster_traffic_policy.go, route/retry/retry.go).
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2 as upstream_http_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.translate import ProxyResources, check_invariants, generate
from pilotfish.translate.clusters import HTTP_OPTIONS_KEY
from pilotfish.translate.retries import DEFAULT_RETRY_ON

REVIEWS = "outbound|9080||reviews.default.svc.cluster.local"
MIB = 1024 * 1024
GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: gw}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{route: [{destination: {host: productpage, port: {number: 9080}}}]}]
---
"""


def build(config: str = "", instance: str = "productpage-v1-0") -> ProxyResources:
    push = bookinfo_push(config)
    resources = generate(sidecar_for(push, instance, (9080, 19080)), push)
    assert check_invariants(resources) == []
    return resources


def managers(resources: ProxyResources) -> dict[str, hcm_pb2.HttpConnectionManager]:
    found = {}
    for name, message in resources.listeners.items():
        assert isinstance(message, listener_pb2.Listener)
        for chain in message.filter_chains:
            for network_filter in chain.filters:
                manager = hcm_pb2.HttpConnectionManager()
                if network_filter.typed_config.Unpack(manager):
                    found[name] = manager
    return found


def cluster(config: str, name: str = REVIEWS) -> cluster_pb2.Cluster:
    message = build(config).clusters[name]
    assert isinstance(message, cluster_pb2.Cluster)
    return message


def reviews_rule(policy: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews}}
spec:
  host: reviews
  trafficPolicy: {policy}
---
"""


def test_every_connection_manager_allows_websocket_and_has_no_stream_idle_timeout() -> None:
    sidecar, gateway = managers(build()), managers(build(GATEWAY, "istio-ingressgateway-0"))
    assert len(sidecar) >= 2 and gateway
    for manager in [*sidecar.values(), *gateway.values()]:
        assert "websocket" in [u.upgrade_type for u in manager.upgrade_configs]
        assert manager.HasField("stream_idle_timeout")
        assert manager.stream_idle_timeout.ToSeconds() == 0


def test_server_header_is_istio_envoy_on_inbound_and_gateway_envoy_on_outbound() -> None:
    for name, manager in managers(build()).items():
        expected = "istio-envoy" if name.startswith("inbound") else ""
        assert manager.server_name == expected, name
    for manager in managers(build(GATEWAY, "istio-ingressgateway-0")).values():
        assert manager.server_name == "istio-envoy"


def test_virtual_hosts_count_attempts_and_direct_responses_may_be_large() -> None:
    sidecar = build().routes["http_proxy"]
    gateway = build(GATEWAY, "istio-ingressgateway-0").routes["http.8080"]
    for config in (sidecar, gateway):
        assert isinstance(config, route_pb2.RouteConfiguration)
        assert config.max_direct_response_body_size_bytes.value == MIB
        assert config.virtual_hosts
        assert all(v.include_request_attempt_count for v in config.virtual_hosts)


def test_default_load_balancer_is_least_request() -> None:
    assert cluster("").lb_policy == cluster_pb2.Cluster.LEAST_REQUEST
    assert cluster(reviews_rule("{tls: {mode: DISABLE}}")).lb_policy == (
        cluster_pb2.Cluster.LEAST_REQUEST
    )


def test_zero_connection_pool_limits_mean_unset() -> None:
    zero = reviews_rule(
        "{connectionPool: {tcp: {maxConnections: 0}, http: {http1MaxPendingRequests: 0,"
        " http2MaxRequests: 0, maxRetries: 0}}}"
    )
    thresholds = cluster(zero).circuit_breakers.thresholds[0]
    assert thresholds.max_connections.value == 2**32 - 1
    assert thresholds.max_pending_requests.value == 2**32 - 1
    assert thresholds.max_requests.value == 2**32 - 1
    assert thresholds.max_retries.value == 2**32 - 1


def test_tcp_idle_timeout_applies_to_http_when_http_idle_timeout_is_unset() -> None:
    built = cluster(reviews_rule("{connectionPool: {tcp: {idleTimeout: 30s}}}"))
    options = upstream_http_pb2.HttpProtocolOptions()
    assert built.typed_extension_protocol_options[HTTP_OPTIONS_KEY].Unpack(options)
    assert options.common_http_protocol_options.idle_timeout.ToSeconds() == 30


def test_outlier_detection_disables_success_rate_and_keeps_envoy_5xx_default() -> None:
    built = cluster(reviews_rule("{outlierDetection: {consecutiveGatewayErrors: 2}}"))
    detection = built.outlier_detection
    assert detection.HasField("enforcing_success_rate")
    assert detection.enforcing_success_rate.value == 0
    assert not detection.HasField("enforcing_consecutive_5xx")
    assert not detection.HasField("consecutive_5xx")
    assert detection.enforcing_consecutive_gateway_failure.value == 100


def reviews_route(config: str) -> rc_pb2.Route:
    route_config = build(config).routes["http_proxy"]
    assert isinstance(route_config, route_pb2.RouteConfiguration)
    (vhost,) = [v for v in route_config.virtual_hosts if v.name.startswith("reviews.")]
    route: rc_pb2.Route = vhost.routes[0]
    return route


REVIEWS_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
---
"""


def test_consistent_hash_retries_stay_on_the_same_host() -> None:
    """As Istio: a VirtualService route to one hashed destination retries on the hashed host;
    the default route (no VirtualService) keeps `previous_hosts` even then (Istio's
    BuildDefaultHTTPOutboundRoute converts the policy without the hash)."""
    hashed = reviews_rule("{loadBalancer: {consistentHash: {httpHeaderName: x-user}}}")
    assert not reviews_route(hashed + REVIEWS_VS).route.retry_policy.retry_host_predicate
    assert reviews_route(REVIEWS_VS).route.retry_policy.retry_host_predicate
    default = reviews_route(hashed).route
    assert default.hash_policy and default.retry_policy.retry_host_predicate


def test_retry_backoff_and_explicit_retry_on() -> None:
    vs = f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  http:
  - retries: {{attempts: 3, backoff: 250ms, retryOn: "{DEFAULT_RETRY_ON}"}}
    route: [{{destination: {{host: reviews}}}}]
---
"""
    policy = reviews_route(vs).route.retry_policy
    assert policy.retry_back_off.base_interval.ToMilliseconds() == 250
    assert list(policy.retriable_status_codes) == []


def _reviews_retries(retries: str) -> rc_pb2.RetryPolicy:
    vs = f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  http:
  - retries: {retries}
    route: [{{destination: {{host: reviews}}}}]
---
"""
    policy: rc_pb2.RetryPolicy = reviews_route(vs).route.retry_policy
    return policy


def test_default_retry_policy_is_istios() -> None:
    policy = reviews_route("").route.retry_policy
    assert policy.num_retries.value == 2
    assert policy.retry_on == DEFAULT_RETRY_ON
    assert list(policy.retriable_status_codes) == []  # 503 left out since Istio 1.24
    assert policy.host_selection_retry_max_attempts == 5
    assert [p.name for p in policy.retry_host_predicate] == [
        "envoy.retry_host_predicates.previous_hosts"
    ]
    assert not policy.HasField("retry_priority")


def test_retry_on_status_codes_and_remote_localities_as_istio() -> None:
    # Istio (retry.go): its own retryOn replaces the default conditions and codes
    policy = _reviews_retries(
        '{attempts: 4, retryOn: "gateway-error,504", retryRemoteLocalities: true}'
    )
    assert policy.num_retries.value == 4
    assert list(policy.retriable_status_codes) == [504]
    assert policy.retry_on == "gateway-error,retriable-status-codes"
    assert policy.retry_priority.name == "envoy.retry_priorities.previous_priorities"


def test_zero_attempts_disables_retries() -> None:
    assert _reviews_retries("{attempts: 0}") == rc_pb2.RetryPolicy()
