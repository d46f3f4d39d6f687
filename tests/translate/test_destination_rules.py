"""DestinationRule selection (Istio's namespace order, exact before wildcard) and policies."""

from __future__ import annotations

from dataclasses import replace

from envoy.config.cluster.v3 import cluster_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.config.models.networking import OutlierDetection
from pilotfish.model.push_context import PushContext
from pilotfish.translate import check_invariants, generate
from pilotfish.translate.traffic_policy import (
    EffectivePolicy,
    apply_policy,
    default_circuit_breakers,
)

REVIEWS = "outbound|9080||reviews.default.svc.cluster.local"


def rule(name: str, namespace: str, host: str, lb: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  host: "{host}"
  trafficPolicy: {{loadBalancer: {{simple: {lb}}}}}
---"""


def lb_policy(config: str, instance: str = "productpage-v1-0") -> int:
    push = bookinfo_push(config)
    resources = generate(sidecar_for(push, instance), push)
    assert check_invariants(resources) == []
    cluster = resources.clusters[REVIEWS]
    assert isinstance(cluster, cluster_pb2.Cluster)
    return int(cluster.lb_policy)


def test_least_request_without_rule() -> None:
    assert lb_policy("") == cluster_pb2.Cluster.LEAST_REQUEST


def test_root_namespace_rule_applies_last() -> None:
    root = rule("all", "istio-system", "*.svc.cluster.local", "RANDOM")
    assert lb_policy(root) == cluster_pb2.Cluster.RANDOM
    own = rule("reviews", "default", "reviews", "LEAST_REQUEST")
    assert lb_policy(root + own) == cluster_pb2.Cluster.LEAST_REQUEST


def test_exact_host_beats_wildcard_in_one_namespace() -> None:
    wildcard = rule("a-wild", "default", "*.default.svc.cluster.local", "RANDOM")
    exact = rule("z-exact", "default", "reviews.default.svc.cluster.local", "LEAST_REQUEST")
    assert lb_policy(wildcard + exact) == cluster_pb2.Cluster.LEAST_REQUEST


def _policies(config: str) -> list[int]:
    push = bookinfo_push(config)  # one push context, two namespaces
    policies = []
    for instance in ("productpage-v1-0", "istio-ingressgateway-0", "reviews-v1-0"):
        cluster = generate(sidecar_for(push, instance), push).clusters[REVIEWS]
        policies.append(cluster.lb_policy)
    return policies


def test_root_namespace_proxies_look_in_the_service_namespace_first() -> None:
    """Istio's `destinationRule`: a proxy of the root namespace (the ingress gateway here)
    looks at the root namespace's private rules, then the service's namespace, then the root
    namespace's exported rules."""
    in_root = rule("r", "istio-system", "reviews.default.svc.cluster.local", "RANDOM")
    in_service_ns = rule("r", "default", "reviews", "LEAST_REQUEST")
    assert _policies(in_root + in_service_ns) == [cluster_pb2.Cluster.LEAST_REQUEST] * 3
    private = in_root.replace("spec:\n", "spec:\n  exportTo: [.]\n")
    assert _policies(private + in_service_ns) == [
        cluster_pb2.Cluster.LEAST_REQUEST,
        cluster_pb2.Cluster.RANDOM,
        cluster_pb2.Cluster.LEAST_REQUEST,
    ]


def test_consistent_hash_and_connection_pool() -> None:
    config = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {consistentHash: {httpCookie: {name: user, ttl: 10s}}}
    connectionPool: {tcp: {maxConnections: 7, connectTimeout: 250ms}}
    outlierDetection: {consecutiveGatewayErrors: 2, baseEjectionTime: 1m}
"""
    push = bookinfo_push(config)
    resources = generate(sidecar_for(push, "productpage-v1-0"), push)
    cluster = resources.clusters[REVIEWS]
    assert isinstance(cluster, cluster_pb2.Cluster)
    assert cluster.lb_policy == cluster_pb2.Cluster.RING_HASH
    assert cluster.circuit_breakers.thresholds[0].max_connections.value == 7
    assert cluster.connect_timeout.ToMilliseconds() == 250
    assert cluster.outlier_detection.consecutive_gateway_failure.value == 2
    assert not cluster.outlier_detection.HasField("enforcing_consecutive_5xx")  # Envoy's default
    assert cluster.outlier_detection.base_ejection_time.ToSeconds() == 60
    route_config = resources.routes["http_proxy"]
    (reviews,) = [v for v in route_config.virtual_hosts if v.name.startswith("reviews.")]
    cookie = reviews.routes[0].route.hash_policy[0].cookie
    assert (cookie.name, cookie.ttl.ToSeconds()) == ("user", 10)


def test_consecutive_5xx_errors_enable_outlier_detection() -> None:
    policy = EffectivePolicy(outlier_detection=OutlierDetection(consecutive5xx_errors=3))
    cluster = cluster_pb2.Cluster(circuit_breakers=default_circuit_breakers())
    apply_policy(cluster, policy)
    assert cluster.outlier_detection.consecutive_5xx.value == 3
    assert cluster.outlier_detection.enforcing_consecutive_5xx.value == 100


def test_export_to_limits_which_namespaces_see_a_rule() -> None:
    private = rule("r", "default", "reviews", "RANDOM").replace(
        "spec:\n", 'spec:\n  exportTo: ["."]\n'
    )
    push = bookinfo_push(private)
    in_default = generate(sidecar_for(push, "productpage-v1-0"), push).clusters[REVIEWS]
    in_gateway_ns = generate(sidecar_for(push, "istio-ingressgateway-0"), push).clusters[REVIEWS]
    assert in_default.lb_policy == cluster_pb2.Cluster.RANDOM
    assert in_gateway_ns.lb_policy == cluster_pb2.Cluster.LEAST_REQUEST
    hidden = private.replace('exportTo: ["."]', 'exportTo: ["elsewhere"]')
    assert lb_policy(hidden) == cluster_pb2.Cluster.LEAST_REQUEST


def _passthrough_tls(config: str, without_sidecar: str = "") -> str:
    """What a PASSTHROUGH (ORIGINAL_DST) reviews cluster sends: "mtls", "plain" or "matches"."""
    push = bookinfo_push(rule("reviews", "default", "reviews", "PASSTHROUGH") + config)
    if without_sidecar:
        instances = tuple(
            replace(i, sidecar=False) if i.name == without_sidecar else i
            for i in push.registry.instances
        )
        push = PushContext(replace(push.registry, instances=instances), push.configs, push.mesh)
    cluster = generate(sidecar_for(push, "productpage-v1-0"), push).clusters[REVIEWS]
    assert isinstance(cluster, cluster_pb2.Cluster)
    assert cluster.type == cluster_pb2.Cluster.ORIGINAL_DST
    if cluster.transport_socket_matches:
        return "matches"
    return "mtls" if cluster.HasField("transport_socket") else "plain"


def test_passthrough_keeps_auto_mtls_as_istio_infers_it() -> None:
    """Istio's BestEffortInferServiceMTLSMode: an ORIGINAL_DST cluster has no endpoints to
    choose a transport socket per endpoint, so every connection is mTLS when every instance has
    a sidecar and the mesh/namespace PeerAuthentication is not DISABLE (a workload policy is
    not consulted), plaintext otherwise."""
    namespace_disable = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec: {mtls: {mode: DISABLE}}
---"""
    workload_disable = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: reviews, namespace: default}
