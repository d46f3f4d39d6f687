"""Istio fidelity at the HTTP edges: behaviours checked against istiod's source and pinned here.

- cluster_traffic_policy.go `applyConnectionPool`: `http.maxConcurrentStreams` goes on the
  cluster's explicit HTTP/2 options, only when the cluster already speaks HTTP/2 (its port's
  protocol is HTTP/2 or gRPC); upgraded or client-protocol clusters do not get it.
- listener_builder.go `buildHTTPConnectionManager`: `proxy_100_continue` on every connection
  manager (ENABLE_100_CONTINUE_HEADERS defaults to true).
- route.go: destinations of weight 0 are left out when a route has several; one left over
  becomes the route's plain cluster (its headers move onto the route).
- gateway.go: an HTTP server port that no VirtualService binds still gets a route
  configuration with one virtual host `blackhole:<port>` for `*` and no routes (Envoy: 404).
- route.go `TranslateRouteMatch`: `ignoreUriCase` is only `case_sensitive: false`; a regex
  stays as written (Envoy does not apply case_sensitive to regexes).
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2 as upstream_http_pb2
from tests.translate.test_fidelity import GATEWAY, build, managers, reviews_route, reviews_rule
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.telemetry.exchange import PEER_HEADER
from pilotfish.translate import check_invariants, generate
from pilotfish.translate.clusters import HTTP_OPTIONS_KEY

GRPC_SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: reviews-grpc, namespace: default}
spec:
  selector: {app: reviews}
  ports: [{name: grpc, port: 9090}]
---
"""
GRPC_CLUSTER = "outbound|9090||reviews-grpc.default.svc.cluster.local"
REVIEWS = "outbound|9080||reviews.default.svc.cluster.local"


def _upstream_options(config: str, name: str) -> upstream_http_pb2.HttpProtocolOptions:
    message = build(config).clusters[name]
    assert isinstance(message, cluster_pb2.Cluster)
    options = upstream_http_pb2.HttpProtocolOptions()
    assert message.typed_extension_protocol_options[HTTP_OPTIONS_KEY].Unpack(options)
    return options


def _pool_rule(host: str, http: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {host}}}
spec:
  host: {host}
  trafficPolicy: {{connectionPool: {{http: {http}}}}}
---
"""


def test_max_concurrent_streams_on_a_cluster_that_speaks_http2() -> None:
    config = GRPC_SERVICE + _pool_rule("reviews-grpc", "{maxConcurrentStreams: 7}")
    options = _upstream_options(config, GRPC_CLUSTER)
    http2 = options.explicit_http_config.http2_protocol_options
    assert http2.max_concurrent_streams.value == 7


def test_max_concurrent_streams_not_on_http1_upgraded_or_client_protocol_clusters() -> None:
    http1 = _upstream_options(
        _pool_rule("reviews", "{maxConcurrentStreams: 7, idleTimeout: 5s}"), REVIEWS
    )
    assert http1.explicit_http_config.HasField("http_protocol_options")
    upgraded = _upstream_options(
        _pool_rule("reviews", "{maxConcurrentStreams: 7, h2UpgradePolicy: UPGRADE}"), REVIEWS
    )
    assert not upgraded.explicit_http_config.http2_protocol_options.HasField(
        "max_concurrent_streams"
    )
    client = _upstream_options(
        GRPC_SERVICE
        + _pool_rule("reviews-grpc", "{maxConcurrentStreams: 7, useClientProtocol: true}"),
        GRPC_CLUSTER,
    )
    downstream = client.use_downstream_protocol_config.http2_protocol_options
    assert not downstream.HasField("max_concurrent_streams")


def test_every_connection_manager_proxies_100_continue() -> None:
    found = [
        *managers(build()).values(),
        *managers(build(GATEWAY, "istio-ingressgateway-0")).values(),
    ]
    assert len(found) >= 3
    assert all(manager.proxy_100_continue for manager in found)


def _reviews_vs(route: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  http: [{{route: {route}}}]
---
""" + reviews_rule("{}").replace(
        "trafficPolicy: {}",
        "subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}},"
        " {name: v3, labels: {version: v3}}]",
    )


