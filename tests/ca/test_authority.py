"""The CA's signing rules, attacked as a caller would: impersonation, extra SANs, lifetimes,
malformed CSRs, missing and foreign tokens; and the leaf's shape (Istio's fields)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pilotfish.ca import certs
from pilotfish.ca.authority import CertificateAuthority, SigningMaterial
from pilotfish.ca.errors import CsrRejected, Unauthenticated
from pilotfish.ca.identity import Identity, parse_spiffe_id
from pilotfish.ca.service import CaService, CertificateRequest
from pilotfish.ca.tokens import TokenRegistry

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
ME = Identity("foo", "sleep")
MY_URI = "spiffe://cluster.local/ns/foo/sa/sleep"


@pytest.fixture(scope="module")
def authority() -> CertificateAuthority:
    key = certs.generate_key("EC")
    root = certs.self_signed_root(key, "cluster.local", NOW, certs.ROOT_LIFETIME)
    return CertificateAuthority(SigningMaterial(root, key, (), (root,), "test"))


def _csr(key: certs.PrivateKey, names: list[x509.GeneralName] | None = None) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def test_leaf_has_istios_shape(authority: CertificateAuthority) -> None:
    key = certs.generate_key()
    chain = authority.sign(certs.csr_for(key, MY_URI), ME, 3600, NOW)
    leaf = x509.load_pem_x509_certificate(chain[0].encode())
    assert certs.uri_sans(leaf) == [MY_URI]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and len(list(san.value)) == 1
    assert leaf.subject == x509.Name([])
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.key_encipherment
    assert not usage.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.not_valid_before_utc == NOW - datetime.timedelta(minutes=2)
    assert leaf.not_valid_after_utc == NOW + datetime.timedelta(hours=1)
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    leaf.verify_directly_issued_by(authority.material.signer)
    assert chain[-1] == certs.cert_pem(authority.material.roots[0])


def test_default_lifetime_is_24h_and_a_csr_without_sans_gets_the_callers_identity(
    authority: CertificateAuthority,
) -> None:
    chain = authority.sign(_csr(certs.generate_key()), ME, 0, NOW)
    leaf = x509.load_pem_x509_certificate(chain[0].encode())
    assert certs.uri_sans(leaf) == [MY_URI]
    assert leaf.not_valid_after_utc - NOW == datetime.timedelta(hours=24)


def test_rsa_2048_keys_are_signed_and_weak_ones_refused(authority: CertificateAuthority) -> None:
    chain = authority.sign(certs.csr_for(certs.generate_key("RSA"), MY_URI), ME, 60, NOW)
    assert isinstance(
        x509.load_pem_x509_certificate(chain[0].encode()).public_key(), rsa.RSAPublicKey
    )
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(CsrRejected, match="too weak"):
        authority.sign(_csr(weak), ME, 60, NOW)


def test_not_after_never_passes_the_signers() -> None:
    key = certs.generate_key()
    root = certs.self_signed_root(key, "cluster.local", NOW, datetime.timedelta(hours=2))
    ca = CertificateAuthority(SigningMaterial(root, key, (), (root,), "short"))
    chain = ca.sign(certs.csr_for(certs.generate_key(), MY_URI), ME, 86400, NOW)
    leaf = x509.load_pem_x509_certificate(chain[0].encode())
    assert leaf.not_valid_after_utc == root.not_valid_after_utc


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([x509.UniformResourceIdentifier("spiffe://cluster.local/ns/foo/sa/admin")], "caller is"),
        ([x509.UniformResourceIdentifier("spiffe://evil.org/ns/foo/sa/sleep")], "caller is"),
        ([x509.UniformResourceIdentifier(MY_URI + "/x")], "caller is"),
        (
            [
                x509.UniformResourceIdentifier(MY_URI),
                x509.UniformResourceIdentifier("spiffe://cluster.local/ns/bar/sa/x"),
            ],
            "exactly one",
        ),
        ([x509.UniformResourceIdentifier(MY_URI), x509.DNSName("httpbin.foo")], "extra SANs"),
        ([x509.IPAddress(ipaddress.ip_address("10.0.0.1"))], "extra SANs"),
        ([x509.RFC822Name("a@b.c")], "extra SANs"),
    ],
)
def test_csr_naming_anyone_else_or_more_is_refused(
    authority: CertificateAuthority, names: list[x509.GeneralName], message: str
) -> None:
    with pytest.raises(CsrRejected, match=message):
        authority.sign(_csr(certs.generate_key(), names), ME, 60, NOW)


def test_subject_common_name_does_not_leak_into_the_leaf(authority: CertificateAuthority) -> None:
    key = certs.generate_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    leaf = x509.load_pem_x509_certificate(authority.sign(csr, ME, 60, NOW)[0].encode())
    assert leaf.subject == x509.Name([]) and certs.uri_sans(leaf) == [MY_URI]


@pytest.mark.parametrize(
    ("ttl", "message"), [(90 * 86400 + 1, "greater than the maximum"), (-1, "negative")]
)
def test_lifetime_out_of_bounds_is_refused(
    authority: CertificateAuthority, ttl: int, message: str
) -> None:
    with pytest.raises(CsrRejected, match=message):
        authority.sign(certs.csr_for(certs.generate_key(), MY_URI), ME, ttl, NOW)


@pytest.mark.parametrize(
    "csr",
    [
        "",
        "not a csr",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        "x" * 70_000,
    ],
)
def test_malformed_csr_is_refused(authority: CertificateAuthority, csr: str) -> None:
    with pytest.raises(CsrRejected):
        authority.sign(csr, ME, 60, NOW)


def test_csr_with_a_bad_signature_is_refused(authority: CertificateAuthority) -> None:
    good = x509.load_pem_x509_csr(certs.csr_for(certs.generate_key(), MY_URI).encode())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0xFF  # inside the signature
    pem = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(CsrRejected, match="signature"):
        authority.sign(pem, ME, 60, NOW)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000) | st.binary(max_size=3000).map(lambda b: b.decode("latin-1")))
def test_fuzz_csr_path_never_crashes(text: str) -> None:
    key = certs.generate_key()
    root = certs.self_signed_root(key, "cluster.local", NOW, certs.ROOT_LIFETIME)
    ca = CertificateAuthority(SigningMaterial(root, key, (), (root,), "fuzz"))
    try:
        ca.sign(text, ME, 60, NOW)
    except CsrRejected:
        return
    raise AssertionError("random text was signed")


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.integers(min_value=0, max_value=400))
@example(b"\x01", 9)  # an unknown CSR version: cryptography raises InvalidVersion
def test_fuzz_mutated_csr_is_signed_only_for_the_caller(patch: bytes, offset: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    root = certs.self_signed_root(key, "cluster.local", NOW, certs.ROOT_LIFETIME)
    ca = CertificateAuthority(SigningMaterial(root, key, (), (root,), "fuzz"))
    csr = x509.load_pem_x509_csr(certs.csr_for(certs.generate_key(), MY_URI).encode())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    start = offset % len(der)
    der[start : start + len(patch)] = patch
    pem = (
        "-----BEGIN CERTIFICATE REQUEST-----\n"
        + __import__("base64").encodebytes(bytes(der)).decode()
        + "-----END CERTIFICATE REQUEST-----\n"
    )
    try:
        chain = ca.sign(pem, ME, 60, NOW)
    except CsrRejected:
        return
    assert certs.uri_sans(x509.load_pem_x509_certificate(chain[0].encode())) == [MY_URI]


def test_service_takes_the_identity_from_the_token_only(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    tokens = TokenRegistry(tmp_path / "tokens.json")
    mine = tokens.issue("sleep-0", "foo", "sleep")
    theirs = tokens.issue("httpbin-0", "foo", "httpbin")
    service = CaService(lambda: authority, tokens, clock=lambda: NOW)
    request = CertificateRequest(csr=certs.csr_for(certs.generate_key(), MY_URI))
    leaf = x509.load_pem_x509_certificate(service.create(request, mine).cert_chain[0].encode())
    assert certs.uri_sans(leaf) == [MY_URI]
    with pytest.raises(CsrRejected, match=r"authenticated as .*sa/httpbin"):
        service.create(request, theirs)  # a token of another workload
    with pytest.raises(Unauthenticated, match="no credential"):
        service.create(request, None)
    with pytest.raises(Unauthenticated, match="not one this control plane issued"):
        service.create(request, "forged-token")
    assert (tmp_path / "tokens.json").stat().st_mode & 0o777 == 0o600
    assert mine not in (tmp_path / "tokens.json").read_text()
    reloaded = TokenRegistry(tmp_path / "tokens.json")
    reloaded.load()
    assert reloaded.authenticate(mine)[0] == ME
    tokens.issue("sleep-0", "foo", "sleep")  # reissued: the old token of that instance dies
    with pytest.raises(Unauthenticated):
        tokens.authenticate(mine)


def test_spiffe_ids_parse_only_istios_shape() -> None:
    assert parse_spiffe_id(MY_URI) == ME
    for bad in ("spiffe://cluster.local/ns/foo", "spiffe://td/ns/a/sa/b/c", "http://x/ns/a/sa/b"):
        assert parse_spiffe_id(bad) is None
