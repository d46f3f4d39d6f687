"""EnvoyFilter patches in translation (`translate.envoy_filters`): which EnvoyFilters apply to a
proxy and in what order, and what each operation does, checked on the generated resources.
Envoy itself validates the patched configuration of the `envoy-filters` golden case
(`test_envoy_validate`) and serves it in `tests/e2e/test_envoy_filter_tasks.py`."""

from __future__ import annotations

from dataclasses import replace

from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import generate, names, on_demand
from pilotfish.translate.envoy_filters import merge, patches_for
from pilotfish.translate.generate import generate_parts
from pilotfish.translate.invariants import check_invariants
from pilotfish.type_urls import CLUSTER, LISTENER, ROUTE

HCM = "envoy.filters.network.http_connection_manager"
FILTER = """apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: %(name)s, namespace: %(namespace)s%(created)s}
spec:
  %(extra)s
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: %(context)s
      listener: {filterChain: {filter: {name: %(hcm)s%(sub)s}}}
    patch:
      operation: %(operation)s
      value: {name: %(filter)s, typed_config: {"@type": %(type)s}}
"""
HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
CORS = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"


def envoy_filter(name: str, filter_name: str, **fields: str) -> str:
    values = {
        "name": name,
        "namespace": "default",
        "created": "",
        "extra": "",
        "context": "SIDECAR_INBOUND",
        "hcm": HCM,
        "sub": "",
        "operation": "INSERT_FIRST",
        "filter": filter_name,
        "type": CORS,
    }
    values.update(fields)
    return FILTER % values


def productpage(push: PushContext) -> Proxy:
    return sidecar_for(push, "productpage-v1-0", (9080, 19080))


def http_filters(listener: object) -> list[str]:
    assert isinstance(listener, listener_pb2.Listener)
    manager = hcm_pb2.HttpConnectionManager()
    assert listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    return [f.name for f in manager.http_filters]


def inbound(push: PushContext) -> list[str]:
    resources = generate(productpage(push), push)
    assert check_invariants(resources) == []
    (name,) = [n for n in resources[LISTENER] if n.startswith("inbound_")]
    return http_filters(resources[LISTENER][name])


def test_order_is_priority_then_root_namespace_then_creation_then_name() -> None:
    docs = [
        envoy_filter("b-late", "late", created=", creationTimestamp: '2026-01-02T00:00:00Z'"),
        envoy_filter("a-early", "early", created=", creationTimestamp: '2026-01-01T00:00:00Z'"),
        envoy_filter("root", "root", namespace="istio-system"),
        envoy_filter("first", "first", extra="priority: -1"),
    ]
    push = bookinfo_push("---\n".join(docs))
    order = [p.source for p in patches_for(productpage(push), push)["HTTP_FILTER"]]
    assert order == ["default/first", "istio-system/root", "default/a-early", "default/b-late"]
    # each INSERT_FIRST goes before the ones applied earlier
    assert inbound(push)[:4] == ["late", "early", "root", "first"]


def test_selection_by_namespace_selector_and_target_refs() -> None:
    docs = [
        envoy_filter("other-ns", "x-other", namespace="other"),
        envoy_filter(
            "reviews-only", "x-reviews", extra="workloadSelector: {labels: {app: reviews}}"
        ),
        envoy_filter("mine", "x-mine", extra="workloadSelector: {labels: {app: productpage}}"),
        envoy_filter("refs", "x-refs", extra="targetRefs: [{kind: Service, name: productpage}]"),
    ]
    push = bookinfo_push("---\n".join(docs))
    assert [f for f in inbound(push) if f.startswith("x-")] == ["x-mine"]


def test_insert_before_after_replace_and_remove_by_sub_filter_name() -> None:
    router = ", subFilter: {name: envoy.filters.http.router}"
    docs = [
        envoy_filter("before", "before-router", operation="INSERT_BEFORE", sub=router),
        envoy_filter("after", "after-router", operation="INSERT_AFTER", sub=router),
        envoy_filter(
            "replace",
            "replaced",
            operation="REPLACE",
            sub=", subFilter: {name: envoy.filters.http.grpc_stats}",
        ),
        envoy_filter("remove", "x", operation="REMOVE", sub=", subFilter: {name: after-router}"),
        envoy_filter("last", "appended", operation="INSERT_AFTER"),
    ]
    push = bookinfo_push("---\n".join(docs))
    names = inbound(push)
    assert names[-3:] == ["before-router", "envoy.filters.http.router", "appended"]
    assert "replaced" in names and "envoy.filters.http.grpc_stats" not in names
    assert "after-router" not in names


