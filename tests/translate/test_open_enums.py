"""Enum fields given a number that names none of their values (proto3 enums are open: istioctl's
protobuf JSON reader keeps `tls: {mode: 7}` as 7): every enum field of the modelled kinds set
so is loaded, Istio's rules see a value matching none of the names (ServiceEntry's resolution
and EnvoyFilter's applyTo are the ones Istio's webhook refuses), and the sidecar's and the
gateway's snapshots translate with their invariants kept and are accepted by the real Envoy
(`envoy --mode validate`); a gateway's TLS version naming none is TLS_AUTO, as Istio maps it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from tests.translate.test_envoy_validate import envoy_validate
from tests.translate.translate_harness import bookinfo_push, sidecar_for, validate_bootstrap

from pilotfish.config import load
from pilotfish.registry.types import TlsSecret
from pilotfish.translate import generate
from pilotfish.translate.invariants import check_invariants
from pilotfish.type_urls import LISTENER

OPEN = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: 7}
    loadBalancer: {simple: 9}
    connectionPool: {http: {h2UpgradePolicy: 7}}
    proxyProtocol: {version: 7}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: open-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: ["open.example.com"]
    tls: {mode: SIMPLE, credentialName: open-cert, minProtocolVersion: 7, maxProtocolVersion: 9}
  - port: {number: 9443, name: tls, protocol: TLS}
    hosts: ["tls.example.com"]
    tls: {mode: 7}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: open-routes}
spec:
  hosts: ["open.example.com"]
  gateways: [open-gateway]
  http:
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, derivePort: 7}
  - route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress: [{hosts: ["./*"], captureMode: 7}]
  outboundTrafficPolicy: {mode: 7}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  location: 7
  resolution: DNS
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec: {mtls: {mode: 7}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: open-action}
spec:
  selector: {matchLabels: {app: productpage}}
  action: 7
  rules: [{to: [{operation: {methods: [GET]}}]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt}
spec:
  selector: {matchLabels: {app: productpage}}
  jwtRules: [{issuer: "https://issuer.example.com", jwks: '{"keys": []}', presence: 7}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: open-telemetry}
spec:
  accessLogging: [{providers: [{name: envoy}], match: {mode: 7}}]
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_COUNT, mode: 7}
      tagOverrides: {request_protocol: {operation: 7}}
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: open-filter}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: 9
      listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager}}}
    patch: {operation: 9, filterClass: 9, value: {name: open.lua}}
  - applyTo: HTTP_ROUTE
    match: {context: SIDECAR_OUTBOUND, routeConfiguration: {vhost: {route: {action: 9}}}}
    patch: {operation: MERGE, value: {decorator: {operation: open}}}
"""


def test_every_enum_number_naming_no_value_is_read_and_translates(tmp_path: Path) -> None:
    push = bookinfo_push(OPEN)
    secret = TlsSecret("open-cert", "istio-system", certificate="CERT", private_key="KEY")
    push = replace(push, registry=replace(push.registry, secrets=(secret,)))
    dr = next(c for c in push.configs if c.meta.kind == "DestinationRule")
    assert dr.spec.traffic_policy.tls.mode == 7  # kept as the number, as jsonpb keeps it
    for instance in ("productpage-v1-0", "istio-ingressgateway-0"):
        resources = generate(sidecar_for(push, instance), push)
        assert check_invariants(resources) == [], instance
        accepted = envoy_validate(validate_bootstrap(resources), tmp_path)
        assert accepted.returncode == 0, (instance, accepted.stdout[-2000:], accepted.stderr)
    gateway = generate(sidecar_for(push, "istio-ingressgateway-0"), push)
    contexts = []
    for listener in gateway[LISTENER].values():
        assert isinstance(listener, listener_pb2.Listener)
        for chain in listener.filter_chains:
            context = tls_pb2.DownstreamTlsContext()
            if chain.transport_socket.typed_config.Unpack(context):
                contexts.append(context.common_tls_context.tls_params)
    assert contexts and all(
        (p.tls_minimum_protocol_version, p.tls_maximum_protocol_version) == (0, 0) for p in contexts
    ), contexts  # TLS_AUTO: Istio maps a version naming none to it


def test_the_enum_numbers_istios_webhook_refuses() -> None:
    entry = OPEN.split("---\n")[4].replace("resolution: DNS", "resolution: 7")
    refused = load(entry, "se.yaml")
    assert [(e.path, e.message) for e in refused.errors] == [
        ("spec.resolution", "unsupported resolution type ")  # Istio prints no name for it
    ]
    patch = OPEN.split("---\n")[-1].replace("applyTo: HTTP_FILTER", "applyTo: 17")
    (error,) = load(patch, "ef.yaml").errors
    assert error.message == "Envoy filter: unknown object type for applyTo 17", error
