"""Istio mutual TLS between proxies: the inbound filter chains a PeerAuthentication mode asks
for, and the outbound transport sockets of DestinationRule `ISTIO_MUTUAL` and auto mTLS.

Inbound (per port, Istio's filter-chain matches, a `tls_inspector` in front):
- STRICT: one chain, `transport_protocol: tls`, mTLS required (a plaintext connection matches no
  chain and is closed before a byte reaches the app);
- PERMISSIVE: an mTLS chain (TLS with Istio's ALPNs), a plaintext chain (`raw_buffer`) and, on
  TCP ports, a chain passing other TLS through untouched (a non-mesh client's own TLS);
- DISABLE: the plaintext chain only;
- a port whose protocol is detected (`sniffed_chains`): each of these split in an HTTP and a TCP
  chain, by the client's ALPN inside mTLS and by Envoy's `http_inspector` in plaintext.
The server proves itself with the workload certificate (`default` over SDS) and requires a
client certificate from the trust bundle (`ROOTCA`) naming an identity of this trust domain, in
TLS 1.2 (with Istio's `SUPPORTED_CIPHERS`) or 1.3, as Istio's `BuildInboundTLS`; MeshConfig
`meshMTLS` may raise the minimum to 1.3 and replace the ciphers (`inbound_tls_params`).

Outbound: `ISTIO_MUTUAL` always originates mTLS; with no DestinationRule TLS setting, auto mTLS
(Istio's default) sends mTLS to endpoints labelled `tlsMode: istio` (those with a sidecar whose
policy does not DISABLE the port) and plaintext to the others, through transport socket matches.
The client checks the server's certificate names one of the service's service accounts (secure
naming). Pure; the SDS resources come from the agent's `sds-grpc` cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2, config_source_pb2, grpc_service_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.common.set_filter_state.v3 import value_pb2
from envoy.extensions.filters.listener.http_inspector.v3 import http_inspector_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.set_filter_state.v3 import set_filter_state_pb2
from envoy.extensions.transport_sockets.raw_buffer.v3 import raw_buffer_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import struct_pb2, wrappers_pb2

from pilotfish.ca.identity import (
    ROOT_SECRET,
    SDS_CLUSTER,
    WORKLOAD_SECRET,
    trust_domain_prefix,
)
from pilotfish.config.mesh_security import DEFAULT_MESH_MTLS, MeshMtls
from pilotfish.translate.envoy_pb import duration, pack
from pilotfish.translate.peer_authentication import DISABLE, PERMISSIVE, STRICT

TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"
TLS_SOCKET = "envoy.transport_sockets.tls"
RAW_SOCKET = "envoy.transport_sockets.raw_buffer"
TRANSPORT_SOCKET_MATCH = "envoy.transport_socket_match"
TLS_MODE_KEY, TLS_MODE_ISTIO = "tlsMode", "istio"
MTLS_CHAIN, PLAINTEXT_CHAIN, TLS_PASSTHROUGH_CHAIN = "mtls", "plaintext", "tls-passthrough"
# ALPN values Istio's clients offer inside the mesh (TCP with metadata exchange, then HTTP).
MTLS_TCP_ALPN = ("istio-peer-exchange", "istio")
MTLS_HTTP_ALPN = ("istio-http/1.0", "istio-http/1.1", "istio-h2")
# What Envoy's http_inspector reports for a plaintext HTTP stream (Istio's sniffed HTTP chain).
HTTP_INSPECTOR = "envoy.filters.listener.http_inspector"
PLAINTEXT_HTTP_ALPN = ("http/1.0", "http/1.1", "h2c")


def sds_secret(name: str) -> secret_pb2.SdsSecretConfig:
    """An SDS secret from the agent (`default` or `ROOTCA`), waited for without timeout."""
    source = config_source_pb2.ConfigSource(
        api_config_source=config_source_pb2.ApiConfigSource(
            api_type=config_source_pb2.ApiConfigSource.GRPC,
            transport_api_version=config_source_pb2.V3,
            grpc_services=[
                grpc_service_pb2.GrpcService(
                    envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=SDS_CLUSTER)
                )
            ],
            set_node_on_first_message_only=True,
        ),
        resource_api_version=config_source_pb2.V3,
        initial_fetch_timeout=duration(0),
    )
    return secret_pb2.SdsSecretConfig(name=name, sds_config=source)


MIN_VERSIONS = {
    "TLSV1_2": common_pb2.TlsParameters.TLSv1_2,
    "TLSV1_3": common_pb2.TlsParameters.TLSv1_3,
}
"""`MeshMtls.min_version` (`meshMTLS.minProtocolVersion`, as Istio reads it) for Envoy."""
SUPPORTED_CIPHERS = (
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
)
"""The TLS 1.2 ciphers Istio's sidecars accept inbound unless `meshMTLS.cipherSuites` says."""


