"""Where the CA's material comes from: the self-signed root kept in the state directory (and the
refusal to re-root when its key is lost), plug-in `cacerts` files, and a `v1 Secret` in both
key-name forms."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509

from pilotfish.ca import certs, storage
from pilotfish.ca.authority import CertificateAuthority
from pilotfish.ca.errors import CaStateError
from pilotfish.ca.identity import Identity

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


def _plugin() -> dict[str, str]:
    """Istio's plug-in layout: a root, an intermediate signing CA, the chain up to the root."""
    root_key = certs.generate_key()
    root = certs.self_signed_root(root_key, "cluster.local", NOW, certs.ROOT_LIFETIME)
    key = certs.generate_key()
    inter = certs.intermediate(
        key, root, root_key, "intermediate", NOW, datetime.timedelta(days=365)
    )
    return {
        storage.CA_CERT: certs.cert_pem(inter),
        storage.CA_KEY: certs.key_pem(key),
        storage.ROOT_CERT: certs.cert_pem(root),
        storage.CERT_CHAIN: certs.bundle([inter, root]),
    }


def test_self_signed_root_is_created_once_with_a_private_key(tmp_path: Path) -> None:
    first = storage.self_signed(tmp_path, "cluster.local", NOW)
    key_path = tmp_path / "ca" / storage.CA_KEY
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert first.signer.not_valid_after_utc - NOW == certs.ROOT_LIFETIME
    assert first.signer.subject.rfc4514_string() == "O=cluster.local"
    again = storage.self_signed(tmp_path, "cluster.local", NOW + datetime.timedelta(days=1))
    assert again.signer == first.signer
    assert not list((tmp_path / "ca").glob(".*")), "no temporary file left behind"


@pytest.mark.parametrize("damage", ["missing", "garbage", "unreadable"])
def test_lost_key_refuses_to_start_instead_of_re_rooting(tmp_path: Path, damage: str) -> None:
    storage.self_signed(tmp_path, "cluster.local", NOW)
    key_path = tmp_path / "ca" / storage.CA_KEY
    root_before = (tmp_path / "ca" / storage.ROOT_CERT).read_text()
    if damage == "missing":
        key_path.unlink()
    elif damage == "garbage":
        key_path.write_text("not a key")
    else:
        key_path.unlink()
        key_path.mkdir()  # reading fails even as root
    with pytest.raises(CaStateError, match="key"):
        storage.self_signed(tmp_path, "cluster.local", NOW)
    assert (tmp_path / "ca" / storage.ROOT_CERT).read_text() == root_before


def test_plugin_files_sign_through_the_intermediate(tmp_path: Path) -> None:
    for name, text in _plugin().items():
        (tmp_path / name).write_text(text)
    material = storage.material_from_files(tmp_path)
    chain = CertificateAuthority(material).sign(
        certs.csr_for(certs.generate_key(), "spiffe://cluster.local/ns/a/sa/b"),
        Identity("a", "b"),
        60,
        NOW,
    )
    leaf, inter, root = (x509.load_pem_x509_certificate(c.encode()) for c in chain)
    leaf.verify_directly_issued_by(inter)
    inter.verify_directly_issued_by(root)
    assert root == material.roots[0]


def test_secret_in_both_key_name_forms(tmp_path: Path) -> None:
    data = _plugin()
    istio_form = storage.material_from_secret("istio-system", "cacerts", data)
    tls_form = storage.material_from_secret(
        "istio-system",
        "cacerts",
        {
            "tls.crt": data[storage.CA_CERT] + data[storage.ROOT_CERT],
            "tls.key": data[storage.CA_KEY],
            "ca.crt": data[storage.ROOT_CERT],
        },
    )
    assert istio_form.signer == tls_form.signer
    assert istio_form.roots == tls_form.roots


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({storage.CA_KEY: None}, "missing ca-key.pem"),
        ({storage.CA_KEY: "bad"}, "ca-key.pem is not"),
        ({storage.ROOT_CERT: "bad"}, "root-cert.pem is not"),
        ({"swap_key": True}, "does not match"),
        ({"other_root": True}, "does not chain"),
        ({"look_alike_root": True}, "same subject"),
    ],
)
def test_bad_plugin_material_is_refused_naming_the_part(
    change: dict[str, object], message: str
) -> None:
    data = _plugin()
    if change.get("swap_key"):
        data[storage.CA_KEY] = certs.key_pem(certs.generate_key())
    elif change.get("look_alike_root"):  # a second root named like the first (O=cluster.local)
        data[storage.ROOT_CERT] += _plugin()[storage.ROOT_CERT]
    elif change.get("other_root"):
        data[storage.ROOT_CERT] = _plugin()[storage.ROOT_CERT]
        data[storage.CERT_CHAIN] = data[storage.CA_CERT]
    else:
        for key, value in change.items():
            if value is None:
                data.pop(key)
            else:
                data[key] = str(value)
    with pytest.raises(CaStateError, match=message) as err:
        storage.material_from_secret("istio-system", "cacerts", data)
    assert "Secret istio-system/cacerts" in str(err.value)
