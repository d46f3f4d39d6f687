"""Istio's `istio` filter metadata on routes and clusters (`translate/istio_metadata.py`), one
test per shape Istio writes: `istioctl proxy-config` reads its VIRTUAL SERVICE and DESTINATION
RULE columns from it (Istio's `pilot/pkg/networking/util` `AddConfigInfoMetadata`,
`core/route/route.go`, `core/cluster_builder.go`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from google.protobuf import json_format
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.config.gateway_api.convert import with_gateway_api
from pilotfish.config.load import load
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Service
from pilotfish.translate import ProxyResources, check_invariants, generate
from pilotfish.translate.istio_metadata import add_inbound_metadata, config_of

API = "/apis/networking.istio.io/v1/namespaces"
REVIEWS = "reviews.default.svc.cluster.local"

RULES = """
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - name: v2
    labels: {version: v2}
    trafficPolicy: {tls: {mode: SIMPLE}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root}
spec:
  hosts: [ratings]
  http:
  - match: [{uri: {prefix: /ratings}}]
    delegate: {name: ratings-delegate}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings-delegate}
spec:
  http:
  - route: [{destination: {host: ratings}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
---"""


def _build(push: PushContext, instance: str = "productpage-v1-0") -> ProxyResources:
    resources = generate(sidecar_for(push, instance), push)
    assert check_invariants(resources) == []
    return resources


def _routes(resources: ProxyResources, domain: str) -> list[rc_pb2.Route]:
    return [
        route
        for config in resources.routes.values()
        for vhost in config.virtual_hosts
        if domain in vhost.domains
        for route in vhost.routes
    ]


def _istio(resources: ProxyResources, name: str) -> dict[str, Any]:
    cluster = resources.clusters[name]
    assert isinstance(cluster, cluster_pb2.Cluster)
    found = json_format.MessageToDict(cluster.metadata.filter_metadata["istio"])
    assert isinstance(found, dict)
    return found


def test_routes_of_a_virtual_service_name_it_at_v1_whatever_version_it_was_written_in() -> None:
    routes = _routes(_build(bookinfo_push(RULES)), REVIEWS)
    assert len(routes) == 2
    assert {config_of(r.metadata) for r in routes} == {f"{API}/default/virtual-service/reviews"}


def test_default_routes_carry_no_istio_metadata() -> None:
    routes = _routes(_build(bookinfo_push(RULES)), "details.default.svc.cluster.local")
    assert [r.name for r in routes] == ["default"]
    assert "istio" not in routes[0].metadata.filter_metadata


def test_delegated_routes_name_the_root_virtual_service() -> None:
    routes = _routes(_build(bookinfo_push(RULES)), "ratings.default.svc.cluster.local")
    assert routes and routes[0].route.cluster.endswith("ratings.default.svc.cluster.local")
    assert {config_of(r.metadata) for r in routes} == {f"{API}/default/virtual-service/root"}


def test_gateway_routes_name_their_virtual_service() -> None:
    gateway = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http: [{route: [{destination: {host: productpage, port: {number: 9080}}}]}]
"""
    resources = _build(bookinfo_push(gateway), "istio-ingressgateway-0")
    routes = _routes(resources, "*")
    assert routes
    assert {config_of(r.metadata) for r in routes} == {f"{API}/default/virtual-service/bookinfo"}


def test_gateway_api_routes_name_the_virtual_service_istiod_makes_of_them() -> None:
    routes_yaml = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules: [{backendRefs: [{name: reviews, port: 9080}]}]
"""
    push = bookinfo_push()
    docs = [d.data for d in load(routes_yaml, "routes.yaml").others]
    push = replace(push, configs=tuple(with_gateway_api(list(push.configs), docs)))
    made = [c for c in push.configs if c.meta.kind == "VirtualService"]
    assert len(made) == 1
    routes = _routes(_build(push), REVIEWS)
    assert routes
    assert {config_of(r.metadata) for r in routes} == {
        f"{API}/default/virtual-service/{made[0].meta.name}"
    }


def test_clusters_carry_their_service_and_destination_rule() -> None:
    resources = _build(bookinfo_push(RULES))
    services = [{"host": REVIEWS, "name": "reviews", "namespace": "default"}]
    rule = f"{API}/default/destination-rule/reviews"
    assert _istio(resources, f"outbound|9080||{REVIEWS}") == {"config": rule, "services": services}
    assert _istio(resources, f"outbound|9080|v1|{REVIEWS}") == {
        "config": rule,
        "services": services,
        "subset": "v1",
    }
    assert _istio(resources, f"outbound|9080|v2|{REVIEWS}") == {
        "config": rule,
        "services": services,
        "subset": "v2",
        "alpn_override": "false",  # SIMPLE (or MUTUAL) TLS: Istio's AddALPNOverrideToMetadata
    }
    ratings = "ratings.default.svc.cluster.local"
    assert _istio(resources, f"outbound|9080||{ratings}") == {
        "services": [{"host": ratings, "name": "ratings", "namespace": "default"}]
    }


def test_mesh_external_clusters_say_so() -> None:
    resources = _build(bookinfo_push(RULES))
    assert _istio(resources, "outbound|443||api.example.com") == {
        "services": [
            {"host": "api.example.com", "name": "api.example.com", "namespace": "default"}
        ],
        "external": True,
    }


def test_a_namespace_own_rule_is_the_one_its_proxies_clusters_name() -> None:
    own = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-from-gateways, namespace: istio-system}
spec:
  host: reviews.default.svc.cluster.local
  exportTo: [.]  # a root namespace's proxies look at its private rules first (Istio)
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
---"""
    push = bookinfo_push(RULES + own)
    name = f"outbound|9080||{REVIEWS}"
    assert _istio(_build(push), name)["config"] == f"{API}/default/destination-rule/reviews"
    gateway = _build(push, "istio-ingressgateway-0")
    assert _istio(gateway, name)["config"] == (
        f"{API}/istio-system/destination-rule/reviews-from-gateways"
    )


def test_inbound_clusters_carry_the_services_targeting_their_port() -> None:
    push = bookinfo_push(RULES)
    proxy = sidecar_for(push, "productpage-v1-0", (9080, 19080))
    resources = generate(proxy, push)
    assert check_invariants(resources) == []
    productpage = {"host": "productpage.default.svc.cluster.local", "name": "productpage"}
    assert _istio(resources, "inbound|9080||") == {
        "services": [productpage | {"namespace": "default"}]
    }  # no `config`: the inbound side applies no DestinationRule policy here


def test_a_sidecar_ingress_port_gets_no_services_and_its_chains_name_the_sidecar() -> None:
    sidecar = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ingress}
spec:
  workloadSelector: {labels: {app: productpage}}
  ingress: [{port: {number: 9080, protocol: HTTP, name: http}, defaultEndpoint: "127.0.0.1:19080"}]
"""
    push = bookinfo_push(sidecar)
    resources = generate(sidecar_for(push, "productpage-v1-0", (9080, 19080)), push)
    cluster = resources.clusters["inbound|9080||"]
    assert isinstance(cluster, cluster_pb2.Cluster)
    assert "istio" not in cluster.metadata.filter_metadata
    # as Istio's listener_inbound.go: the port's chains name the Sidecar its ingress made
    inbound = [
        listener
        for listener in resources.listeners.values()
        if isinstance(listener, listener_pb2.Listener)
        and listener.address.socket_address.port_value == 9080
        and listener.traffic_direction == base_pb2.INBOUND
    ]
    assert len(inbound) == 1 and inbound[0].filter_chains
    assert {config_of(chain.metadata) for chain in inbound[0].filter_chains} == {
        f"{API}/default/sidecar/ingress"
    }
    without = bookinfo_push()
    plain = generate(sidecar_for(without, "productpage-v1-0", (9080, 19080)), without)
    assert all(
        not config_of(chain.metadata)
        for listener in plain.listeners.values()
        if isinstance(listener, listener_pb2.Listener)
        for chain in listener.filter_chains
    )


def test_inbound_services_follow_the_first_target_s_service_port_once_each() -> None:
    """Istio's addTelemetryMetadata: the first service target decides the service port; every
    service of that port is listed once; a MESH_EXTERNAL first lists none."""

    def service(name: str, external: bool = False) -> Service:
        return Service(name=name, namespace="default", ports=(), mesh_external=external)

    a, b, c = service("a"), service("b"), service("c")
    metadata = base_pb2.Metadata()
    add_inbound_metadata(metadata, [(a, 80), (b, 8080), (c, 80), (a, 80)])
    listed = json_format.MessageToDict(metadata.filter_metadata["istio"])["services"]
    assert [s["name"] for s in listed] == ["a", "c"]
    external = base_pb2.Metadata()
    add_inbound_metadata(external, [(service("x", external=True), 80), (a, 80)])
    assert "istio" not in external.filter_metadata