def inbound_tls_params(mesh_mtls: MeshMtls) -> common_pb2.TlsParameters:
    """A sidecar's inbound mTLS versions and ciphers (Istio's `BuildInboundTLS`)."""
    return common_pb2.TlsParameters(
        tls_minimum_protocol_version=MIN_VERSIONS[mesh_mtls.min_version],
        tls_maximum_protocol_version=common_pb2.TlsParameters.TLSv1_3,
        cipher_suites=mesh_mtls.cipher_suites or SUPPORTED_CIPHERS,
    )


def client_tls_params() -> common_pb2.TlsParameters:
    """What every client TLS context of Istio's says (`defaultUpstreamCommonTLSContext`): TLS 1.2
    to 1.3 (Envoy's client default stops at 1.2), for ISTIO_MUTUAL and for DestinationRule
    SIMPLE/MUTUAL origination alike."""
    return common_pb2.TlsParameters(
        tls_minimum_protocol_version=common_pb2.TlsParameters.TLSv1_2,
        tls_maximum_protocol_version=common_pb2.TlsParameters.TLSv1_3,
    )


def _common_context(
    sans: Sequence[common_pb2.SubjectAltNameMatcher], params: common_pb2.TlsParameters
) -> tls_pb2.CommonTlsContext:
    context = tls_pb2.CommonTlsContext(
        tls_params=params,
        tls_certificate_sds_secret_configs=[sds_secret(WORKLOAD_SECRET)],
    )
    combined = context.combined_validation_context
    combined.default_validation_context.match_typed_subject_alt_names.extend(sans)
    combined.validation_context_sds_secret_config.CopyFrom(sds_secret(ROOT_SECRET))
    return context


def _uri_matcher(exact: str = "", prefix: str = "") -> common_pb2.SubjectAltNameMatcher:
    matcher = (
        string_pb2.StringMatcher(exact=exact) if exact else string_pb2.StringMatcher(prefix=prefix)
    )
    return common_pb2.SubjectAltNameMatcher(
        san_type=common_pb2.SubjectAltNameMatcher.URI, matcher=matcher
    )


def downstream_context(
    trust_domain: str, http: bool, params: common_pb2.TlsParameters | None = None
) -> tls_pb2.DownstreamTlsContext:
    """Istio's mTLS server context; `params`: a sidecar's `inbound_tls_params` (a gateway's
    ISTIO_MUTUAL server: TLS 1.2 and up, Envoy's ciphers)."""
    if params is None:
        params = common_pb2.TlsParameters(tls_minimum_protocol_version=MIN_VERSIONS["TLSV1_2"])
    common = _common_context([_uri_matcher(prefix=trust_domain_prefix(trust_domain))], params)
    common.alpn_protocols.extend(("h2", "http/1.1") if http else MTLS_TCP_ALPN)
    return tls_pb2.DownstreamTlsContext(
        common_tls_context=common,
        require_client_certificate=wrappers_pb2.BoolValue(value=True),
    )


def tls_inspector() -> lc_pb2.ListenerFilter:
    return lc_pb2.ListenerFilter(
        name=TLS_INSPECTOR, typed_config=pack(tls_inspector_pb2.TlsInspector())
    )


