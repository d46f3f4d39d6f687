"""Gateway (router) proxies: listeners per HTTP server port, virtual hosts from bound VSs."""

from __future__ import annotations

from dataclasses import replace

from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import TlsSecret
from pilotfish.translate import ProxyResources, check_invariants, generate

GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: 8081, name: http-shop, protocol: HTTP}
    hosts: [shop.example.com, "other/x.example.com"]
  - port: {number: 8443, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - match: [{uri: {exact: /productpage}}, {uri: {prefix: /static}}]
    route: [{destination: {host: productpage, port: {number: 9080}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: ["*.example.com"]
  gateways: [default/bookinfo-gateway]
  http:
  - route: [{destination: {host: reviews}}]
"""


def build(config: str = GATEWAY, instance: str = "istio-ingressgateway-0") -> ProxyResources:
    push = bookinfo_push(config)
    resources = generate(sidecar_for(push, instance), push)
    assert check_invariants(resources) == []
    return resources


def test_listener_per_http_server_port() -> None:
    resources = build()
    assert sorted(resources.listeners) == ["0.0.0.0_8080", "0.0.0.0_8081"]
    listener = resources.listeners["0.0.0.0_8080"]
    assert isinstance(listener, listener_pb2.Listener)
    assert listener.address.socket_address.address == "127.42.0.100"
    assert listener.address.socket_address.port_value == 8080
    assert not any(name.startswith("inbound") for name in resources.clusters)
    assert any("TCP" in d.message for d in resources.diagnostics)


def test_virtual_hosts_intersect_server_and_vs_hosts() -> None:
    resources = build()
    star = resources.routes["http.8080"]
    assert isinstance(star, route_pb2.RouteConfiguration)
    domains = {v.name: list(v.domains) for v in star.virtual_hosts}
    assert domains == {"*:8080": ["*"], "*.example.com:8080": ["*.example.com"]}
    (bookinfo,) = [v for v in star.virtual_hosts if v.name == "*:8080"]
    assert [r.match.path or r.match.prefix for r in bookinfo.routes] == ["/productpage", "/static"]
    assert (
        bookinfo.routes[0].route.cluster == "outbound|9080||productpage.default.svc.cluster.local"
    )
    shop = resources.routes["http.8081"]
    assert isinstance(shop, route_pb2.RouteConfiguration)
    # `other/x.example.com` is only for VirtualServices in namespace `other`.
    (merged,) = shop.virtual_hosts
    assert list(merged.domains) == ["shop.example.com"]
    clusters = [r.route.cluster.split("|")[3].split(".")[0] for r in merged.routes]
    assert clusters == ["productpage", "productpage", "reviews"]  # both VSs, ns/name order


def test_gateway_not_selected_by_labels_serves_nothing() -> None:
    resources = build(GATEWAY.replace("istio: ingressgateway", "istio: egressgateway"))
    assert dict(resources.listeners) == {}
    assert dict(resources.routes) == {}


def test_sidecars_ignore_gateway_bound_routes() -> None:
    resources = build(instance="productpage-v1-0")
    assert "0.0.0.0_8080" not in resources.listeners


def _https_push(credential: str, secret_namespace: str) -> PushContext:
    push = bookinfo_push(_https_gateway(credential))
    secret = TlsSecret("shop-cert", secret_namespace, certificate="CERT", private_key="KEY")
    return replace(push, registry=replace(push.registry, secrets=(secret,)))


def _https_gateway(credential: str) -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: shop, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 8443, name: https, protocol: HTTPS}}
    hosts: ["*"]
    tls: {{mode: SIMPLE, credentialName: {credential}}}
"""


def test_credential_name_reads_only_the_gateway_workloads_namespace() -> None:
    """CVE-2021-34824: a Gateway written in `default` may use the gateway's own (istio-system)
    Secrets, but not a Secret of its own namespace nor one named as `ns/name` elsewhere."""
    push = _https_push("shop-cert", "istio-system")
    resources = generate(sidecar_for(push, "istio-ingressgateway-0"), push)
    assert "kubernetes://shop-cert" in resources.secrets
    for credential, namespace in (("shop-cert", "default"), ("default/shop-cert", "default")):
        push = _https_push(credential, namespace)
        resources = generate(sidecar_for(push, "istio-ingressgateway-0"), push)
        assert not resources.secrets
        assert any("CVE-2021-34824" in d.message for d in resources.diagnostics)


# the Service an IstioOperator's `k8s.service.ports` installs for the ingress gateway
GATEWAY_SERVICE = """
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  type: LoadBalancer
  selector: {istio: ingressgateway}
  ports:
  - {name: http2, port: 80, targetPort: 8080}
  - {name: http-alt, port: 8000, targetPort: 8080}
  - {name: https, port: 443, targetPort: 8443}
  - {name: http-shop, port: 8081, targetPort: 9081}
"""


def _bound(listener: object) -> tuple[int, list[int]]:
    assert isinstance(listener, listener_pb2.Listener)
    extra = [a.address.socket_address.port_value for a in listener.additional_addresses]
    return listener.address.socket_address.port_value, extra


def test_service_ports_forward_to_their_target_port() -> None:
    """8080 is every http Service port's target: it also accepts on 80 and 8000 (the load
    balancer's ports, on the same address in local mode). Server port 8081 is a Service port
    whose target is 9081: it listens there, named for it as Istio names it, and on 8081."""
    resources = build(GATEWAY + GATEWAY_SERVICE)
    assert _bound(resources.listeners["0.0.0.0_8080"]) == (8080, [80, 8000])
    assert _bound(resources.listeners["0.0.0.0_9081"]) == (9081, [8081])


def test_servers_on_a_service_port_and_its_target_share_one_listener() -> None:
    """Server ports 80 and 8080 with Service 80 -> 8080 (Istio's ingress Service; Bookinfo's
    Gateway on 8080 and another on 80): as Istio resolves them, one listener on 8080 serves both
    servers' virtual hosts, and accepts on 80 and 8000 too. Two listeners, one with 80 as an
    extra address, would be refused by Envoy when the second Gateway comes."""
    config = GATEWAY.replace("number: 8081, name: http-shop", "number: 80, name: http-shop")
    resources = build(config + GATEWAY_SERVICE)
    assert _bound(resources.listeners["0.0.0.0_8080"]) == (8080, [80, 8000])
    assert "0.0.0.0_80" not in resources.listeners
    domains = {d for vh in resources.routes["http.8080"].virtual_hosts for d in vh.domains}
    assert {"*", "shop.example.com"} <= domains, domains
