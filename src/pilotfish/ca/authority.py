"""`CertificateAuthority`: signs workload certificates the way Istio's CA does.

The identity in the certificate is the authenticated caller's, never the CSR's: a CSR whose SANs
name anyone else, that carries other SANs (DNS, IP, e-mail, a second URI), whose signature does
not verify, that is not PEM, or that asks for a lifetime above the maximum (or not positive) is
refused with `CsrRejected`, and nothing is signed. A lifetime of 0 means the default (24 h).
The response chain is Istio's `cert_chain`: the leaf, then the intermediates, then the roots of
the trust bundle (several during a root change).
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pilotfish.ca import certs
from pilotfish.ca.errors import CaStateError, CsrRejected
from pilotfish.ca.identity import Identity

DEFAULT_TTL = datetime.timedelta(hours=24)
MAX_TTL = datetime.timedelta(days=90)
MAX_CSR_BYTES = 64 * 1024


@dataclass(frozen=True)
class SigningMaterial:
    """The signer (a root or an intermediate), its key, the chain from it up to (excluding) the
    root, and the trust bundle (one root, or two while a root change is under way)."""

    signer: x509.Certificate
    key: certs.PrivateKey
    chain: tuple[x509.Certificate, ...]
    roots: tuple[x509.Certificate, ...]
    source: str  # where it came from, for logs and errors ("self-signed", "secret ...", a path)

    def check(self) -> None:
        """Raises CaStateError unless the key matches the signer, the signer may sign, and the
        chain leads to a root of the bundle."""
        if _public_der(self.key.public_key()) != _public_der(self.signer.public_key()):
            raise CaStateError(f"{self.source}: the CA key does not match the CA certificate")
        try:
            constraints = self.signer.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound as exc:
            raise CaStateError(
                f"{self.source}: the CA certificate is not a CA (no CA=true)"
            ) from exc
        if not constraints.value.ca:
            raise CaStateError(f"{self.source}: the CA certificate is not a CA (CA=false)")
        if not self.roots:
            raise CaStateError(f"{self.source}: no root certificate")
        names = [r.subject.rfc4514_string() for r in self.roots]
        if len(set(names)) != len(names):
            # Envoy (BoringSSL) finds an issuer by name: with two roots named alike, half the
            # chains are checked against the wrong root and every such handshake fails.
            raise CaStateError(
                f"{self.source}: root-cert.pem holds two roots with the same subject "
                f"({sorted(n for n in names if names.count(n) > 1)[0]}); give the new root "
                "its own subject"
            )
        path = [self.signer, *self.chain]
        for child, parent in itertools.pairwise(path):
            _verify_issued(child, parent, self.source)
        top = path[-1]
        if not any(_issued_by(top, root) for root in self.roots):
            raise CaStateError(
                f"{self.source}: the CA certificate does not chain to a root of root-cert.pem"
            )

    @property
    def roots_pem(self) -> str:
        return certs.bundle(self.roots)


def _public_der(key: Any) -> bytes:
    der: bytes = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return der


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child == parent:
        return True
    try:
        child.verify_directly_issued_by(parent)
    except (InvalidSignature, ValueError, TypeError):  # not this parent
        return False
    return True


def _verify_issued(child: x509.Certificate, parent: x509.Certificate, source: str) -> None:
    if not _issued_by(child, parent):
        raise CaStateError(
            f"{source}: cert-chain.pem is broken: a certificate is not issued by the next"
        )


@dataclass(frozen=True)
class CertificateAuthority:
    material: SigningMaterial
    trust_domain: str = "cluster.local"
    default_ttl: datetime.timedelta = DEFAULT_TTL
    max_ttl: datetime.timedelta = MAX_TTL

    def sign(
        self, csr_pem: str, caller: Identity, ttl_seconds: int, now: datetime.datetime
    ) -> list[str]:
        """Sign `csr_pem` for `caller`; returns Istio's cert_chain (leaf, chain, roots)."""
        csr = _parse_csr(csr_pem)
        wanted = Identity(caller.namespace, caller.service_account, self.trust_domain).uri
        _check_sans(csr, wanted)
        lifetime = self._lifetime(ttl_seconds)
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise CsrRejected("the CSR's key must be EC or RSA")
        _check_key_strength(public_key)
        leaf = certs.workload_leaf(
            public_key, wanted, self.material.signer, self.material.key, now, lifetime
        )
        chain = [leaf, *self.intermediates()]
        return [certs.cert_pem(c) for c in chain] + [certs.cert_pem(r) for r in self.material.roots]

    def intermediates(self) -> list[x509.Certificate]:
        """The signer and the certificates above it, without the roots."""
        path = [self.material.signer, *self.material.chain]
        return [c for c in path if c not in self.material.roots]

    def _lifetime(self, ttl_seconds: int) -> datetime.timedelta:
        if ttl_seconds < 0:
            raise CsrRejected(f"requested lifetime {ttl_seconds}s must not be negative")
        if ttl_seconds == 0:
            return min(self.default_ttl, self.max_ttl)
        lifetime = datetime.timedelta(seconds=ttl_seconds)
        if lifetime > self.max_ttl:
            raise CsrRejected(
                f"requested lifetime {ttl_seconds}s is greater than the maximum allowed "
                f"{int(self.max_ttl.total_seconds())}s"
            )
        return lifetime


def _parse_csr(csr_pem: str) -> x509.CertificateSigningRequest:
    if not csr_pem or len(csr_pem) > MAX_CSR_BYTES:
        raise CsrRejected(f"the CSR is empty or larger than {MAX_CSR_BYTES} bytes")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        valid = csr.is_signature_valid
        csr.public_key()
    except (
        ValueError,
        TypeError,
        UnicodeEncodeError,
        UnsupportedAlgorithm,
        x509.InvalidVersion,
    ) as exc:
        raise CsrRejected(f"malformed CSR: {exc}") from exc
    if not valid:
        raise CsrRejected("malformed CSR: its signature does not verify")
    return csr


def _check_sans(csr: x509.CertificateSigningRequest, wanted: str) -> None:
    """A CSR may name the caller's own identity (one URI SAN) or nothing; anything else is an
    attempt at another identity or extra names."""
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return
    except (ValueError, TypeError) as exc:
        raise CsrRejected(f"malformed CSR extensions: {exc}") from exc
    names = list(sans)
    uris = [n.value for n in names if isinstance(n, x509.UniformResourceIdentifier)]
    others = [n for n in names if not isinstance(n, x509.UniformResourceIdentifier)]
    if others:
        raise CsrRejected(
            f"the CSR asks for extra SANs ({', '.join(str(n.value) for n in others)}); "
            f"only {wanted} may be requested"
        )
    if len(uris) > 1:
        raise CsrRejected(
            f"the CSR asks for {len(uris)} URI SANs; exactly one ({wanted}) is allowed"
        )
    if uris and uris[0] != wanted:
        raise CsrRejected(
            f"the CSR asks for identity {uris[0]} but the caller is authenticated as {wanted}"
        )


def _check_key_strength(key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> None:
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise CsrRejected(f"RSA key of {key.key_size} bits is too weak (2048 at least)")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 256:
        raise CsrRejected(f"EC key on {key.curve.name} is too weak (P-256 at least)")
