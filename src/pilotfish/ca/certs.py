"""X.509 building blocks (with `cryptography`): keys, the self-signed root, workload leaves,
CSRs, PEM bundles, and a certificate's summary (what `proxy-config secret` prints).

Facts from Istio's CA: a self-signed root lives 10 years, is named `O=<trust domain>` and may
only sign (keyCertSign|cRLSign, CA=true); a workload leaf has an empty subject, exactly one URI
SAN (critical, since the subject is empty), KeyUsage digitalSignature|keyEncipherment (critical),
EKU serverAuth+clientAuth, CA=false, NotBefore backdated 2 minutes and NotAfter never past its
signer's. Workload keys (made by the agent) follow Istio's agent: RSA 2048 unless ECDSA is asked
for (`pilotfish.config.proxy_metadata`); the mesh's own root and the control plane's serving key
are ECDSA P-256.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyAlgorithm = Literal["EC", "EC-P384", "RSA", "RSA-3072", "RSA-4096"]
KEY_ALGORITHMS: tuple[KeyAlgorithm, ...] = ("EC", "EC-P384", "RSA", "RSA-3072", "RSA-4096")
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
ROOT_LIFETIME = datetime.timedelta(days=3650)
BACKDATE = datetime.timedelta(minutes=2)


def key_algorithm(name: str) -> KeyAlgorithm:
    """`name` as a KeyAlgorithm; raises ValueError for anything else."""
    for known in KEY_ALGORITHMS:
        if name == known:
            return known
    raise ValueError(f"unknown key algorithm {name!r} (one of {', '.join(KEY_ALGORITHMS)})")


def generate_key(algorithm: KeyAlgorithm = "EC") -> PrivateKey:
    """`EC` is P-256, `EC-P384` P-384, `RSA` 2048 bits, `RSA-<bits>` that many."""
    if algorithm.startswith("RSA"):
        bits = int(algorithm.partition("-")[2] or 2048)
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if algorithm == "EC-P384":
        return ec.generate_private_key(ec.SECP384R1())
    return ec.generate_private_key(ec.SECP256R1())


def key_description(key: object) -> str:
    """`RSA 2048` or `EC P-256` (`secp256r1` named as TLS names it), for status and tests."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return {"secp256r1": "EC P-256", "secp384r1": "EC P-384"}.get(
            key.curve.name, f"EC {key.curve.name}"
        )
    return type(key).__name__


def key_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def load_key(pem: str) -> PrivateKey:
    """Raises ValueError when `pem` is not an unencrypted EC or RSA private key."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError("only EC and RSA keys are supported")
    return key


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def load_certs(pem: str) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, in order. Raises ValueError if there is none."""
    certs = x509.load_pem_x509_certificates(pem.encode())
    if not certs:
        raise ValueError("no certificate found")
    return certs


def bundle(certs: Sequence[x509.Certificate]) -> str:
    return "".join(cert_pem(c) for c in certs)


def _hash_for(key: PrivateKey) -> hashes.SHA256:
    return hashes.SHA256()


def self_signed_root(
    key: PrivateKey, trust_domain: str, now: datetime.datetime, lifetime: datetime.timedelta
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, _hash_for(key))
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def intermediate(
    key: PrivateKey,
    signer: x509.Certificate,
    signer_key: PrivateKey,
    name: str,
    now: datetime.datetime,
    lifetime: datetime.timedelta,
) -> x509.Certificate:
    """An intermediate CA certificate (what a plug-in `ca-cert.pem` usually is)."""
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)]))
        .issuer_name(signer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + lifetime, signer.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .sign(signer_key, _hash_for(signer_key))
    )


def workload_leaf(
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    uri: str,
    signer: x509.Certificate,
    signer_key: PrivateKey,
    now: datetime.datetime,
    lifetime: datetime.timedelta,
    extra_names: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    """A workload leaf (exactly one URI SAN); `extra_names` only for the control plane's own
    serving certificate (its DNS names and address)."""
    not_after = min(now + lifetime, signer.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(signer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri), *extra_names]),
            critical=True,
        )
        .sign(signer_key, _hash_for(signer_key))
    )


def csr_for(key: PrivateKey, uri: str) -> str:
    """The CSR an agent sends: no subject, its own identity as the one URI SAN."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=True
        )
        .sign(key, _hash_for(key))
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def uri_sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(x509.UniformResourceIdentifier))


@dataclass(frozen=True)
class CertSummary:
    """What istioctl's `proxy-config secret` shows of a certificate."""

    serial: str
    not_before: str
    not_after: str
    identities: tuple[str, ...]
    issuer: str
    is_ca: bool
    key: str = ""  # "RSA 2048", "EC P-256"


def summarize(cert: x509.Certificate) -> CertSummary:
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertSummary(
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        not_after=cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        identities=tuple(uri_sans(cert)),
        issuer=cert.issuer.rfc4514_string(),
        is_ca=is_ca,
        key=key_description(cert.public_key()),
    )