def test_contexts_keep_inbound_and_outbound_apart() -> None:
    push = bookinfo_push(envoy_filter("out", "x-out", context="SIDECAR_OUTBOUND"))
    resources = generate(productpage(push), push)
    by_name = {n: http_filters(m) for n, m in resources[LISTENER].items()}
    assert "x-out" in by_name["outbound_http_proxy"]
    assert all("x-out" not in f for n, f in by_name.items() if n.startswith("inbound_"))


ROUTES = """apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: routes, namespace: default}
spec:
  configPatches:
  - applyTo: HTTP_ROUTE
    match:
      context: SIDECAR_INBOUND
      routeConfiguration: {portNumber: 9080, vhost: {route: {name: default}}}
    patch:
      operation: INSERT_BEFORE
      value: {name: health, match: {path: /healthz}, direct_response: {status: 204}}
  - applyTo: HTTP_ROUTE
    match:
      context: SIDECAR_INBOUND
      routeConfiguration: {vhost: {route: {action: DIRECT_RESPONSE}}}
    patch: {operation: MERGE, value: {direct_response: {status: 200}}}
  - applyTo: VIRTUAL_HOST
    match: {context: SIDECAR_INBOUND, routeConfiguration: {portNumber: 9999}}
    patch: {operation: REMOVE}
  - applyTo: ROUTE_CONFIGURATION
    match: {context: SIDECAR_INBOUND}
    patch:
      operation: MERGE
      value: {response_headers_to_add: [{header: {key: x-patched, value: "1"}}]}
  - applyTo: CLUSTER
    match: {context: SIDECAR_INBOUND, cluster: {portNumber: 9080}}
    patch: {operation: MERGE, value: {connect_timeout: 7s}}
"""


