"""Gateway (networking.istio.io v1/v1beta1/v1alpha3): servers, ports and server TLS settings.

Class names are Istio's proto message names; attributes are the snake_case of the API fields, with
the camelCase as alias. Validation beyond types lives in `pilotfish.config.validation`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pilotfish.config.models.base import Bool, EnumNumber, Int, IstioModel, Str


class Port(IstioModel):
    name: Str | None = None
    number: Int | None = None
    protocol: Str | None = None
    target_port: Int | None = None


class TLSCertificate(IstioModel):
    ca_certificates: Str | None = None
    private_key: Str | None = None
    server_certificate: Str | None = None


class ServerTLSSettings(IstioModel):
    ca_cert_credential_name: Str | None = None
    ca_certificates: Str | None = None
    ca_crl: Str | None = None
    cipher_suites: tuple[Str, ...] = ()
    credential_name: Str | None = None
    credential_names: tuple[Str, ...] = ()
    ecdh_curves: tuple[Str, ...] = ()
    https_redirect: Bool | None = None
    insecure_skip_verify: Bool | None = None
    max_protocol_version: (
        Literal["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"] | EnumNumber | None
    ) = None
    min_protocol_version: (
        Literal["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"] | EnumNumber | None
    ) = None
    mode: (
        Literal[
            "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"
        ]
        | EnumNumber
        | None
    ) = None
    private_key: Str | None = None
    server_certificate: Str | None = None
    subject_alt_names: tuple[Str, ...] = ()
    tls_certificates: tuple[TLSCertificate, ...] = ()
    verify_certificate_hash: tuple[Str, ...] = ()
    verify_certificate_spki: tuple[Str, ...] = ()


class Server(IstioModel):
    bind: Str | None = None
    default_endpoint: Str | None = None
    hosts: tuple[Str, ...] = ()
    name: Str | None = None
    port: Port | None = None
    tls: ServerTLSSettings | None = None


class GatewaySpec(IstioModel):
    selector: dict[str, Str] = Field(default_factory=dict)
    servers: tuple[Server, ...] = ()
