"""Which outbound connections use Istio mutual TLS (the decisions; `mtls` builds the pieces).

- DestinationRule `tls.mode: ISTIO_MUTUAL`: always mTLS with the mesh certificates (the rule's
  `sni` and `subjectAltNames` replace the automatic ones when set, as in Istio).
- `DISABLE`, `SIMPLE`, `MUTUAL`: not mesh mTLS (`upstream_tls` originates SIMPLE/MUTUAL).
- no TLS setting: auto mTLS (MeshConfig `enableAutoMtls`, on by default): per endpoint, mTLS
  when the instance has a sidecar (not a gateway, not `sidecar.istio.io/inject: "false"`,
  WorkloadEntries only when labelled `security.istio.io/tlsMode: istio`) and its effective
  PeerAuthentication does not DISABLE that port; plaintext otherwise. A PASSTHROUGH cluster
  (ORIGINAL_DST: no endpoints, so no per-endpoint choice) gets mTLS for every connection when
  every instance of the service has a sidecar and the mesh/namespace PeerAuthentication does
  not DISABLE, and none otherwise (Istio's `BestEffortInferServiceMTLSMode`).
Secure naming: the client accepts only a server certificate naming a service account that runs
the destination service. Pure.
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2

from pilotfish.ca.identity import spiffe_id
from pilotfish.model.proxy import is_gateway_pod
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Endpoint, Protocol, Service
from pilotfish.translate import mtls
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.peer_authentication import DISABLE, effective_mtls

ISTIO_MUTUAL = "ISTIO_MUTUAL"
NOT_MESH_TLS = ("DISABLE", "SIMPLE", "MUTUAL")


def service_accounts(service: Service, push: PushContext) -> list[str]:
    """SPIFFE ids of the service accounts running `service` (every port, ready or not)."""
    memo = push.registry_memo  # of the registry alone, with the trust domain in the key
    key = ("pilotfish.translate.mesh_tls.accounts", service.hostname, push.mesh.trust_domain)
    accounts: list[str] | None = memo.get(key)
    if accounts is None:
        found = {
            spiffe_id(push.mesh.trust_domain, service.namespace, e.service_account)
            for port in service.ports
            for e in push.endpoints(service, port)
            if e.sidecar
        }
        accounts = memo[key] = sorted(found)
    return accounts


def apply_mesh_tls(
    cluster: cluster_pb2.Cluster, spec: OutboundClusterSpec, push: PushContext
) -> None:
    mode = (spec.policy.tls.mode or "") if spec.policy.tls is not None else ""
    if mode in NOT_MESH_TLS:
        return
    passthrough = cluster.type == cluster_pb2.Cluster.ORIGINAL_DST
    if mode != ISTIO_MUTUAL and (
        not push.mesh.enable_auto_mtls
        or spec.service.mesh_external
        or cluster.type not in (cluster_pb2.Cluster.EDS, cluster_pb2.Cluster.ORIGINAL_DST)
        or (passthrough and not _all_mtls(spec, push))
    ):
        return
    protocol = spec.port.protocol
    tls = spec.policy.tls if mode == ISTIO_MUTUAL else None
    context = mtls.upstream_context(
        # as Istio: an ISTIO_MUTUAL rule's own subjectAltNames and sni, when it sets them
        (tls.subject_alt_names if tls else ()) or service_accounts(spec.service, push),
        (tls.sni if tls else "") or mtls.sni(spec.port.port, spec.subset, spec.service.hostname),
        http=protocol.is_http or protocol == Protocol.UNKNOWN,
        http2=protocol in (Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB),
    )
    if mode == ISTIO_MUTUAL or passthrough:
        mtls.set_istio_mutual(cluster, context)
    else:
        mtls.set_auto_mtls(cluster, context)


def _all_mtls(spec: OutboundClusterSpec, push: PushContext) -> bool:
    """Istio's guess for a PASSTHROUGH service port: every instance has a sidecar (tlsMode
    istio) and the mesh/namespace PeerAuthentication (no workload selector) is not DISABLE."""
    if spec.service.from_service_entry:  # its endpoints carry no sidecar fact
        return False
    found = push.endpoints(spec.service, spec.port)
    gateway = any(is_gateway_pod(dict(e.labels)) for e in found)
    if not found or gateway or not all(e.sidecar for e in found):
        return False
    return effective_mtls(spec.service.namespace, {}, push).mode != DISABLE


def speaks_mtls(endpoint: Endpoint, namespace: str, push: PushContext) -> bool:
    """Whether auto mTLS may use mTLS to this endpoint (Istio's `tlsMode: istio` label)."""
    labels = dict(endpoint.labels)
    if not endpoint.sidecar or is_gateway_pod(labels):
        return False
    return effective_mtls(namespace, labels, push).at(endpoint.port) != DISABLE


def mark_endpoint(
    metadata: base_pb2.Metadata, endpoint: Endpoint, namespace: str, push: PushContext
) -> None:
    if speaks_mtls(endpoint, namespace, push):
        mtls.mark_istio_endpoint(metadata)