def test_route_and_cluster_patches() -> None:
    push = bookinfo_push(ROUTES)
    resources = generate(productpage(push), push)
    config = resources[ROUTE]["inbound|9080||"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    (vhost,) = config.virtual_hosts  # the REMOVE names another port
    assert [r.name for r in vhost.routes] == ["health", "default"]
    # Istio merges the routes there were, then inserts: the new route keeps its 204
    assert vhost.routes[0].direct_response.status == 204
    assert config.response_headers_to_add[-1].header.key == "x-patched"  # appended
    assert resources[CLUSTER]["inbound|9080||"].connect_timeout.seconds == 7
    # the messages of a push context are never changed: translation from scratch is the same
    again = generate(productpage(push), push)
    assert again[ROUTE]["inbound|9080||"] == config


def test_merge_replaces_a_duration_whole_and_appends_lists() -> None:
    target = route_pb2.RouteConfiguration()
    target.max_direct_response_body_size_bytes.value = 5
    target.response_headers_to_remove.append("a")
    change = route_pb2.RouteConfiguration(response_headers_to_remove=["b"])
    change.max_direct_response_body_size_bytes.value = 9
    merge(target, change)
    assert list(target.response_headers_to_remove) == ["a", "b"]
    assert target.max_direct_response_body_size_bytes.value == 9
    from envoy.config.cluster.v3 import cluster_pb2

    cluster = cluster_pb2.Cluster()
    cluster.connect_timeout.FromMilliseconds(1500)
    patch = cluster_pb2.Cluster()
    patch.connect_timeout.FromSeconds(3)
    merge(cluster, patch)
    assert cluster.connect_timeout.ToMilliseconds() == 3000  # not 3.5 s: replaced whole


GATEWAY = f"""apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {{name: gw, namespace: istio-system}}
spec:
  workloadSelector: {{labels: {{istio: ingressgateway}}}}
  configPatches:
  - applyTo: NETWORK_FILTER
    match: {{context: GATEWAY, listener: {{filterChain: {{filter: {{name: {HCM}}}}}}}}}
    patch:
      operation: MERGE
      value:
        typed_config:
          "@type": type.googleapis.com/udpa.type.v1.TypedStruct
          type_url: type.googleapis.com/{HCM_TYPE}
          value: {{server_name: my-gateway}}
  - applyTo: HTTP_FILTER
    match: {{context: SIDECAR_INBOUND}}
    patch: {{operation: INSERT_FIRST, value: {{name: not-on-gateways}}}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: bookinfo-gateway}}
spec:
  selector: {{istio: ingressgateway}}
  servers: [{{port: {{number: 8080, name: http, protocol: HTTP}}, hosts: ["*"]}}]
"""


def test_gateway_context_and_a_typed_struct_merge() -> None:
    push = bookinfo_push(GATEWAY)
    gateway = sidecar_for(push, "istio-ingressgateway-0")
    resources = generate(gateway, push)
    assert check_invariants(resources) == []
    managers = []
    for listener in resources[LISTENER].values():
        assert isinstance(listener, listener_pb2.Listener)
        for chain in listener.filter_chains:
            manager = hcm_pb2.HttpConnectionManager()
            if chain.filters and chain.filters[0].typed_config.Unpack(manager):
                managers.append(manager)
    assert managers and all(m.server_name == "my-gateway" for m in managers)
    assert all("not-on-gateways" not in [f.name for f in m.http_filters] for m in managers)


OUTBOUND = """apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: outbound, namespace: default}
spec:
  workloadSelector: {labels: {app: productpage}}
  configPatches:
  - applyTo: VIRTUAL_HOST
    match: {context: SIDECAR_OUTBOUND, routeConfiguration: {portNumber: 9080}}
    patch:
      operation: MERGE
      value: {response_headers_to_add: [{header: {key: x-port-9080, value: "1"}}]}
  - applyTo: HTTP_ROUTE
    match:
      context: SIDECAR_OUTBOUND
      routeConfiguration: {vhost: {name: "reviews.default.svc.cluster.local:9080"}}
    patch: {operation: MERGE, value: {route: {timeout: 7s}}}
  - applyTo: CLUSTER
    match: {context: SIDECAR_OUTBOUND, cluster: {service: ratings.default.svc.cluster.local}}
    patch: {operation: MERGE, value: {per_connection_buffer_limit_bytes: 4096}}
"""


def test_outbound_routes_and_clusters_of_the_sidecars_it_selects() -> None:
    push = bookinfo_push(OUTBOUND, on_demand_clusters=True, on_demand_routes=True)
    mine = replace(productpage(push), delta_xds=True)
    other = replace(sidecar_for(push, "reviews-v1-0", (9080, 19080)), delta_xds=True)
    assert not on_demand.applies(mine, push)  # it gets all it needs as its own part
    assert on_demand.applies(other, push)
    shared, own = generate_parts(mine, push)
    assert shared == ()
    assert check_invariants(own) == []
    config = own[ROUTE][names.HTTP_PROXY_ROUTE_CONFIG]
    assert isinstance(config, route_pb2.RouteConfiguration)
    by_name = {vhost.name: vhost for vhost in config.virtual_hosts}
    reviews = by_name["reviews.default.svc.cluster.local:9080"]
    assert [h.header.key for h in reviews.response_headers_to_add][-1:] == ["x-port-9080"]
    assert all(r.route.timeout.seconds == 7 for r in reviews.routes)
    assert all(
        "x-port-9080" not in [h.header.key for h in v.response_headers_to_add]
        for name, v in by_name.items()
        if not name.endswith(":9080")
    )
    ratings = own[CLUSTER]["outbound|9080||ratings.default.svc.cluster.local"]
    assert ratings.per_connection_buffer_limit_bytes.value == 4096
    details = own[CLUSTER]["outbound|9080||details.default.svc.cluster.local"]
    assert not details.HasField("per_connection_buffer_limit_bytes")
    # the other sidecars share what they shared, unpatched
    other_shared, _ = generate_parts(other, push)
    assert other_shared
    shared_ratings = other_shared[0][CLUSTER]["outbound|9080||ratings.default.svc.cluster.local"]
    assert not shared_ratings.HasField("per_connection_buffer_limit_bytes")
