"""DestinationRule `credentialName` and Gateway `ISTIO_MUTUAL` (Istio's egress gateway mutual
TLS origination): the gateway's cluster takes its client certificate and CA from a Secret of the
gateway's own namespace over SDS; a sidecar does so only when the rule has a workloadSelector
(Istio 1.14+; without one Istio gives its cluster no TLS); another namespace's Secret is never
used; ISTIO_MUTUAL servers use the mesh
certificates. Every snapshot passes the invariants."""

from __future__ import annotations

import dataclasses

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import TlsSecret
from pilotfish.translate import ProxyResources, check_invariants, generate

CONFIG = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: originate, namespace: istio-system}
spec:
  host: ratings.default.svc.cluster.local
  trafficPolicy:
    portLevelSettings:
    - port: {number: 9080}
      tls: {mode: MUTUAL, credentialName: client-credential, sni: ratings.example}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: simple, namespace: istio-system}
spec:
  host: details.default.svc.cluster.local
  trafficPolicy:
    tls: {mode: SIMPLE, credentialName: ca-only, subjectAltNames: [details.example]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [ratings.example]
    tls: {mode: ISTIO_MUTUAL}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: egress, namespace: istio-system}
spec:
  hosts: [ratings.example]
  gateways: [egress]
  http: [{route: [{destination: {host: ratings.default.svc.cluster.local, port: {number: 9080}}}]}]
"""
GATEWAY = "istio-ingressgateway-0"


def _push(*secrets: TlsSecret) -> PushContext:
    push = bookinfo_push(CONFIG)
    registry = dataclasses.replace(push.registry, secrets=secrets, _by_host={})
    return dataclasses.replace(push, registry=registry)


def _upstream(resources: ProxyResources, name: str) -> tls_pb2.UpstreamTlsContext:
    cluster = resources.clusters[name]
    assert isinstance(cluster, cluster_pb2.Cluster)
    context = tls_pb2.UpstreamTlsContext()
    assert cluster.transport_socket.typed_config.Unpack(context)
    return context


RATINGS = "outbound|9080||ratings.default.svc.cluster.local"
DETAILS = "outbound|9080||details.default.svc.cluster.local"


def test_a_gateway_originates_with_the_secret_of_its_own_namespace() -> None:
    push = _push(
        TlsSecret("client-credential", "istio-system", "CERT", "KEY", "CA"),
        TlsSecret("ca-only", "istio-system", ca_certificate="DETAILS-CA"),
    )
    resources = generate(sidecar_for(push, GATEWAY), push)
    assert check_invariants(resources) == []
    assert sorted(resources.secrets) == [
        "kubernetes://ca-only-cacert",
        "kubernetes://client-credential",
        "kubernetes://client-credential-cacert",
    ]
    common = _upstream(resources, RATINGS).common_tls_context
    assert [s.name for s in common.tls_certificate_sds_secret_configs] == [
        "kubernetes://client-credential"
    ]
    assert not common.tls_certificates
    combined = common.combined_validation_context
    assert combined.validation_context_sds_secret_config.name == (
        "kubernetes://client-credential-cacert"
    )
    assert _upstream(resources, RATINGS).sni == "ratings.example"
    simple = _upstream(resources, DETAILS).common_tls_context
    assert not simple.tls_certificate_sds_secret_configs  # SIMPLE: no client certificate
    default = simple.combined_validation_context.default_validation_context
    assert [m.matcher.exact for m in default.match_typed_subject_alt_names] == ["details.example"]
    # the cluster objects shared with other proxies were not touched
    sidecar = generate(sidecar_for(push, "productpage-v1-0"), push)
    assert not sidecar.clusters[RATINGS].HasField("transport_socket")  # Istio: at a sidecar,
    assert not sidecar.secrets  # a rule without a selector naming a credential gives no TLS


def test_another_namespaces_secret_is_never_used() -> None:
    push = _push(TlsSecret("client-credential", "default", "CERT", "KEY", "CA"))
    resources = generate(sidecar_for(push, GATEWAY), push)
    assert check_invariants(resources) == []
    assert not resources.secrets
    assert not _upstream(resources, RATINGS).common_tls_context.tls_certificate_sds_secret_configs
    assert any("client-credential" in d.message for d in resources.diagnostics)


def test_an_istio_mutual_gateway_server_uses_the_mesh_certificates() -> None:
    push = _push()
    resources = generate(sidecar_for(push, GATEWAY), push)
    listener = resources.listeners["0.0.0.0_443"]
    assert isinstance(listener, listener_pb2.Listener)
    (chain,) = listener.filter_chains
    assert list(chain.filter_chain_match.server_names) == ["ratings.example"]
    context = tls_pb2.DownstreamTlsContext()
    assert chain.transport_socket.typed_config.Unpack(context)
    assert context.require_client_certificate.value is True
    common = context.common_tls_context
    assert [s.name for s in common.tls_certificate_sds_secret_configs] == ["default"]
    assert common.combined_validation_context.validation_context_sds_secret_config.name == "ROOTCA"


SELECTED = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: originate-mtls, namespace: default}
spec:
  host: ratings.default.svc.cluster.local
  workloadSelector: {matchLabels: {app: productpage}}
  trafficPolicy:
    portLevelSettings:
    - port: {number: 9080}
      tls: {mode: MUTUAL, credentialName: client-credential, sni: ratings.example}
"""


def test_a_sidecar_a_rule_with_a_selector_selects_originates_with_its_namespace_secret() -> None:
    push = bookinfo_push(SELECTED)
    secret = TlsSecret("client-credential", "default", "CERT", "KEY", "CA")
    push = dataclasses.replace(
        push, registry=dataclasses.replace(push.registry, secrets=(secret,), _by_host={})
    )
    resources = generate(sidecar_for(push, "productpage-v1-0"), push)
    assert check_invariants(resources) == []
    common = _upstream(resources, RATINGS).common_tls_context
    assert [s.name for s in common.tls_certificate_sds_secret_configs] == [
        "kubernetes://client-credential"
    ]
    assert sorted(resources.secrets) == [
        "kubernetes://client-credential",
        "kubernetes://client-credential-cacert",
    ]
    other = generate(sidecar_for(push, "reviews-v1-0"), push)  # not selected: no rule at all
    assert not other.clusters[RATINGS].HasField("transport_socket") and not other.secrets
    missing = bookinfo_push(SELECTED)  # no Secret: reported, no client certificate
    resources = generate(sidecar_for(missing, "productpage-v1-0"), missing)
    assert not _upstream(resources, RATINGS).common_tls_context.tls_certificate_sds_secret_configs
    assert any("client-credential" in d.message for d in resources.diagnostics)
