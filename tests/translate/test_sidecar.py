"""Sidecar behaviour, asserted on the generated protobufs (not on golden text)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.model.node import node_metadata, proxy_from_node
from pilotfish.translate import ProxyResources, check_invariants, generate
from pilotfish.translate.ws_scheme import WASM_FILTER as WASM
from pilotfish.translate.ws_scheme import ws_scheme_module

DR_REVIEWS = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
"""

HTTPBIN = """
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: tools}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 80, targetPort: 8000}, {name: tcp-echo, port: 7070}]
---
apiVersion: v1
kind: Pod
metadata: {name: httpbin-v1-0, namespace: tools, labels: {app: httpbin}}
spec: {ports: [8000, 7070]}
status: {podIP: 127.42.1.2}
"""


def build(config: str = "", instance: str = "productpage-v1-0", **mesh: Any) -> ProxyResources:
    push = bookinfo_push(config, **mesh)
    resources = generate(sidecar_for(push, instance, (9080, 19080)), push)
    assert check_invariants(resources) == []
    return resources


def vhost(resources: ProxyResources, name: str) -> rc_pb2.VirtualHost:
    config = resources.routes["http_proxy"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    return next(v for v in config.virtual_hosts if v.name == name)


REVIEWS = "reviews.default.svc.cluster.local:9080"


def test_default_route_is_istios() -> None:
    route = vhost(build(), REVIEWS).routes[0]
    assert route.name == "default"
    assert route.route.cluster == "outbound|9080||reviews.default.svc.cluster.local"
    assert route.route.timeout.ToSeconds() == 0
    retry = route.route.retry_policy
    assert retry.num_retries.value == 2
    assert retry.retry_on == (
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    )
    assert list(retry.retriable_status_codes) == []  # 503 left out since Istio 1.24
    assert retry.retry_host_predicate[0].name == "envoy.retry_host_predicates.previous_hosts"


def test_domains_follow_dns_search_paths() -> None:
    resources = build(HTTPBIN)
    assert list(vhost(resources, REVIEWS).domains) == [
        "reviews.default.svc.cluster.local",
        "reviews.default.svc.cluster.local:9080",
        "reviews.default.svc:9080",
        "reviews.default:9080",
        "reviews:9080",
    ]
    other_namespace = list(vhost(resources, "httpbin.tools.svc.cluster.local:80").domains)
    assert "httpbin" not in other_namespace and "httpbin:80" not in other_namespace
    assert {"httpbin.tools", "httpbin.tools:80", "httpbin.tools.svc"} <= set(other_namespace)
    config = resources.routes["http_proxy"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    # A TCP port is reached only by `CONNECT host:port` (HTTPS_PROXY), never as plain HTTP.
    (tcp,) = [v for v in config.virtual_hosts if "7070" in v.name]
    assert [r.match.WhichOneof("path_specifier") for r in tcp.routes] == ["connect_matcher"]
    assert tcp.routes[0].route.upgrade_configs[0].upgrade_type == "CONNECT"
    assert "outbound|7070||httpbin.tools.svc.cluster.local" in resources.clusters


def test_outbound_listener_is_an_http_proxy() -> None:
    listener = build().listeners["outbound_http_proxy"]
    assert isinstance(listener, listener_pb2.Listener)
    assert listener.address.socket_address.address == "127.42.0.7"
    assert listener.address.socket_address.port_value == 15001
    manager = hcm_pb2.HttpConnectionManager()
    assert listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    assert manager.http_protocol_options.allow_absolute_url.value is True
    assert manager.rds.route_config_name == "http_proxy"
    assert manager.rds.config_source.HasField("ads")
    assert manager.http_filters[-1].name == "envoy.filters.http.router"


def test_ws_proxy_listener_only_for_pods_that_ask_and_never_on_the_http_proxy() -> None:
    """`pilotfish.io/ws-proxy: "true"` pods get a second HTTP proxy listener (their WS_PROXY)
    behind the `ws_scheme` Wasm filter, with the same routes; the HTTP proxy listener, and every
    listener of a pod that did not ask, has no Wasm filter (it would cost every request)."""
    push = bookinfo_push("")
    plain = sidecar_for(push, "productpage-v1-0", (9080, 19080))
    asked = replace(plain, ws_proxy_port=15002)
    without, with_ws = generate(plain, push), generate(asked, push)
    assert check_invariants(with_ws) == []
    assert "outbound_ws_proxy" not in without.listeners
    assert with_ws.listeners["outbound_http_proxy"] == without.listeners["outbound_http_proxy"]
    for resources in (without, with_ws):
        for name, listener in resources.listeners.items():
            assert isinstance(listener, listener_pb2.Listener)
            filters = [f.name for c in listener.filter_chains for f in c.filters]
            assert (WASM in filters) == (name == "outbound_ws_proxy"), (name, filters)
    ws = with_ws.listeners["outbound_ws_proxy"]
    assert isinstance(ws, listener_pb2.Listener)
    assert ws.address.socket_address.port_value == 15002
    assert ws.address.socket_address.address == plain.ip
    wasm, hcm = ws.filter_chains[0].filters
    assert wasm.name == WASM
    manager = hcm_pb2.HttpConnectionManager()
    assert hcm.typed_config.Unpack(manager)
    assert manager.rds.route_config_name == "http_proxy"
    assert manager.http_protocol_options.allow_absolute_url.value is True
    metadata = node_metadata(asked)
    assert metadata["PILOTFISH_WS_PROXY_PORT"] == "15002"
    assert proxy_from_node(asked.id, metadata) == asked
    assert "PILOTFISH_WS_PROXY_PORT" not in node_metadata(plain)


def test_ws_scheme_module_is_a_small_deterministic_wasm_module() -> None:
    module = ws_scheme_module()
    assert module.startswith(b"\x00asm\x01\x00\x00\x00") and len(module) < 1024
    assert b"proxy_on_downstream_data" in module and b"GET ws://" in module
    assert ws_scheme_module() == module


def test_unknown_hosts_pass_through_or_are_blocked() -> None:
    allow = build()
    assert vhost(allow, "allow_any").routes[0].route.cluster == "PassthroughCluster"
    blocked = build(outbound_traffic_policy="REGISTRY_ONLY")
    assert vhost(blocked, "block_all").routes[0].direct_response.status == 502
    # istiod gives every sidecar both clusters whatever the policy; only the catch-all differs
    assert "PassthroughCluster" in blocked.clusters and "BlackHoleCluster" in blocked.clusters
    assert blocked.clusters["PassthroughCluster"] == allow.clusters["PassthroughCluster"]


def test_inbound_port_forwards_to_the_local_app() -> None:
    resources = build()
    listener = resources.listeners["inbound_127.42.0.7_9080"]
    assert isinstance(listener, listener_pb2.Listener)
    assert listener.address.socket_address.port_value == 9080
    # PERMISSIVE (Istio's default): an mTLS chain and a plaintext chain, same HTTP manager.
    assert [c.name for c in listener.filter_chains] == ["mtls", "plaintext"]
    chain = listener.filter_chains[1]
    assert chain.filter_chain_match.transport_protocol == "raw_buffer"
    manager = hcm_pb2.HttpConnectionManager()
    assert chain.filters[0].typed_config.Unpack(manager)
    assert manager.rds.route_config_name == "inbound|9080||"
    cluster = resources.clusters["inbound|9080||"]
    assert isinstance(cluster, cluster_pb2.Cluster)
    assert cluster.type == cluster_pb2.Cluster.STATIC
    address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address
    assert (address.socket_address.address, address.socket_address.port_value) == (
        "127.0.0.1",
        19080,
    )


def test_tcp_container_port_gets_tcp_proxy() -> None:
    push = bookinfo_push(HTTPBIN)
    proxy = sidecar_for(push, "httpbin-v1-0", (8000, 18000), (7070, 17070))
    resources = generate(proxy, push)
    assert check_invariants(resources) == []
    listener = resources.listeners["inbound_127.42.1.2_7070"]
    assert isinstance(listener, listener_pb2.Listener)
    proxy_config = tcp_proxy_pb2.TcpProxy()
    assert listener.filter_chains[0].filters[0].typed_config.Unpack(proxy_config)
    assert proxy_config.cluster == "inbound|7070||"
    assert "inbound|7070||" not in resources.routes
    assert "inbound|8000||" in resources.routes


def test_subset_clusters_and_endpoints() -> None:
    resources = build(DR_REVIEWS)
    for version, address in (("v1", "127.42.0.4"), ("v2", "127.42.0.5"), ("v3", "127.42.0.6")):
        name = f"outbound|9080|{version}|reviews.default.svc.cluster.local"
        cluster = resources.clusters[name]
        assert isinstance(cluster, cluster_pb2.Cluster)
        assert cluster.type == cluster_pb2.Cluster.EDS
        assert cluster.lb_policy == cluster_pb2.Cluster.LEAST_REQUEST  # Istio default
        endpoints = resources.endpoints[name]
        addresses = [
            e.endpoint.address.socket_address.address
            for group in endpoints.endpoints
            for e in group.lb_endpoints
        ]
        assert addresses == [address]


JASON = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v3}}]
"""


def test_jason_goes_to_v2_everyone_else_to_v3() -> None:
    routes = vhost(build(DR_REVIEWS + "---" + JASON), REVIEWS).routes
    assert len(routes) == 2
    header = routes[0].match.headers[0]
    assert (header.name, header.string_match.exact) == ("end-user", "jason")
    assert routes[0].route.cluster.startswith("outbound|9080|v2|")
    assert routes[1].match.prefix == "/" and not routes[1].match.headers
    assert routes[1].route.cluster.startswith("outbound|9080|v3|")


def test_weights_become_weighted_clusters() -> None:
    split = JASON.replace(
        "- match: [{headers: {end-user: {exact: jason}}}]\n"
        "    route: [{destination: {host: reviews, subset: v2}}]\n",
        "",
    ).replace(
        "route: [{destination: {host: reviews, subset: v3}}]",
        "route: [{destination: {host: reviews, subset: v1}, weight: 80},"
        " {destination: {host: reviews, subset: v2}, weight: 20}]",
    )
    (route,) = vhost(build(DR_REVIEWS + "---" + split), REVIEWS).routes
    weights = [
        (c.name.split("|")[2], c.weight.value) for c in route.route.weighted_clusters.clusters
    ]
    assert weights == [("v1", 80), ("v2", 20)]


def test_missing_subset_is_reported_not_routed() -> None:
    resources = build(JASON)  # no DestinationRule: subsets v2/v3 do not exist
    routes = vhost(resources, REVIEWS).routes
    assert [r.direct_response.status for r in routes] == [503, 503]
    assert len([d for d in resources.diagnostics if "subset 'v2'" in d.message]) == 1
    assert all(d.kind == "VirtualService" for d in resources.diagnostics)


def test_first_virtual_service_for_a_host_wins() -> None:
    second = JASON.replace("name: reviews", "name: zz-reviews").replace("jason", "other")
    resources = build(DR_REVIEWS + "---" + second + "---" + JASON)
    header = vhost(resources, REVIEWS).routes[0].match.headers[0]
    assert header.string_match.exact == "jason"


def test_gateway_only_virtual_service_does_not_touch_sidecars() -> None:
    bound = JASON + "  gateways: [bookinfo-gateway]\n"
    route = vhost(build(DR_REVIEWS + "---" + bound), REVIEWS).routes[0]
    assert route.name == "default"


def test_root_namespace_sidecar_dot_means_the_workloads_namespace() -> None:
    """Istio's mesh-wide default `hosts: ["./*", "istio-system/*"]` in the root namespace lets
    every sidecar reach its own namespace's services: `.` is the workload's namespace there."""
    mesh_default = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: istio-system}
spec:
  egress: [{hosts: ["./*", "istio-system/*"]}]
"""
    clusters = build(HTTPBIN + "---" + mesh_default).clusters
    assert "outbound|9080||reviews.default.svc.cluster.local" in clusters
    assert not [name for name in clusters if name.endswith("httpbin.tools.svc.cluster.local")]
    push = bookinfo_push(HTTPBIN + "---" + mesh_default)
    tools_proxy = generate(sidecar_for(push, "httpbin-v1-0", (8000, 18000)), push)
    assert "outbound|80||httpbin.tools.svc.cluster.local" in tools_proxy.clusters
    assert "outbound|9080||reviews.default.svc.cluster.local" not in tools_proxy.clusters
