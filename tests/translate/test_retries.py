"""Retry policies as Istio 1.24+ builds them (pilot/pkg/networking/core/route/retry/retry.go,
route.go `BuildDefaultHTTPInboundRoute` / `BuildDefaultHTTPOutboundRoute`): no 503 in the
default outbound policy (EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY); inbound HTTP routes retry
`reset-before-request` twice, gRPC ports not (ENABLE_INBOUND_RETRY_POLICY); MeshConfig's
`defaultHttpRetryPolicy` and `defaultInboundHttpRetryPolicy` replace the defaults, read and
checked from the `istio` ConfigMap."""

from __future__ import annotations

import pytest
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from tests.translate.test_fidelity import GATEWAY
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish import config
from pilotfish.config.mesh_retry import MeshRetries
from pilotfish.config.models.networking import HTTPRetry
from pilotfish.registry.manifest import parse_manifest
from pilotfish.translate import ProxyResources, check_invariants, generate
from pilotfish.translate.retries import DEFAULT_RETRY_ON

GRPC_SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: ratings-grpc, namespace: default}
spec:
  selector: {app: ratings}
  ports: [{name: grpc, port: 7070}]
---
"""
VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /own}}]
    retries: {attempts: 5, retryOn: gateway-error}
    route: [{destination: {host: reviews}}]
  - route: [{destination: {host: reviews}}]
---
"""


def _build(
    yaml: str = "", retries: MeshRetries | None = None, instance: str = "ratings-v1-0"
) -> ProxyResources:
    push = bookinfo_push(yaml, retries=retries or MeshRetries())
    ports = [(9080, 19080), (7070, 17070)] if "ratings" in instance else [(9080, 19080)]
    resources = generate(sidecar_for(push, instance, *ports), push)
    assert check_invariants(resources) == []
    return resources


def _inbound_retry(resources: ProxyResources, port: int) -> rc_pb2.RetryPolicy | None:
    found = resources.routes.get(f"inbound|{port}||")
    assert isinstance(found, route_pb2.RouteConfiguration), sorted(resources.routes)
    (route,) = found.virtual_hosts[0].routes
    return route.route.retry_policy if route.route.HasField("retry_policy") else None


def _routes(resources: ProxyResources, vhost_prefix: str) -> list[rc_pb2.Route]:
    found = resources.routes.get("http_proxy") or resources.routes.get("http.8080")
    assert isinstance(found, route_pb2.RouteConfiguration), sorted(resources.routes)
    (vhost,) = [v for v in found.virtual_hosts if v.name.startswith(vhost_prefix)]
    return list(vhost.routes)


def test_default_inbound_policy_retries_resets_before_the_request_but_not_on_grpc() -> None:
    resources = _build(GRPC_SERVICE)
    http = _inbound_retry(resources, 9080)
    assert http is not None
    assert http.retry_on == "reset-before-request" and http.num_retries.value == 2
    assert not http.retriable_status_codes and not http.retry_host_predicate
    assert _inbound_retry(resources, 7070) is None  # Istio: never on a gRPC port


def test_mesh_inbound_policy_replaces_the_default_and_empty_turns_it_off() -> None:
    written = HTTPRetry(attempts=3, retry_on="connect-failure,503", backoff="50ms")
    policy = _inbound_retry(_build(retries=MeshRetries(inbound=written)), 9080)
    assert policy is not None and policy.num_retries.value == 3
    assert policy.retry_on == "connect-failure,retriable-status-codes"
    assert list(policy.retriable_status_codes) == [503]
    assert policy.retry_back_off.base_interval.ToMilliseconds() == 50
    only_attempts = _inbound_retry(_build(retries=MeshRetries(inbound=HTTPRetry(attempts=1))), 9080)
    assert only_attempts is not None and only_attempts.retry_on == "reset-before-request"
    assert _inbound_retry(_build(retries=MeshRetries(inbound=HTTPRetry())), 9080) is None