spec: {selector: {matchLabels: {app: reviews}}, mtls: {mode: DISABLE}}
---"""
    assert _passthrough_tls("") == "mtls"
    assert _passthrough_tls(namespace_disable) == "plain"
    assert _passthrough_tls(workload_disable) == "mtls"
    assert _passthrough_tls("", without_sidecar="reviews-v2-0") == "plain"
    assert _passthrough_tls("", without_sidecar="ratings-v1-0") == "mtls"


SELECTED = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: for-productpage, namespace: default}
spec:
  host: reviews
  workloadSelector: {matchLabels: {app: productpage}}
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
  subsets: [{name: v3, labels: {version: v3}}]
---"""
SUBSET = "outbound|9080|v3|reviews.default.svc.cluster.local"


def test_a_selected_rule_applies_to_the_workloads_it_selects_alone() -> None:
    """Its namespace's other workloads fall back to the rule without a selector; a namespace
    with no rule but the selected one gives them none (not the service namespace's)."""
    catch_all = rule("reviews", "default", "reviews", "ROUND_ROBIN")
    push = bookinfo_push(SELECTED + catch_all)
    selected = generate(sidecar_for(push, "productpage-v1-0"), push)
    other = generate(sidecar_for(push, "reviews-v1-0"), push)
    assert check_invariants(selected) == [] and check_invariants(other) == []
    assert selected.clusters[REVIEWS].lb_policy == cluster_pb2.Cluster.RANDOM
    assert SUBSET in selected.clusters
    assert other.clusters[REVIEWS].lb_policy == cluster_pb2.Cluster.ROUND_ROBIN
    assert SUBSET not in other.clusters
    alone = bookinfo_push(SELECTED)
    assert generate(sidecar_for(alone, "details-v1-0"), alone).clusters[REVIEWS].lb_policy == (
        cluster_pb2.Cluster.LEAST_REQUEST
    )


def test_a_selected_rule_of_another_namespace_does_not_apply() -> None:
    """The ingress gateway (istio-system) has the selected labels, the rule is default's."""
    text = SELECTED.replace("app: productpage", "istio: ingressgateway")
    push = bookinfo_push(text)
    gateway = generate(sidecar_for(push, "istio-ingressgateway-0"), push)
    assert gateway.clusters[REVIEWS].lb_policy == cluster_pb2.Cluster.LEAST_REQUEST
    assert SUBSET not in gateway.clusters
    text = text.replace("host: reviews", "host: reviews.default.svc.cluster.local")
    own = bookinfo_push(text.replace("namespace: default", "namespace: istio-system"))
    gateway = generate(sidecar_for(own, "istio-ingressgateway-0"), own)  # gateways select too
    assert gateway.clusters[REVIEWS].lb_policy == cluster_pb2.Cluster.RANDOM
