"""Gateway servers that carry TLS or plain TCP: HTTPS (SIMPLE, MUTUAL), TLS (PASSTHROUGH or
terminated), TCP, and the SDS secrets of `credentialName`. Plain HTTP servers (and their
`httpsRedirect`) are `gateway_http`; which proxies are gateways is `Proxy.is_gateway`.

Every port with non-HTTP servers becomes one listener `0.0.0.0_<port>` at the gateway address
with one filter chain per server (and per SNI set), chosen by SNI (`server_names` = the
server's hosts; `*` means any), in config order; a repeated SNI set keeps the first server:

- HTTPS, or TLS with mode SIMPLE/MUTUAL: TLS is terminated with a `DownstreamTlsContext`. The
  certificate comes from files (`serverCertificate`, `privateKey`, `caCertificates`: read by
  Envoy) or from `credentialName` (`credentials`: a `v1 Secret` of the gateway workload's
  namespace only, as Istio since CVE-2021-34824, over SDS as `kubernetes://<name>` and, for
  MUTUAL, `kubernetes://<name>-cacert`).
- ISTIO_MUTUAL: the mesh's mTLS, as a sidecar's inbound: the gateway's own workload certificate
  (`default` from its agent), clients must present a certificate of the mesh (`ROOTCA`, trust
  domain) — how sidecars reach an egress gateway in Istio's egress tasks.
  MUTUAL requires a client certificate signed by that CA. `minProtocolVersion`,
  `maxProtocolVersion`, `cipherSuites` and `subjectAltNames` (of the client) are honoured.
  HTTPS servers get an HTTP connection manager with RDS `https.<port>.<index>.<ns>/<gateway>`
  (virtual hosts as for HTTP servers); terminated TLS servers get the VS `tcp` routes.
- TLS or HTTPS PASSTHROUGH (Istio counts an HTTPS server that passes TLS through as a TLS
  server): VS `tls` routes bound to the Gateway; each match's `sniHosts` (within the server's
  hosts) become a chain that forwards the still-encrypted stream.
- TCP: the first VS `tcp` route bound to the Gateway that matches the port.

Pure: secrets come from the push context's registry; nothing is read here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import wrappers_pb2
from google.protobuf.message import Message

from pilotfish.config.ciphers import filter_cipher_suites
from pilotfish.config.hosts import intersect, resolve_host
from pilotfish.config.objects import Diagnostic, Gateway, VirtualService
from pilotfish.config.protocols import L4_FAMILY, TLS_FAMILY
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import credentials, mtls, names
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.envoy_pb import (
    HCM_FILTER,
    TCP_PROXY_FILTER,
    pack,
    socket_address,
)
from pilotfish.translate.gateway_http import (
    GatewayPort,
    gateway_route_config,
    with_blackhole_vhost,
    with_client_address,
)
from pilotfish.translate.listeners import fault_and_cors_filters, http_connection_manager
from pilotfish.translate.mtls import tls_inspector
from pilotfish.translate.tcp import l4_match_applies, tcp_proxy

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        L4MatchAttributes,
        Server,
        TCPRoute,
        TLSMatchAttributes,
        TLSRoute,
        VirtualServiceSpec,
    )

TERMINATING = ("SIMPLE", "MUTUAL", "ISTIO_MUTUAL")
TLS_VERSIONS = {
    "TLS_AUTO": common_pb2.TlsParameters.TLS_AUTO,
    "TLSV1_0": common_pb2.TlsParameters.TLSv1_0,
    "TLSV1_1": common_pb2.TlsParameters.TLSv1_1,
    "TLSV1_2": common_pb2.TlsParameters.TLSv1_2,
    "TLSV1_3": common_pb2.TlsParameters.TLSv1_3,
}
AUTO = common_pb2.TlsParameters.TLS_AUTO
TRANSPORT_SOCKET_TLS = "envoy.transport_sockets.tls"


def _protocol(server: Server) -> str:
    return str(server.port.protocol or "").upper() if server.port is not None else ""


def _mode(server: Server) -> str:
    """The server's TLS mode; none set is PASSTHROUGH, ServerTLSSettings' default (Istio's
    IsPassThroughServer: a `credentialName` without a mode is ignored, `apply` warns)."""
    return str(server.tls.mode or "PASSTHROUGH") if server.tls is not None else ""


def handled_here(server: Server) -> bool:
    """Servers this module serves (the rest are plain HTTP, served by `gateways`)."""
    return _protocol(server) in L4_FAMILY


def _server_names(server: Server) -> list[str]:
    hosts = [h.split("/", 1)[-1] for h in server.hosts or ()]
    return [] if not hosts or "*" in hosts else sorted(set(hosts))


def _tls_context(
    proxy: Proxy,
    gateway: Gateway,
    server: Server,
    push: PushContext,
    secrets: dict[str, Message],
    report: Callable[[str], None],
) -> tls_pb2.DownstreamTlsContext | None:
    tls = server.tls
    if tls is None:
        return None
    if _mode(server) == "ISTIO_MUTUAL":  # the gateway's own workload certificate, mesh peers
        return mtls.downstream_context(push.mesh.trust_domain, http=_protocol(server) == "HTTPS")
    common = tls_pb2.CommonTlsContext()
    params = common.tls_params
    if tls.min_protocol_version:  # a number naming no version: TLS_AUTO, as Istio maps it
        params.tls_minimum_protocol_version = TLS_VERSIONS.get(str(tls.min_protocol_version), AUTO)
    if tls.max_protocol_version:
        params.tls_maximum_protocol_version = TLS_VERSIONS.get(str(tls.max_protocol_version), AUTO)
    params.cipher_suites.extend(filter_cipher_suites(tls.cipher_suites))  # as Istio: no NACK
    mutual = _mode(server) == "MUTUAL"
    validation = common_pb2.CertificateValidationContext()
    for san in tls.subject_alt_names:
        validation.match_typed_subject_alt_names.append(
            common_pb2.SubjectAltNameMatcher(
                san_type=common_pb2.SubjectAltNameMatcher.DNS,
                matcher=string_pb2.StringMatcher(exact=san),
            )
        )
    if tls.credential_name:
        credential = credentials.resolve(proxy, push, tls.credential_name)
        if credential.certificate is None:
            report(
                f"credentialName {tls.credential_name!r}: no such TLS Secret in "
                f"{proxy.namespace}, the gateway's namespace (a gateway reads Secrets from its "
                "own namespace only, as Istio since CVE-2021-34824)"
            )
            return None
        secrets[credential.certificate.name] = credential.certificate
        common.tls_certificate_sds_secret_configs.append(
            credentials.sds_reference(credential.certificate)
        )
        if mutual:
            if credential.ca is None:
                report(f"MUTUAL credentialName {tls.credential_name!r}: no ca.crt")
                return None
            secrets[credential.ca.name] = credential.ca
            combined = common.combined_validation_context
            combined.default_validation_context.CopyFrom(validation)
            combined.validation_context_sds_secret_config.CopyFrom(
                credentials.sds_reference(credential.ca)
            )
    elif tls.server_certificate and tls.private_key:
        common.tls_certificates.append(
            common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(filename=tls.server_certificate),
                private_key=base_pb2.DataSource(filename=tls.private_key),
            )
        )
        if mutual:
            if not tls.ca_certificates:
                report("MUTUAL needs caCertificates or credentialName")
                return None
            validation.trusted_ca.CopyFrom(base_pb2.DataSource(filename=tls.ca_certificates))
            common.validation_context.CopyFrom(validation)
    else:
        report("a TLS server needs credentialName or serverCertificate and privateKey")
        return None
    context = tls_pb2.DownstreamTlsContext(common_tls_context=common)
    if mutual:
        context.require_client_certificate.CopyFrom(wrappers_pb2.BoolValue(value=True))
    if _protocol(server) == "HTTPS":  # as Istio's gateways: HTTP/2 when the client offers it
        # (the constructor above copied `common`: set it on the context's own copy)
        context.common_tls_context.alpn_protocols.extend(["h2", "http/1.1"])
    return context


R = TypeVar("R", "TCPRoute", "TLSRoute")


def _l4_routes(
    push: PushContext, gateway: Gateway, routes_of: Callable[[VirtualServiceSpec], Sequence[R]]
) -> list[tuple[VirtualService, int, R]]:
    """(VirtualService, index, route) of the `tcp` or `tls` routes bound to the Gateway."""
    key = f"{gateway.meta.namespace}/{gateway.meta.name}"
    return [
        (vs, index, route)
        for vs in push.gateway_virtual_services(key)
        for index, route in enumerate(routes_of(vs.spec))
    ]


def _applies(
    match: L4MatchAttributes | TLSMatchAttributes,
    vs: VirtualService,
    gateway: Gateway,
    port: int,
    proxy: Proxy,
) -> bool:
    return l4_match_applies(
        match,
        port=port,
        gateway=f"{gateway.meta.namespace}/{gateway.meta.name}",
        vs_namespace=vs.meta.namespace,
        labels=proxy.label_map,
        namespace=proxy.namespace,
    )


def _server_chains(
    proxy: Proxy,
    push: PushContext,
    clusters: Mapping[str, OutboundClusterSpec],
    gateway: Gateway,
    index: int,
    server: Server,
    secrets: dict[str, Message],
    routes: list[Message],
    diagnostics: list[Diagnostic],
) -> list[lc_pb2.FilterChain]:
    port = (server.port.number if server.port is not None else None) or 0
    key = f"{gateway.meta.namespace}/{gateway.meta.name}"

    def report(text: str) -> None:
        diagnostics.append(gateway.diagnostic(text, f"spec.servers[{index}]"))

    protocol, mode = _protocol(server), _mode(server)
    stat = f"{key}.{port}"
    # an HTTPS server that passes TLS through is a TLS server, as Istio's IsHTTPServer says
    if protocol in TLS_FAMILY and mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH"):
        chains = []
        for vs, route_index, route in _l4_routes(push, gateway, lambda spec: spec.tls):
            for match in route.match or ():
                sni = sorted(
                    host
                    for written in match.sni_hosts
                    for server_host in server.hosts or ("*",)
                    if (
                        host := intersect(
                            resolve_host(written, vs.meta.namespace), server_host.split("/", 1)[-1]
                        )
                    )
                    and host != "*"
                )
                if not sni or not _applies(match, vs, gateway, port, proxy):
                    continue
                proxy_filter = tcp_proxy(
                    stat, vs, route, port, push, clusters, diagnostics, f"spec.tls[{route_index}]"
                )
                chains.append(
                    lc_pb2.FilterChain(
                        filter_chain_match=lc_pb2.FilterChainMatch(server_names=sni),
                        filters=[
                            mtls.tcp_alpn_filter(),
                            lc_pb2.Filter(
                                name=TCP_PROXY_FILTER,
                                typed_config=pack(proxy_filter),
                            ),
                        ],
                    )
                )
        return chains
    match = lc_pb2.FilterChainMatch(server_names=_server_names(server))
    chain = lc_pb2.FilterChain(filter_chain_match=match, name=f"{key}.{index}")
    if protocol in TLS_FAMILY:
        if mode not in TERMINATING:
            report(f"TLS mode {mode} is not served on gateways")
            return []
        context = _tls_context(proxy, gateway, server, push, secrets, report)
        if context is None:
            return []
        chain.transport_socket.name = TRANSPORT_SOCKET_TLS
        chain.transport_socket.typed_config.CopyFrom(pack(context))
        match.transport_protocol = "tls"
    if protocol == "HTTPS":
        config = gateway_route_config(
            GatewayPort(port, [(gateway, server)]), push, clusters, diagnostics
        )
        config.name = names.gateway_tls_route_config(port, key, index)
        routes.append(with_client_address(with_blackhole_vhost(config, port)))
        manager = http_connection_manager(
            f"outbound_0.0.0.0_{port}", config.name, fault_and_cors_filters(), gateway=True
        )
        chain.filters.append(lc_pb2.Filter(name=HCM_FILTER, typed_config=pack(manager)))
        return [chain]
    tcp_routes = [
        (vs, i, r)
        for vs, i, r in _l4_routes(push, gateway, lambda spec: spec.tcp)
        if not r.match or any(_applies(m, vs, gateway, port, proxy) for m in r.match)
    ]
    first: tuple[VirtualService | None, int, TCPRoute | None] = (
        tcp_routes[0] if tcp_routes else (None, 0, None)
    )
    tcp_vs, route_index, tcp_route = first
    if tcp_route is None:
        report(f"{protocol} server on port {port} has no VirtualService tcp route: not served")
        return []
    proxy_filter = tcp_proxy(
        stat, tcp_vs, tcp_route, port, push, clusters, diagnostics, f"spec.tcp[{route_index}]"
    )
    chain.filters.append(lc_pb2.Filter(name=TCP_PROXY_FILTER, typed_config=pack(proxy_filter)))
    return [chain]


def gateway_tls_resources(
    proxy: Proxy,
    push: PushContext,
    clusters: Mapping[str, OutboundClusterSpec],
    diagnostics: list[Diagnostic],
) -> list[Message]:
    """Listeners (one per port), HTTPS route configurations and SDS secrets of the gateway."""
    by_port: dict[int, list[tuple[Gateway, int, Server]]] = {}
    for gateway in push.gateways_for(proxy.label_map):
        for index, server in enumerate(gateway.spec.servers or ()):
            if server.port is not None and server.port.number and handled_here(server):
                by_port.setdefault(server.port.number, []).append((gateway, index, server))
    messages: list[Message] = []
    secrets: dict[str, Message] = {}
    for port, servers in sorted(by_port.items()):
        chains: list[lc_pb2.FilterChain] = []
        seen: set[tuple[str, ...]] = set()
        for gateway, index, server in servers:
            for chain in _server_chains(
                proxy, push, clusters, gateway, index, server, secrets, messages, diagnostics
            ):
                sni = tuple(chain.filter_chain_match.server_names)
                if sni in seen:
                    continue
                seen.add(sni)
                chains.append(chain)
        if not chains:
            continue
        listener = listener_pb2.Listener(
            name=names.gateway_listener(port),
            address=socket_address(proxy.bind_address, port),
            traffic_direction=base_pb2.OUTBOUND,
            filter_chains=chains,
        )
        if any(
            c.filter_chain_match.server_names or c.filter_chain_match.transport_protocol
            for c in chains
        ):
            listener.listener_filters.append(tls_inspector())
        messages.append(listener)
    messages.extend(secrets[name] for name in sorted(secrets))
    return messages