def inbound_chains(
    filters: Sequence[lc_pb2.Filter],
    mode: str,
    *,
    http: bool,
    trust_domain: str,
    mesh_mtls: MeshMtls = DEFAULT_MESH_MTLS,
) -> list[lc_pb2.FilterChain]:
    """The filter chains of one inbound port under `mode`, each with the same `filters`."""
    plaintext = lc_pb2.FilterChain(
        name=PLAINTEXT_CHAIN,
        filter_chain_match=lc_pb2.FilterChainMatch(transport_protocol="raw_buffer"),
        filters=filters,
    )
    if mode not in (STRICT, PERMISSIVE):
        return [plaintext]
    mtls = lc_pb2.FilterChain(
        name=MTLS_CHAIN,
        filter_chain_match=lc_pb2.FilterChainMatch(transport_protocol="tls"),
        filters=filters,
    )
    mtls.transport_socket.name = TLS_SOCKET
    context = downstream_context(trust_domain, http, inbound_tls_params(mesh_mtls))
    mtls.transport_socket.typed_config.CopyFrom(pack(context))
    if mode == STRICT:
        return [mtls]
    mtls.filter_chain_match.application_protocols.extend(MTLS_TCP_ALPN + MTLS_HTTP_ALPN)
    chains = [mtls, plaintext]
    if not http:  # a client without a sidecar speaking its own TLS: pass it through as TCP
        chains.append(
            lc_pb2.FilterChain(
                name=TLS_PASSTHROUGH_CHAIN,
                filter_chain_match=lc_pb2.FilterChainMatch(transport_protocol="tls"),
                filters=filters,
            )
        )
    return chains


def sniffed_chains(
    http_filters: Sequence[lc_pb2.Filter],
    tcp_filters: Sequence[lc_pb2.Filter],
    mode: str,
    *,
    trust_domain: str,
    mesh_mtls: MeshMtls = DEFAULT_MESH_MTLS,
) -> list[lc_pb2.FilterChain]:
    """Istio's inbound chains for a port whose protocol is detected (a Service port with no
    protocol name prefix nor appProtocol): HTTP when the stream is HTTP, TCP otherwise. Inside
    mTLS the client's ALPN says which (`istio-http/*` for HTTP, `istio-peer-exchange`/`istio`
    for a TCP proxy); in plaintext, Envoy's http_inspector (`PLAINTEXT_HTTP_ALPN`). A TLS
    stream of a client outside the mesh (PERMISSIVE) is TCP, passed through."""
    chains = []
    if mode in (STRICT, PERMISSIVE):
        for suffix, alpn, filters, http in (
            ("", MTLS_HTTP_ALPN, http_filters, True),
            ("-tcp", MTLS_TCP_ALPN if mode == PERMISSIVE else (), tcp_filters, False),
        ):
            chain = lc_pb2.FilterChain(
                name=MTLS_CHAIN + suffix,
                filter_chain_match=lc_pb2.FilterChainMatch(
                    transport_protocol="tls", application_protocols=alpn
                ),
                filters=filters,
            )
            chain.transport_socket.name = TLS_SOCKET
            chain.transport_socket.typed_config.CopyFrom(
                pack(downstream_context(trust_domain, http, inbound_tls_params(mesh_mtls)))
            )
            chains.append(chain)
    if mode == STRICT:
        return chains
    raw = "raw_buffer"
    return [
        *chains,
        lc_pb2.FilterChain(
            name=PLAINTEXT_CHAIN,
            filter_chain_match=lc_pb2.FilterChainMatch(
                transport_protocol=raw, application_protocols=PLAINTEXT_HTTP_ALPN
            ),
            filters=http_filters,
        ),
        lc_pb2.FilterChain(
            name=PLAINTEXT_CHAIN + "-tcp",
            filter_chain_match=lc_pb2.FilterChainMatch(transport_protocol=raw),
            filters=tcp_filters,
        ),
        *(
            [
                lc_pb2.FilterChain(
                    name=TLS_PASSTHROUGH_CHAIN,
                    filter_chain_match=lc_pb2.FilterChainMatch(transport_protocol="tls"),
                    filters=tcp_filters,
                )
            ]
            if mode == PERMISSIVE
            else []
        ),
    ]


def http_inspector() -> lc_pb2.ListenerFilter:
    return lc_pb2.ListenerFilter(
        name=HTTP_INSPECTOR, typed_config=pack(http_inspector_pb2.HttpInspector())
    )


def detect_within(listener: listener_pb2.Listener, seconds: float) -> None:
    """How long a sidecar listener's filters wait for the client's first bytes, as Istio sets
    it: an inbound listener the mesh's `protocolDetectionTimeout` (0s: no limit), an outbound
    one that sniffs no HTTP 0s; on expiry the connection goes on to its filter chains (a
    server-first protocol then reaches the app) instead of Envoy's default, closed at 15 s."""
    listener.listener_filters_timeout.CopyFrom(duration(seconds))
    listener.continue_on_listener_filters_timeout = True


