"""A Sidecar's `ingress[].tls` (Istio's "Ingress Sidecar TLS Termination",
`translate/sidecar_ingress_tls.py`): the port's one chain terminates the client's TLS with the
proxy's files over the agent's SDS, under Istio's names, where the port's mTLS is DISABLE; a
port whose mTLS is not DISABLE stays a mesh port (Istio's `buildInboundListeners`); all only
when istiod's ENABLE_TLS_ON_SIDECAR_INGRESS is on (Istio's default: off)."""

from __future__ import annotations

import dataclasses

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.translate import ProxyResources, check_invariants, generate
from pilotfish.translate.envoy_pb import HCM_FILTER
from pilotfish.translate.mtls import TLS_INSPECTOR

SIDECAR = """
apiVersion: networking.istio.io/v1alpha3
kind: Sidecar
metadata: {name: ingress-sidecar}
spec:
  workloadSelector: {labels: {app: productpage}}
  ingress:
  - port: {number: 9080, protocol: HTTPS, name: external}
    defaultEndpoint: 0.0.0.0:19080
    tls:
      mode: MUTUAL
      privateKey: /etc/istio/tls-certs/tls.key
      serverCertificate: /etc/istio/tls-certs/tls.crt
      caCertificates: /etc/istio/tls-ca-certs/ca.crt
  - port: {number: 9081, protocol: HTTP, name: internal}
    defaultEndpoint: 0.0.0.0:19080
"""
STRICT = """
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec:
  mtls: {mode: STRICT}
"""
PORT_DISABLED = """
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: external}
spec:
  selector: {matchLabels: {app: productpage}}
  mtls: {mode: STRICT}
  portLevelMtls: {9080: {mode: DISABLE}}
"""


def _resources(config: str, enabled: bool = True) -> ProxyResources:
    push = bookinfo_push(config, tls_on_sidecar_ingress=enabled)
    resources = generate(sidecar_for(push, "productpage-v1-0", (9080, 19080)), push)
    assert check_invariants(resources) == []
    return resources


def _listener(resources: ProxyResources, port: int) -> listener_pb2.Listener:
    (listener,) = [
        found
        for found in resources.listeners.values()
        if isinstance(found, listener_pb2.Listener)
        and found.traffic_direction == base_pb2.INBOUND
        and found.address.socket_address.port_value == port
    ]
    return listener


def _inbound(config: str, port: int) -> tuple[listener_pb2.Listener, route_pb2.RouteConfiguration]:
    resources = _resources(config)
    listener = _listener(resources, port)
    routes = resources.routes[f"inbound|{port}||"]
    assert isinstance(routes, route_pb2.RouteConfiguration)
    return listener, routes


def test_the_port_terminates_the_clients_tls_with_the_proxys_files() -> None:
    listener, routes = _inbound(SIDECAR + STRICT + PORT_DISABLED, 9080)
    (chain,) = listener.filter_chains
    assert chain.filter_chain_match.transport_protocol == "tls"
    assert [f.name for f in listener.listener_filters] == [TLS_INSPECTOR]
    context = tls_pb2.DownstreamTlsContext()
    chain.transport_socket.typed_config.Unpack(context)
    common = context.common_tls_context
    assert [c.name for c in common.tls_certificate_sds_secret_configs] == [
        "file-cert:/etc/istio/tls-certs/tls.crt~/etc/istio/tls-certs/tls.key"
    ]
    validation = common.combined_validation_context
    assert validation.validation_context_sds_secret_config.name == (
        "file-root:/etc/istio/tls-ca-certs/ca.crt"
    )
    sds = validation.validation_context_sds_secret_config.sds_config.api_config_source
    assert sds.grpc_services[0].envoy_grpc.cluster_name == "sds-grpc"  # the pod's agent
    assert context.require_client_certificate.value is True
    assert list(common.alpn_protocols) == ["h2", "http/1.1"]
    # HTTPS is served as HTTP once terminated, its spans named after the Sidecar (Istio's)
    assert [f.name for f in chain.filters][-1] == HCM_FILTER
    manager = hcm_pb2.HttpConnectionManager()
    chain.filters[-1].typed_config.Unpack(manager)
    assert manager.rds.route_config_name == "inbound|9080||"
    operations = {r.decorator.operation for v in routes.virtual_hosts for r in v.routes}
    assert operations == {"ingress-sidecar.default:9080/*"}


