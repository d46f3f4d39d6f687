"""Istio's semantic checks of a Gateway: servers, hosts (`namespace/host`), ports and protocols,
unique port names, and server TLS settings."""

from __future__ import annotations

from pilotfish.config.ciphers import cipher_warnings
from pilotfish.config.formats import is_ip, namespaced_host_problem, unix_address_problem
from pilotfish.config.models.networking import GatewaySpec, Server
from pilotfish.config.protocols import HTTP_FAMILY, ISTIO_PROTOCOLS, TLS_FAMILY
from pilotfish.config.schema import Problem
from pilotfish.config.validation.common import Findings


def validate_gateway(spec: GatewaySpec) -> list[Problem]:
    found = Findings()
    if not spec.servers:
        found.error("spec.servers", "gateway must have at least one server")
    port_names: dict[str, int] = {}
    for index, server in enumerate(spec.servers):
        path = f"spec.servers[{index}]"
        _server(found, path, server)
        name = server.port.name if server.port is not None else None
        if name:
            if name in port_names:
                message = f"port names in servers must be unique: duplicate name {name}"
                found.error(f"{path}.port.name", message)
            port_names.setdefault(name, index)
    found.labels("spec.selector", spec.selector)
    return found.problems


def _server(found: Findings, path: str, server: Server) -> None:
    if not server.hosts:
        found.error(f"{path}.hosts", "server config must contain at least one host")
    for index, host in enumerate(server.hosts):
        found.add(f"{path}.hosts[{index}]", namespaced_host_problem(host, gateway=True))
    port = server.port
    if port is None:
        found.error(f"{path}.port", "port is required")
        return
    if port.number or not (server.bind or "").startswith("unix://"):
        found.port(f"{path}.port.number", port.number)  # 0 is a unix socket's
    if port.target_port is not None:
        found.port(f"{path}.port.targetPort", port.target_port, "target port")
    protocol = (port.protocol or "").upper()
    if protocol not in ISTIO_PROTOCOLS:
        found.error(
            f"{path}.port.protocol",
            f'invalid protocol "{port.protocol or ""}", supported protocols are HTTP, HTTP2, GRPC, '
            "GRPC-WEB, MONGO, REDIS, MYSQL, TCP",
        )
    if not port.name:
        found.error(f"{path}.port.name", "port name is required")
    if server.bind and not (is_ip(server.bind) or server.bind.startswith("unix://")):
        found.error(f"{path}.bind", f'bind "{server.bind}" must be an IP address or unix:// path')
    elif server.bind and server.bind.startswith("unix://"):
        found.add(f"{path}.bind", unix_address_problem(server.bind[len("unix://") :]))
    tls = server.tls
    if protocol in TLS_FAMILY and tls is None:
        found.error(f"{path}.tls", f"server must have TLS settings for {protocol} protocol")
    if tls is None:
        return
    t_path = f"{path}.tls"
    _plain_text_tls(found, t_path, protocol, server)
    if tls.min_protocol_version in ("TLSV1_0", "TLSV1_1") and not tls.cipher_suites:
        found.warn(
            f"{t_path}.minProtocolVersion",
            "TLS version below TLSV1_2 require setting compatible ciphers as by default they no "
            "longer include compatible ciphers.",
        )
    for message in cipher_warnings(tls.cipher_suites):
        found.warn(f"{t_path}.cipherSuites", message)
    certificates = [
        tls.ca_crl, tls.server_certificate, tls.private_key, tls.ca_certificates,
        tls.tls_certificates, tls.credential_name, tls.credential_names,
    ]  # fmt: skip
    mode = tls.mode or "PASSTHROUGH"  # the proto's default
    if mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH") and any(certificates):
        found.warn(t_path, f"{mode} mode does not use certificates, they will be ignored")
    has_credential = bool(tls.credential_name or tls.credential_names)
    if tls.mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL") and not has_credential:
        # every certificate of tlsCertificates, else the server's own pair, must be complete
        label = "SIMPLE TLS" if tls.mode == "SIMPLE" else "MUTUAL TLS"
        pairs = [
            (f"{t_path}.tlsCertificates[{i}].", c.server_certificate, c.private_key)
            for i, c in enumerate(tls.tls_certificates)
        ] or [(f"{t_path}.", tls.server_certificate, tls.private_key)]
        for prefix, certificate, key in pairs:
            if not certificate:
                found.error(
                    f"{prefix}serverCertificate",
                    f"{label} requires a server certificate",
                )
            if not key:
                found.error(f"{prefix}privateKey", f"{label} requires a private key")
        if tls.mode != "SIMPLE" and not tls.ca_certificates:
            found.error(f"{t_path}.caCertificates", "MUTUAL TLS requires a client CA bundle")
    if tls.credential_name and tls.credential_names:
        found.error(t_path, "only one of credentialName and credentialNames may be set")
    if tls.credential_names and tls.tls_certificates:
        found.error(t_path, "only one of credentialNames and tlsCertificates may be set")


def _plain_text_tls(found: Findings, path: str, protocol: str, server: Server) -> None:
    """TLS settings on a port that is not HTTPS/TLS: on HTTP only a passthrough mode (the
    default) without certificates, for `httpsRedirect`; elsewhere none. `httpsRedirect` on
    anything but HTTP is ignored (a warning)."""
    tls = server.tls
    if tls is None or protocol not in ISTIO_PROTOCOLS:
        return
    if tls.https_redirect and protocol not in HTTP_FAMILY | {"HTTP_PROXY"}:
        found.warn(
            f"{path}.httpsRedirect", "tls.httpsRedirect should only be used with http servers"
        )
    if protocol in TLS_FAMILY:
        return
    if protocol not in HTTP_FAMILY | {"HTTP_PROXY"}:
        found.error(path, "server cannot have TLS settings for non HTTPS/TLS ports")
        return
    passthrough = tls.mode in (None, "PASSTHROUGH", "AUTO_PASSTHROUGH")
    if not passthrough or tls.ca_certificates or tls.private_key or tls.server_certificate:
        found.error(path, "server cannot have TLS settings for plain text HTTP ports")