SET_FILTER_STATE = "envoy.filters.network.set_filter_state"


def tcp_alpn_filter() -> lc_pb2.Filter:
    """A network filter that makes a TCP proxy's upstream mTLS offer Istio's TCP ALPN
    (`istio-peer-exchange`, `istio`) whatever its cluster offers for HTTP, as Istio's clusters
    do by default (its HTTP traffic alone asks for `istio-http/*`): the destination's sidecar
    then takes the stream for TCP, on a port whose protocol it detects."""
    value = value_pb2.FilterStateValue(object_key="envoy.network.application_protocols")
    value.format_string.text_format_source.inline_string = ",".join(MTLS_TCP_ALPN)
    return lc_pb2.Filter(
        name=SET_FILTER_STATE,
        typed_config=pack(set_filter_state_pb2.Config(on_new_connection=[value])),
    )


def needs_http_inspector(chains: Sequence[lc_pb2.FilterChain]) -> bool:
    """A plaintext chain chosen by the HTTP version Envoy's http_inspector detects is there."""
    return any(
        c.filter_chain_match.transport_protocol == "raw_buffer"
        and c.filter_chain_match.application_protocols
        for c in chains
    )


def needs_tls_inspector(mode: str) -> bool:
    return mode in (STRICT, PERMISSIVE)


def matches_tls(chains: Sequence[lc_pb2.FilterChain]) -> bool:
    """Whether a chain is chosen by the TLS transport (the TLS inspector must run)."""
    return any(c.filter_chain_match.transport_protocol == "tls" for c in chains)


# ---- outbound -------------------------------------------------------------------------------


def upstream_context(
    service_accounts: Sequence[str], sni: str, *, http: bool, http2: bool
) -> tls_pb2.UpstreamTlsContext:
    """Istio's ISTIO_MUTUAL client context: the workload certificate, the trust bundle, the
    server's identity checked against the service's accounts (secure naming), TLS 1.2 to 1.3."""
    sans = [_uri_matcher(exact=sa) for sa in sorted(set(service_accounts))]
    common = _common_context(sans, client_tls_params())
    if not http:
        common.alpn_protocols.extend(MTLS_TCP_ALPN)
    else:
        common.alpn_protocols.extend(("istio-h2", "h2") if http2 else ("istio-http/1.1",))
    return tls_pb2.UpstreamTlsContext(common_tls_context=common, sni=sni)


def sni(port: int, subset: str, host: str) -> str:
    """Istio's SNI for mesh mTLS: `outbound_.9080_.v1_.reviews.default.svc.cluster.local`."""
    return f"outbound_.{port}_.{subset}_.{host}"


def set_istio_mutual(cluster: cluster_pb2.Cluster, context: tls_pb2.UpstreamTlsContext) -> None:
    cluster.transport_socket.name = TLS_SOCKET
    cluster.transport_socket.typed_config.CopyFrom(pack(context))


def set_auto_mtls(cluster: cluster_pb2.Cluster, context: tls_pb2.UpstreamTlsContext) -> None:
    """Istio's two transport socket matches: mTLS for `tlsMode: istio` endpoints, else plain."""
    istio = cluster_pb2.Cluster.TransportSocketMatch(name=f"{TLS_MODE_KEY}-{TLS_MODE_ISTIO}")
    istio.match.update({TLS_MODE_KEY: TLS_MODE_ISTIO})
    istio.transport_socket.name = TLS_SOCKET
    istio.transport_socket.typed_config.CopyFrom(pack(context))
    plain = cluster_pb2.Cluster.TransportSocketMatch(name=f"{TLS_MODE_KEY}-disabled")
    plain.match.CopyFrom(struct_pb2.Struct())
    plain.transport_socket.name = RAW_SOCKET
    plain.transport_socket.typed_config.CopyFrom(pack(raw_buffer_pb2.RawBuffer()))
    cluster.transport_socket_matches.extend([istio, plain])


def mark_istio_endpoint(metadata: base_pb2.Metadata) -> None:
    metadata.filter_metadata[TRANSPORT_SOCKET_MATCH].update({TLS_MODE_KEY: TLS_MODE_ISTIO})


__all__ = ["DISABLE", "PERMISSIVE", "STRICT"]
