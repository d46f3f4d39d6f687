"""gRPC-Web as Istio serves it: the `envoy.filters.http.grpc_web` filter in the HTTP connection
manager of a listener whose port's protocol is GRPC-WEB (Istio's `buildHTTPConnectionManager`:
after the authorization filters, before fault and CORS; the router last), inbound, at a
gateway and in a captured pod's outbound port listener; not for gRPC or HTTP ports. And a
ServiceEntry port's protocol is its `protocol` field alone (Istio's `convertPort`:
`protocol.Parse(port.Protocol)`): unset, it is detected per connection, whatever the port's
name says."""

from __future__ import annotations

import dataclasses

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.config import load
from pilotfish.registry.service_entries import service_entry_services
from pilotfish.registry.types import Protocol
from pilotfish.telemetry.metrics import GRPC_STATS_FILTER as GRPC_STATS
from pilotfish.translate import ProxyResources, check_invariants, generate
from pilotfish.translate.envoy_pb import HCM_FILTER, ROUTER_FILTER
from pilotfish.translate.listeners import GRPC_WEB_FILTER
from pilotfish.translate.route_filters import CORS_FILTER, FAULT_FILTER

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: productpage}
  ports: [{name: grpc-web, port: 7070}, {name: grpc, port: 7071}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-post, namespace: default}
spec:
  selector: {matchLabels: {app: productpage}}
  action: DENY
  rules: [{to: [{operation: {methods: [POST]}}]}]
"""
GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: grpc-web, protocol: GRPC-WEB}
    hosts: ["*"]
  - port: {number: 8081, name: grpc, protocol: GRPC}
    hosts: ["*"]
"""


def _resources(config: str, instance: str, *ports: tuple[int, int]) -> ProxyResources:
    push = bookinfo_push(config)
    resources = generate(sidecar_for(push, instance, *ports), push)
    assert check_invariants(resources) == []
    return resources


def _http_filters(listener: listener_pb2.Listener) -> list[str]:
    (chain, *_) = [c for c in listener.filter_chains if c.filters[-1].name == HCM_FILTER]
    manager = hcm_pb2.HttpConnectionManager()
    chain.filters[-1].typed_config.Unpack(manager)
    return [f.name for f in manager.http_filters]


def _listener_on(resources: ProxyResources, port: int) -> listener_pb2.Listener:
    (found,) = [
        listener
        for listener in resources.listeners.values()
        if isinstance(listener, listener_pb2.Listener)
        and listener.address.socket_address.port_value == port
    ]
    return found


def test_an_inbound_grpc_web_port_gets_the_filter_after_authorization() -> None:
    ports = ((7070, 17070), (7071, 17071), (9080, 19080))
    resources = _resources(SERVICES, "productpage-v1-0", *ports)
    web = _http_filters(_listener_on(resources, 7070))
    assert GRPC_WEB_FILTER in web and web[-1] == ROUTER_FILTER
    authz = [i for i, name in enumerate(web) if name.startswith("pilotfish.authz.")]
    assert authz and max(authz) < web.index(GRPC_WEB_FILTER), web  # the DENY policy's RBAC
    assert GRPC_WEB_FILTER not in _http_filters(_listener_on(resources, 7071))  # gRPC
    assert GRPC_WEB_FILTER not in _http_filters(_listener_on(resources, 9080))  # HTTP


def test_a_gateway_server_of_protocol_grpc_web_gets_the_filter_before_fault_and_cors() -> None:
    resources = _resources(GATEWAY, "istio-ingressgateway-0")
    web = _http_filters(_listener_on(resources, 8080))
    # Istio's buildHTTPConnectionManager: grpc_web, then grpc_stats, fault, CORS, the router
    assert web[-5:] == [GRPC_WEB_FILTER, GRPC_STATS, FAULT_FILTER, CORS_FILTER, ROUTER_FILTER], web
    assert GRPC_WEB_FILTER not in _http_filters(_listener_on(resources, 8081))


def test_a_captured_pods_outbound_grpc_web_port_gets_the_filter() -> None:
    push = bookinfo_push(SERVICES)
    sidecar = dataclasses.replace(sidecar_for(push, "reviews-v1-0"), interception="REDIRECT")
    resources = generate(sidecar, push)
    assert check_invariants(resources) == []
    outbound = [
        listener
        for listener in resources.listeners.values()
        if isinstance(listener, listener_pb2.Listener)
        and listener.traffic_direction == base_pb2.OUTBOUND
        and listener.address.socket_address.port_value in (7070, 7071)
    ]
    by_port = {
        listener.address.socket_address.port_value: _http_filters(listener) for listener in outbound
    }
    assert GRPC_WEB_FILTER in by_port[7070] and GRPC_WEB_FILTER not in by_port[7071], by_port


def test_a_service_entry_ports_protocol_is_its_protocol_field_alone() -> None:
    entry = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external, namespace: default}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {number: 80, name: http-web}
  - {number: 81, name: web, protocol: GRPC-WEB}
  - {number: 82, name: tcp-ish, protocol: http}
  - {number: 83, name: http-mongo, protocol: MONGO}
"""
    result = load(entry, "se.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    (service,) = service_entry_services(result.objects)
    assert [p.protocol for p in service.ports] == [
        Protocol.UNKNOWN,  # named http-…, but no protocol: detected, as Istio
        Protocol.GRPC_WEB,
        Protocol.HTTP,
        Protocol.TCP,
    ]