def test_default_outbound_policy_has_no_status_code() -> None:
    (default,) = _routes(_build(instance="productpage-v1-0"), "reviews.")
    policy = default.route.retry_policy
    assert policy.retry_on == DEFAULT_RETRY_ON and policy.num_retries.value == 2
    assert list(policy.retriable_status_codes) == []
    assert policy.host_selection_retry_max_attempts == 5


def test_mesh_outbound_policy_applies_where_no_route_sets_retries() -> None:
    written = HTTPRetry(attempts=4, retry_on="5xx,409", per_try_timeout="2s")
    mesh = MeshRetries(outbound=written)
    own, rest = _routes(_build(VS, mesh, "productpage-v1-0"), "reviews.")
    assert own.route.retry_policy.num_retries.value == 5  # the route's own wins
    assert own.route.retry_policy.retry_on == "gateway-error"
    for route in (rest, *_routes(_build("", mesh, "productpage-v1-0"), "reviews.")):
        policy = route.route.retry_policy
        assert policy.num_retries.value == 4, route.name
        assert policy.retry_on == "5xx,retriable-status-codes"
        assert list(policy.retriable_status_codes) == [409]
        assert policy.per_try_timeout.ToSeconds() == 2
        assert [p.name for p in policy.retry_host_predicate] == [
            "envoy.retry_host_predicates.previous_hosts"
        ]
    (gateway,) = _routes(_build(GATEWAY, mesh, "istio-ingressgateway-0"), "*")
    assert gateway.route.retry_policy.num_retries.value == 4
    (off,) = _routes(_build("", MeshRetries(outbound=HTTPRetry()), "productpage-v1-0"), "reviews.")
    assert not off.route.HasField("retry_policy")  # `{}`: no attempts, no retries


MESH = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: istio, namespace: istio-system}}
data:
  mesh: |
{body}
"""


def _read(body: str) -> tuple[MeshRetries, list[str]]:
    text = MESH.format(body="\n".join(f"    {line}" for line in body.splitlines()))
    manifest, problems = parse_manifest(config.load(text, "mesh.yaml").others)
    return manifest.mesh.retries, [str(p) for p in problems]


def test_the_mesh_configmap_sets_both_policies() -> None:
    retries, problems = _read(
        "defaultHttpRetryPolicy: {attempts: 3, retryOn: 5xx, perTryTimeout: 1s}\n"
        "defaultInboundHttpRetryPolicy: {}"
    )
    assert problems == []
    assert retries.outbound == HTTPRetry(attempts=3, retry_on="5xx", per_try_timeout="1s")
    assert retries.inbound == HTTPRetry()
    assert _read("trustDomain: td.a") == (MeshRetries(), [])


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("defaultHttpRetryPolicy: {attempts: -1}", "attempts cannot be negative"),
        (
            "defaultHttpRetryPolicy: {attempts: 0, retryOn: 5xx}",
            "http retry policy configured when attempts are set to 0 (disabled)",
        ),
        (
            "defaultHttpRetryPolicy: {attempts: 2, retryOn: '5xx,bogus'}",
            '"bogus" is not a valid retryOn policy',
        ),
        ("defaultHttpRetryPolicy: {attempts: 2, perTryTimeout: 0.1ms}", "greater than 1ms"),
        ("defaultHttpRetryPolicy: {atempts: 2}", "defaultHttpRetryPolicy.atempts: unknown field"),
        ("defaultHttpRetryPolicy: 3", "must be a map (HTTPRetry)"),
        (
            "defaultInboundHttpRetryPolicy: {backoff: 1s}",
            "backoff configured when attempts are set to 0 (disabled)",
        ),
    ],
)
def test_a_bad_policy_is_an_error_on_the_configmap_and_istios_default_applies(
    body: str, error: str
) -> None:
    retries, problems = _read(body)
    assert retries == MeshRetries()
    assert len(problems) == 1 and "data.mesh" in problems[0], problems
    assert error in problems[0], problems
