"""DestinationRule `trafficPolicy.tls` (client TLS) -> the cluster's upstream TLS transport socket.

DISABLE (or no tls) leaves the connection plaintext. SIMPLE originates TLS: the server is verified
against `caCertificates` (a file; the system bundle when unset, no check with
`insecureSkipVerify`), `subjectAltNames` are matched as DNS or URI SANs, `sni` is sent, in TLS
1.2 to 1.3 as Istio's clients (`mtls.client_tls_params`). MUTUAL
adds the client's `clientCertificate` / `privateKey` files. Certificates are referenced by file
name, as Istio's sidecars read them; nothing here touches the file system. ISTIO_MUTUAL (mesh
certificates over SDS) is `mesh_tls`.

`credentialName` (`with_credentials`), as Istio documents it: honoured at gateways, where the
client certificate and key (MUTUAL) and the CA that verifies the server come from a `v1 Secret`
of the gateway's own namespace over SDS (`credentials`); a Secret without a CA leaves the server
checked as without credentialName (`caCertificates`, else the system bundle). A missing Secret
is reported and the cluster originates TLS with no client certificate (a server that asks for
one refuses: it fails closed). At sidecars Istio applies it only to a DestinationRule with a
`workloadSelector` (`sidecar_credentials`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf.message import Message

from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import credentials
from pilotfish.translate.envoy_pb import pack
from pilotfish.translate.mtls import client_tls_params

if TYPE_CHECKING:
    from pilotfish.config.models.networking.destination_rule import ClientTLSSettings
    from pilotfish.translate.clusters import OutboundClusterSpec

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
    common.tls_params.CopyFrom(client_tls_params())
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


def _credential_context(
    tls: ClientTLSSettings, credential: credentials.Credential
) -> tls_pb2.UpstreamTlsContext | None:
    context = upstream_tls_context(tls)
    if context is None:
        return None
    common = context.common_tls_context
    del common.tls_certificates[:]
    if tls.mode == "MUTUAL" and credential.certificate is not None:
        common.tls_certificate_sds_secret_configs.append(
            credentials.sds_reference(credential.certificate)
        )
    if credential.ca is not None and not tls.insecure_skip_verify:
        default = common_pb2.CertificateValidationContext()
        default.match_typed_subject_alt_names.extend(
            common.validation_context.match_typed_subject_alt_names
        )
        common.ClearField("validation_context")
        combined = common.combined_validation_context
        combined.default_validation_context.CopyFrom(default)
        combined.validation_context_sds_secret_config.CopyFrom(
            credentials.sds_reference(credential.ca)
        )
    return context


def _referenced(
    tls: ClientTLSSettings, credential: credentials.Credential
) -> list[secret_pb2.Secret]:
    """The secrets `_credential_context` makes the cluster reference."""
    found = []
    if tls.mode == "MUTUAL" and credential.certificate is not None:
        found.append(credential.certificate)
    if credential.ca is not None and not tls.insecure_skip_verify:
        found.append(credential.ca)
    return found


def with_credentials(
    proxy: Proxy,
    push: PushContext,
    specs: Mapping[str, OutboundClusterSpec],
    messages: Sequence[Message],
    report: Callable[[OutboundClusterSpec, str], None],
) -> tuple[list[Message], list[Message]]:
    """A gateway's outbound messages with the clusters whose policy names a `credentialName`
    rebuilt on copies (the given messages are shared: never mutated), and the SDS secrets those
    clusters reference."""
    secrets: dict[str, Message] = {}
    out: list[Message] = []
    for message in messages:
        spec = specs.get(getattr(message, "name", "")) if isinstance(message, Message) else None
        tls = spec.policy.tls if spec is not None else None
        if (
            spec is None
            or tls is None
            or not tls.credential_name
            or tls.mode not in ORIGINATING_MODES
            or not isinstance(message, cluster_pb2.Cluster)
        ):
            out.append(message)
            continue
        credential = credentials.resolve(proxy, push, tls.credential_name)
        if tls.mode == "MUTUAL" and credential.certificate is None:
            report(
                spec,
                f"credentialName {tls.credential_name!r}: no TLS Secret with a certificate and "
                f"key in {proxy.namespace}, the proxy's namespace (Secrets are read from the "
                "proxy's own namespace only): TLS is originated without a client certificate",
            )
        context = _credential_context(tls, credential)
        cluster = cluster_pb2.Cluster()
        cluster.CopyFrom(message)
        if context is not None:
            cluster.transport_socket.typed_config.CopyFrom(pack(context))
        for secret in _referenced(tls, credential):
            secrets[secret.name] = secret
        out.append(cluster)
    return out, [secrets[name] for name in sorted(secrets)]
