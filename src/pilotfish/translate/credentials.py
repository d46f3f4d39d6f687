"""`credentialName`: TLS material from a `v1 Secret`, delivered to a proxy over SDS on its ADS
stream, for Gateway servers (`gateway_tls_tcp`) and DestinationRule client TLS (`upstream_tls`).

As Istio since CVE-2021-34824, a proxy reads Secrets from its own namespace only, whoever wrote
the Gateway or DestinationRule; `ns/name` naming another namespace finds nothing. A Secret gives
its certificate and key (`tls.crt`/`tls.key`, or generic `cert`/`key`) as
`kubernetes://<name>`, and its CA (`ca.crt`/`cacert`, else the `ca.crt`/`cacert` of a Secret
named `<name>-cacert`) as `kubernetes://<name>-cacert`. Pure: secrets come from the push
context's registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import TlsSecret
from pilotfish.translate import names
from pilotfish.translate.envoy_pb import ads_config_source


def lookup(proxy: Proxy, push: PushContext, name: str) -> TlsSecret | None:
    """The Secret `name` of the proxy's own namespace (None for another namespace's)."""
    namespace, _, short = name.rpartition("/")
    if namespace and namespace != proxy.namespace:
        return None
    return push.registry.secret(proxy.namespace, short)


@dataclass(frozen=True)
class Credential:
    """What a `credentialName` resolved to: SDS secrets to send and to reference."""

    certificate: secret_pb2.Secret | None  # kubernetes://<name>: chain + key
    ca: secret_pb2.Secret | None  # kubernetes://<name>-cacert: the trust anchors

    @property
    def secrets(self) -> list[secret_pb2.Secret]:
        return [s for s in (self.certificate, self.ca) if s is not None]


def resolve(proxy: Proxy, push: PushContext, credential_name: str) -> Credential:
    secret = lookup(proxy, push, credential_name)
    certificate = None
    if secret is not None and secret.certificate and secret.private_key:
        name = names.sds_credential(credential_name)
        certificate = secret_pb2.Secret(
            name=name,
            tls_certificate=common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(inline_string=secret.certificate),
                private_key=base_pb2.DataSource(inline_string=secret.private_key),
            ),
        )
    ca_text = secret.ca_certificate if secret is not None else ""
    if not ca_text:
        other = lookup(proxy, push, f"{credential_name}-cacert")
        ca_text = other.ca_certificate if other is not None else ""
    ca = None
    if ca_text:
        ca = secret_pb2.Secret(
            name=names.sds_credential_ca(credential_name),
            validation_context=common_pb2.CertificateValidationContext(
                trusted_ca=base_pb2.DataSource(inline_string=ca_text)
            ),
        )
    return Credential(certificate, ca)


def sds_reference(secret: secret_pb2.Secret) -> secret_pb2.SdsSecretConfig:
    """A reference to `secret`, fetched over the proxy's ADS stream."""
    return secret_pb2.SdsSecretConfig(name=secret.name, sds_config=ads_config_source())
