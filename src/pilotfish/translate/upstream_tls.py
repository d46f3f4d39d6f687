"""DestinationRule `trafficPolicy.tls` (client TLS) -> the cluster's upstream TLS transport socket.

DISABLE (or no tls) leaves the connection plaintext. SIMPLE originates TLS: the server is verified
against `caCertificates` (a file; the system bundle when unset, no check with
`insecureSkipVerify`), `subjectAltNames` are matched as DNS or URI SANs, `sni` is sent. MUTUAL
adds the client's `clientCertificate` / `privateKey` files. Certificates are referenced by file
name, as Istio's sidecars read them; nothing here touches the file system. ISTIO_MUTUAL (mesh
certificates over SDS) and `credentialName` belong to the mTLS work and are left alone here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2

from pilotfish.translate.envoy_pb import pack

if TYPE_CHECKING:
    from pilotfish.config.models.networking.destination_rule import ClientTLSSettings

TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
ORIGINATING_MODES = ("SIMPLE", "MUTUAL")


def upstream_tls_context(tls: ClientTLSSettings | None) -> tls_pb2.UpstreamTlsContext | None:
    """The UpstreamTlsContext for a ClientTLSSettings, or None when it does not originate TLS."""
    if tls is None or tls.mode not in ORIGINATING_MODES:
        return None
    context = tls_pb2.UpstreamTlsContext()
    if tls.sni:
        context.sni = tls.sni
    common = context.common_tls_context
    if not tls.insecure_skip_verify:
        validation = common.validation_context
        validation.trusted_ca.filename = tls.ca_certificates or SYSTEM_CA_BUNDLE
        if tls.ca_crl:
            validation.crl.filename = tls.ca_crl
        for name in tls.subject_alt_names or ():
            san_type = common_pb2.SubjectAltNameMatcher.URI
            if "://" not in name:
                san_type = common_pb2.SubjectAltNameMatcher.DNS
            validation.match_typed_subject_alt_names.append(
                common_pb2.SubjectAltNameMatcher(
                    san_type=san_type, matcher=string_pb2.StringMatcher(exact=name)
                )
            )
    if tls.mode == "MUTUAL" and tls.client_certificate and tls.private_key:
        common.tls_certificates.append(
            common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(filename=tls.client_certificate),
                private_key=base_pb2.DataSource(filename=tls.private_key),
            )
        )
    return context


def apply_client_tls(cluster: cluster_pb2.Cluster, tls: ClientTLSSettings | None) -> None:
    """Give `cluster` a TLS transport socket when the policy originates TLS (SIMPLE/MUTUAL).
    Without `sni` no SNI is sent (Istio's automatic SNI from the Host header is not modelled)."""
    context = upstream_tls_context(tls)
    if context is None:
        return
    cluster.transport_socket.name = TLS_TRANSPORT_SOCKET
    cluster.transport_socket.typed_config.CopyFrom(pack(context))