def _dest(subset: str, weight: int, extra: str = "") -> str:
    return f"{{destination: {{host: reviews, subset: {subset}}}, weight: {weight}{extra}}}"


def test_zero_weight_destinations_are_left_out_of_weighted_clusters() -> None:
    route = reviews_route(_reviews_vs(f"[{_dest('v1', 0)}, {_dest('v2', 40)}, {_dest('v3', 60)}]"))
    names = [c.name for c in route.route.weighted_clusters.clusters]
    assert names == [
        "outbound|9080|v2|reviews.default.svc.cluster.local",
        "outbound|9080|v3|reviews.default.svc.cluster.local",
    ]


def test_one_destination_left_after_zero_weights_becomes_the_route_cluster() -> None:
    headers = ", headers: {request: {set: {x-picked: v2}}}"
    route = reviews_route(_reviews_vs(f"[{_dest('v1', 0)}, {_dest('v2', 100, headers)}]"))
    assert route.route.cluster == "outbound|9080|v2|reviews.default.svc.cluster.local"
    assert not route.route.HasField("weighted_clusters")
    added = [(h.header.key, h.header.value) for h in route.request_headers_to_add]
    assert [(k, v) for k, v in added if k != PEER_HEADER] == [("x-picked", "v2")]


def test_a_lone_zero_weight_destination_still_gets_all_traffic() -> None:
    route = reviews_route(_reviews_vs(f"[{_dest('v1', 0)}]"))
    assert route.route.cluster == "outbound|9080|v1|reviews.default.svc.cluster.local"


SECOND_PORT_GATEWAY = (
    GATEWAY
    + """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: unbound}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8081, name: http-other, protocol: HTTP}, hosts: ["*"]}]
---
"""
)


def test_gateway_port_without_virtual_services_gets_a_blackhole_vhost() -> None:
    resources = build(SECOND_PORT_GATEWAY, "istio-ingressgateway-0")
    assert "0.0.0.0_8081" in resources.listeners
    config = resources.routes["http.8081"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    (vhost,) = config.virtual_hosts
    assert (vhost.name, list(vhost.domains), list(vhost.routes)) == ("blackhole:8081", ["*"], [])
    bound = resources.routes["http.8080"]
    assert isinstance(bound, route_pb2.RouteConfiguration)
    assert "blackhole:8080" not in [v.name for v in bound.virtual_hosts]


def test_ignore_uri_case_leaves_a_regex_as_written() -> None:
    vs = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {regex: "/Upper/[0-9]+"}, ignoreUriCase: true}]
    route: [{destination: {host: reviews}}]
---
"""
    push = bookinfo_push(vs)
    resources = generate(sidecar_for(push, "productpage-v1-0", (9080, 19080)), push)
    assert check_invariants(resources) == []
    config = resources.routes["http_proxy"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    (vhost,) = [v for v in config.virtual_hosts if v.name.startswith("reviews.")]
    match: rc_pb2.RouteMatch = vhost.routes[0].match
    assert match.safe_regex.regex == "/Upper/[0-9]+"
    assert match.HasField("case_sensitive") and not match.case_sensitive.value


def test_https_redirect_server_without_virtual_services_still_redirects() -> None:
    redirect = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: redirect}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8082, name: http-redirect, protocol: HTTP}
    hosts: ["redirect.example.com"]
    tls: {httpsRedirect: true}
---
"""
    resources = build(redirect, "istio-ingressgateway-0")
    config = resources.routes["http.8082"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    (vhost,) = config.virtual_hosts
    assert vhost.name == "redirect.example.com:8082"
    assert list(vhost.domains) == ["redirect.example.com"]
    assert vhost.require_tls == rc_pb2.VirtualHost.ALL


def test_case_sensitive_is_written_on_every_match_block() -> None:
    vs = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /a}}]
    route: [{destination: {host: reviews}}]
  - route: [{destination: {host: reviews}}]
---
"""
    config = build(vs).routes["http_proxy"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    (vhost,) = [v for v in config.virtual_hosts if v.name.startswith("reviews.")]
    with_match, catch_all = vhost.routes[0].match, vhost.routes[1].match
    assert with_match.HasField("case_sensitive") and with_match.case_sensitive.value
    assert not catch_all.HasField("case_sensitive")
