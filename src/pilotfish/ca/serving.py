"""The control plane's own serving certificate for 15012 (xDS + CA over TLS), as istiod's DNS
certificate: issued by the mesh CA for identity `istiod` in `istio-system` with DNS names
`istiod.istio-system.svc`, `istiod` and the control plane's address; 24 h by default (Istio's
workload certificate lifetime) and renewed at half its lifetime, or at once when the CA's signer
changes (a plug-in `cacerts` applied).

gRPC asks `ServingCertificate` for the certificate at every new TLS handshake
(`grpc.dynamic_ssl_server_credentials`), so a renewal serves new connections and leaves those
already open (agents' streams) untouched: a TLS session does not need its certificate again.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from cryptography import x509

from pilotfish.ca import certs
from pilotfish.ca.authority import CertificateAuthority
from pilotfish.ca.identity import Identity

log = logging.getLogger("pilotfish.ca.serving")

CONTROL_PLANE_NAMES = ("istiod.istio-system.svc", "istiod")
SERVING_CERT_TTL = datetime.timedelta(hours=24)
RENEW_AT = 0.5  # of the lifetime, as Istio's grace period ratio


@dataclass(frozen=True)
class Issued:
    key_pem: str
    chain_pem: str  # the leaf, then the intermediates up to (excluding) the root
    leaf: x509.Certificate
    signer: x509.Certificate
    renew_at: datetime.datetime


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class ServingCertificate:
    def __init__(
        self,
        authority: Callable[[], CertificateAuthority],
        address: str,
        lifetime: datetime.timedelta = SERVING_CERT_TTL,
        clock: Callable[[], datetime.datetime] = _now,
    ) -> None:
        self.authority = authority
        self.address = address
        self.lifetime = lifetime
        self.clock = clock
        self.renewals = 0
        self._lock = threading.Lock()  # gRPC may ask from its own threads
        self.current = self._issue()

    def _issue(self) -> Issued:
        authority = self.authority()
        material = authority.material
        key = certs.generate_key()
        now = self.clock()
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in CONTROL_PLANE_NAMES]
        with contextlib.suppress(ValueError):
            names.append(x509.IPAddress(ipaddress.ip_address(self.address)))
        leaf = certs.workload_leaf(
            key.public_key(),
            Identity("istio-system", "istiod", authority.trust_domain).uri,
            material.signer,
            material.key,
            now,
            self.lifetime,
            names,
        )
        lived = leaf.not_valid_after_utc - now
        return Issued(
            key_pem=certs.key_pem(key),
            chain_pem=certs.bundle([leaf, *authority.intermediates()]),
            leaf=leaf,
            signer=material.signer,
            renew_at=now + lived * RENEW_AT,
        )

    def due(self) -> bool:
        """Half the lifetime has passed, or the CA signs with another certificate now."""
        return (
            self.clock() >= self.current.renew_at
            or self.authority().material.signer != self.current.signer
        )

    def refresh(self) -> bool:
        """Renew if due; True when a new certificate was issued."""
        with self._lock:
            if not self.due():
                return False
            self.current = self._issue()
            self.renewals += 1
        log.info(
            "renewed the control plane's serving certificate (serial %x, until %s)",
            self.current.leaf.serial_number,
            self.current.leaf.not_valid_after_utc.isoformat(),
        )
        return True

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        pair = (self.current.key_pem.encode(), self.current.chain_pem.encode())
        return grpc.ssl_server_certificate_configuration([pair])

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's callback before a handshake: a new configuration, or None to keep the one
        it has. Never raises (a failure keeps the current certificate and is logged)."""
        try:
            return self._configuration() if self.refresh() else None
        except Exception:  # the CA is unusable right now: keep serving the current one
            log.exception("cannot renew the control plane's serving certificate")
            return None

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(self._configuration(), self._fetch)
