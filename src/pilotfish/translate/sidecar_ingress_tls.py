"""Sidecar `ingress[].tls`: a sidecar terminating a non-mesh client's TLS on an inbound port
(Istio's "Ingress Sidecar TLS Termination", Istio's `buildInboundListeners` and
`BuildListenerTLSContext`).

As Istio: the settings apply only where the workload's PeerAuthentication DISABLEs mTLS on that
port (`applies`); anywhere else the port is a mesh port as without `tls`. Either way the port's
protocol is taken as after termination (`terminated`: HTTPS serves HTTP, TLS serves TCP). The
port gets one filter chain, matched on the TLS transport, whose server certificate and key
(`serverCertificate`, `privateKey`) and, for MUTUAL and OPTIONAL_MUTUAL, the CA that checks the
client (`caCertificates`) are files of the proxy's container, fetched from the pod's agent over
SDS under Istio's names: `file-cert:<cert>~<key>` and `file-root:<ca>` (the agent reads the
files: `agent.file_secrets`); without them the workload's own `default` / `ROOTCA`. ALPN
`h2`, `http/1.1`; MUTUAL requires a client certificate; `subjectAltNames` of the client, the
TLS versions and (filtered) ciphers are honoured. As Istio, only when istiod runs with
`ENABLE_TLS_ON_SIDECAR_INGRESS=true` (the page's `--set values.pilot.env.…`; off by default:
`MeshConfig.tls_on_sidecar_ingress`, checked by `sidecar_scope`); without it `tls` is ignored
and the port keeps its protocol. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import wrappers_pb2

from pilotfish.ca.identity import ROOT_SECRET, WORKLOAD_SECRET
from pilotfish.config.ciphers import filter_cipher_suites
from pilotfish.config.models.networking.gateway import ServerTLSSettings
from pilotfish.translate import mtls
from pilotfish.translate.envoy_pb import pack
from pilotfish.translate.peer_authentication import DISABLE

FILE_CERT_PREFIX = "file-cert:"  # Istio's ResourceFileCertPrefix
FILE_ROOT_PREFIX = "file-root:"  # Istio's ResourceFileRootPrefix
SEPARATOR = "~"  # between the certificate's and the key's path
CHAIN = "sidecar-ingress-tls"
_VERSIONS = {
    "TLS_AUTO": common_pb2.TlsParameters.TLS_AUTO,
    "TLSV1_0": common_pb2.TlsParameters.TLSv1_0,
    "TLSV1_1": common_pb2.TlsParameters.TLSv1_1,
    "TLSV1_2": common_pb2.TlsParameters.TLSv1_2,
    "TLSV1_3": common_pb2.TlsParameters.TLSv1_3,
}
_AFTER_TERMINATION = {"HTTPS": "HTTP", "TLS": "TCP"}


def terminated(protocol: str) -> str:
    """The port's protocol once its TLS is terminated (Istio's `AfterTLSTermination`)."""
    return _AFTER_TERMINATION.get(protocol.upper(), protocol.upper())


def applies(tls: ServerTLSSettings | None, mode: str) -> bool:
    """Whether a port with these settings terminates the client's TLS: only where the mTLS mode
    of the port is DISABLE, as Istio (otherwise the two would conflict)."""
    return tls is not None and mode == DISABLE


def cert_resource(tls: ServerTLSSettings) -> str:
    """The SDS name of the server certificate: Istio's `file-cert:<cert>~<key>`, else the
    workload's own (`default`)."""
    if tls.server_certificate and tls.private_key:
        return f"{FILE_CERT_PREFIX}{tls.server_certificate}{SEPARATOR}{tls.private_key}"
    return WORKLOAD_SECRET


def root_resource(tls: ServerTLSSettings) -> str:
    """The SDS name of the CA that checks clients: `file-root:<ca>`, else `ROOTCA`."""
    return f"{FILE_ROOT_PREFIX}{tls.ca_certificates}" if tls.ca_certificates else ROOT_SECRET


def downstream_context(tls: ServerTLSSettings) -> tls_pb2.DownstreamTlsContext:
    """The port's server TLS context, as Istio's `BuildListenerTLSContext` builds it."""
    mode = str(tls.mode or "SIMPLE")
    common = tls_pb2.CommonTlsContext(
        alpn_protocols=["h2", "http/1.1"],
        tls_certificate_sds_secret_configs=[mtls.sds_secret(cert_resource(tls))],
    )
    if tls.min_protocol_version or tls.max_protocol_version or tls.cipher_suites:
        params = common.tls_params
        if tls.min_protocol_version:
            params.tls_minimum_protocol_version = _version(tls.min_protocol_version)
        if tls.max_protocol_version:
            params.tls_maximum_protocol_version = _version(tls.max_protocol_version)
        params.cipher_suites.extend(filter_cipher_suites(tls.cipher_suites))
    if mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
        combined = common.combined_validation_context
        combined.default_validation_context.SetInParent()  # required, even when empty
        for san in tls.subject_alt_names:
            combined.default_validation_context.match_typed_subject_alt_names.append(
                common_pb2.SubjectAltNameMatcher(
                    san_type=common_pb2.SubjectAltNameMatcher.DNS,
                    matcher=string_pb2.StringMatcher(exact=san),
                )
            )
        combined.validation_context_sds_secret_config.CopyFrom(mtls.sds_secret(root_resource(tls)))
    return tls_pb2.DownstreamTlsContext(
        common_tls_context=common,
        require_client_certificate=wrappers_pb2.BoolValue(value=mode == "MUTUAL"),
    )


def chain(filters: Sequence[lc_pb2.Filter], tls: ServerTLSSettings) -> lc_pb2.FilterChain:
    """The port's one filter chain: TLS connections, terminated with `downstream_context`."""
    found = lc_pb2.FilterChain(
        name=CHAIN,
        filter_chain_match=lc_pb2.FilterChainMatch(transport_protocol="tls"),
        filters=filters,
    )
    found.transport_socket.name = mtls.TLS_SOCKET
    found.transport_socket.typed_config.CopyFrom(pack(downstream_context(tls)))
    return found


def _version(value: object) -> common_pb2.TlsParameters.TlsProtocol.ValueType:
    return _VERSIONS.get(str(value), common_pb2.TlsParameters.TLS_AUTO)