def test_simple_asks_no_client_certificate() -> None:
    simple = SIDECAR.replace("mode: MUTUAL", "mode: SIMPLE")
    listener, _ = _inbound(simple + STRICT + PORT_DISABLED, 9080)
    (chain,) = listener.filter_chains
    context = tls_pb2.DownstreamTlsContext()
    chain.transport_socket.typed_config.Unpack(context)
    assert context.require_client_certificate.value is False
    assert not context.common_tls_context.HasField("combined_validation_context")


def test_where_the_ports_mtls_is_not_disabled_it_stays_a_mesh_port() -> None:
    """Istio applies the settings only where the port's mTLS is DISABLE: here STRICT, so the
    port keeps the mesh's mTLS chain (HTTP, as after termination)."""
    listener, _ = _inbound(SIDECAR + STRICT, 9080)
    (chain,) = listener.filter_chains
    context = tls_pb2.DownstreamTlsContext()
    chain.transport_socket.typed_config.Unpack(context)
    assert [c.name for c in context.common_tls_context.tls_certificate_sds_secret_configs] == [
        "default"
    ]
    assert [f.name for f in chain.filters][-1] == HCM_FILTER
    plain, _ = _inbound(SIDECAR + STRICT + PORT_DISABLED, 9081)  # the other port: mesh mTLS
    (mesh,) = plain.filter_chains
    assert mesh.filter_chain_match.transport_protocol == "tls"
    assert "file-cert" not in str(mesh.transport_socket)


def test_a_captured_pod_terminates_it_in_its_virtual_inbound_listener() -> None:
    """The isolated mode's pods (iptables capture): the port's chain sits in `virtualInbound`,
    matched on its destination port and the TLS transport, the TLS inspector in front."""
    push = bookinfo_push(SIDECAR + STRICT + PORT_DISABLED, tls_on_sidecar_ingress=True)
    sidecar = sidecar_for(push, "productpage-v1-0", (9080, 19080))
    resources = generate(dataclasses.replace(sidecar, interception="REDIRECT"), push)
    assert check_invariants(resources) == []
    virtual = resources.listeners["virtualInbound"]
    assert isinstance(virtual, listener_pb2.Listener)
    (chain,) = [c for c in virtual.filter_chains if "file-cert" in str(c.transport_socket)]
    assert chain.filter_chain_match.destination_port.value == 9080
    assert chain.filter_chain_match.transport_protocol == "tls"
    assert TLS_INSPECTOR in [f.name for f in virtual.listener_filters]


def test_without_enable_tls_on_sidecar_ingress_the_tls_is_ignored() -> None:
    """Istio's `buildInboundListeners` reads `ingress[].tls` only when istiod runs with
    ENABLE_TLS_ON_SIDECAR_INGRESS=true (default false): without it the port is a plain port of
    its own protocol (HTTPS: TCP proxied, not terminated), with no certificate of the proxy's
    files."""
    resources = _resources(SIDECAR + STRICT + PORT_DISABLED, enabled=False)
    (chain,) = _listener(resources, 9080).filter_chains
    assert "file-cert" not in str(chain) and "file-root" not in str(chain)
    assert not chain.HasField("transport_socket")  # the port's mTLS is DISABLE
    assert [f.name for f in chain.filters][-1] != HCM_FILTER  # HTTPS is not terminated
    assert "inbound|9080||" not in resources.routes
