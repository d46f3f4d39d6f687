"""Gateway API routes through translation: what istiod's conversion makes of them
(`config.gateway_api`) is translated as Istio translates it, with the Gateway API's semantics
(`internal.istio.io/route-semantics: gateway`): a path prefix matches whole segments
(`path_separated_prefix`), a `ReplacePrefixMatch` redirect replaces the matched prefix; and a
Service parent (GAMMA) routes that service on every sidecar."""

from __future__ import annotations

from dataclasses import replace

from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.config.gateway_api.convert import with_gateway_api
from pilotfish.config.load import load
from pilotfish.model.push_context import PushContext
from pilotfish.translate import check_invariants, generate

ROUTES = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: istio-ingressgateway.istio-system.svc.cluster.local}]
  listeners:
  - {name: http, port: 8080, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bookinfo}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches:
    - path: {type: Exact, value: /productpage}
    - path: {type: PathPrefix, value: /static/}
    backendRefs: [{name: productpage, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
  - matches: [{headers: [{name: end-user, value: jason}]}]
    backendRefs: [{name: ratings, port: 9080}]
  - backendRefs: [{name: details, port: 9080}]
"""


def push_with_routes() -> PushContext:
    push = bookinfo_push()
    docs = [d.data for d in load(ROUTES, "routes.yaml").others]
    return replace(push, configs=tuple(with_gateway_api(list(push.configs), docs)))


def test_gateway_routes_match_whole_segments_and_redirect_prefixes() -> None:
    push = push_with_routes()
    resources = generate(sidecar_for(push, "istio-ingressgateway-0"), push)
    assert check_invariants(resources) == []
    host = resources.routes["http.8080"].virtual_hosts[0]
    assert list(host.domains) == ["*"]
    matches = [
        (r.match.WhichOneof("path_specifier"), r.match.path or r.match.path_separated_prefix)
        for r in host.routes
    ]
    assert matches == [
        ("path", "/productpage"),
        ("path_separated_prefix", "/static"),
        ("path_separated_prefix", "/old"),
    ]
    assert host.routes[0].route.cluster == "outbound|9080||productpage.default.svc.cluster.local"
    assert host.routes[2].redirect.prefix_rewrite == "/new"
    assert host.routes[2].redirect.response_code == 1  # FOUND: 302, the filter's default


def test_service_parent_routes_the_service_on_sidecars() -> None:
    push = push_with_routes()
    resources = generate(sidecar_for(push, "productpage-v1-0"), push)
    assert check_invariants(resources) == []
    hosts = [
        v
        for config in resources.routes.values()
        for v in config.virtual_hosts
        if "reviews.default.svc.cluster.local" in v.domains
    ]
    assert hosts, sorted(resources.routes)
    routes = hosts[0].routes
    jason = [h for h in routes[0].match.headers if h.name == "end-user"]
    assert jason and jason[0].string_match.exact == "jason"
    assert routes[0].route.cluster == "outbound|9080||ratings.default.svc.cluster.local"
    assert routes[1].route.cluster == "outbound|9080||details.default.svc.cluster.local"


L4 = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: l4}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: istio-ingressgateway}]
  listeners:
  - {name: tcp, port: 31400, protocol: TCP}
  - {name: tls, port: 8443, protocol: TLS, tls: {mode: Passthrough}}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: tcp}
spec:
  parentRefs: [{name: l4, sectionName: tcp}]
  rules:
  - backendRefs: [{name: ratings, port: 9080, weight: 3}, {name: details, port: 9080, weight: 1}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: tls}
spec:
  parentRefs: [{name: l4}]
  hostnames: [secure.example.com]
  rules:
  - backendRefs: [{name: reviews, port: 9080}]
"""


def test_tcp_and_tls_passthrough_listeners_on_the_gateway() -> None:
    push = bookinfo_push()
    docs = [d.data for d in load(L4, "l4.yaml").others]
    push = replace(push, configs=tuple(with_gateway_api(list(push.configs), docs)))
    resources = generate(sidecar_for(push, "istio-ingressgateway-0"), push)
    assert check_invariants(resources) == []
    tcp = resources.listeners["0.0.0.0_31400"].filter_chains[0].filters[0]
    assert tcp.name == "envoy.filters.network.tcp_proxy"
    text = str(tcp.typed_config.value)
    assert "ratings.default.svc.cluster.local" in text and "details.default" in text
    tls = resources.listeners["0.0.0.0_8443"].filter_chains[0]
    assert list(tls.filter_chain_match.server_names) == ["secure.example.com"]
    assert "reviews.default.svc.cluster.local" in str(tls.filters[-1].typed_config.value)
