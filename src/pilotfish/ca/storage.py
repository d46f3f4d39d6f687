"""Where the CA's signing material comes from, in Istio's order of preference:

1. a plug-in CA as a `v1 Secret` named `cacerts` in the root namespace, applied like any
   manifest object, with Istio's key names (`ca-cert.pem`, `ca-key.pem`, `root-cert.pem`,
   `cert-chain.pem`) or the `kubernetes.io/tls` form (`tls.crt`, `tls.key`, `ca.crt`);
2. a plug-in CA from files in a directory (the same four `cacerts` file names);
3. a self-signed root (10 years) created on first start in `<state>/ca/` (`root-cert.pem`,
   `ca-key.pem` mode 0600, both written atomically).

If `<state>/ca/` says a root exists but its key is missing or unreadable, `CaStateError` is
raised: the control plane refuses to start rather than silently re-rooting the mesh.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509

from pilotfish.ca import certs
from pilotfish.ca.authority import SigningMaterial
from pilotfish.ca.errors import CaStateError
from pilotfish.state_files import write_atomically

CACERTS_SECRET = "cacerts"
CA_SECRET_NAMES = (CACERTS_SECRET, "istio-ca-secret")  # in the root namespace, in this order
CA_CERT, CA_KEY, ROOT_CERT, CERT_CHAIN = (
    "ca-cert.pem",
    "ca-key.pem",
    "root-cert.pem",
    "cert-chain.pem",
)
TLS_CERT, TLS_KEY, TLS_CA = "tls.crt", "tls.key", "ca.crt"


def write_private(path: Path, text: str) -> None:
    """Write `text` atomically to `path`, mode 0600 from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(path, text)
    os.chmod(path, 0o600)


def material_from_pem(
    signer_pem: str, key_pem: str, roots_pem: str, chain_pem: str, source: str
) -> SigningMaterial:
    """Build and check plug-in material; raises CaStateError naming `source` and the part."""
    parts: dict[str, list[x509.Certificate]] = {}
    for label, text in ((CA_CERT, signer_pem), (ROOT_CERT, roots_pem)):
        try:
            parts[label] = certs.load_certs(text)
        except ValueError as exc:
            raise CaStateError(f"{source}: {label} is not a PEM certificate: {exc}") from exc
    try:
        key = certs.load_key(key_pem)
    except (ValueError, TypeError) as exc:
        raise CaStateError(f"{source}: {CA_KEY} is not an unencrypted PEM private key") from exc
    signer_certs = parts[CA_CERT]
    chain = signer_certs[1:]
    if chain_pem.strip():
        try:
            chain = certs.load_certs(chain_pem)
        except ValueError as exc:
            raise CaStateError(f"{source}: {CERT_CHAIN} is not PEM certificates: {exc}") from exc
    roots = tuple(parts[ROOT_CERT])
    # Istio's cert-chain.pem runs from the signer to the root: keep the chain below the roots.
    chain = [c for c in chain if c != signer_certs[0] and c not in roots]
    material = SigningMaterial(signer_certs[0], key, tuple(chain), roots, source)
    material.check()
    return material


def material_from_secret(namespace: str, name: str, data: Mapping[str, str]) -> SigningMaterial:
    source = f"Secret {namespace}/{name}"
    if CA_CERT in data or CA_KEY in data:
        missing = [k for k in (CA_CERT, CA_KEY, ROOT_CERT) if not data.get(k)]
        if missing:
            raise CaStateError(f"{source}: missing {', '.join(missing)}")
        return material_from_pem(
            data[CA_CERT], data[CA_KEY], data[ROOT_CERT], data.get(CERT_CHAIN, ""), source
        )
    missing = [k for k in (TLS_CERT, TLS_KEY, TLS_CA) if not data.get(k)]
    if missing:
        raise CaStateError(
            f"{source}: missing {', '.join(missing)} (a CA secret holds {CA_CERT}, {CA_KEY}, "
            f"{ROOT_CERT}, {CERT_CHAIN}, or {TLS_CERT}, {TLS_KEY}, {TLS_CA})"
        )
    return material_from_pem(data[TLS_CERT], data[TLS_KEY], data[TLS_CA], "", source)


def material_from_files(folder: Path) -> SigningMaterial:
    texts: dict[str, str] = {}
    for name in (CA_CERT, CA_KEY, ROOT_CERT, CERT_CHAIN):
        path = folder / name
        if name == CERT_CHAIN and not path.exists():
            texts[name] = ""
            continue
        try:
            texts[name] = path.read_text()
        except OSError as exc:
            raise CaStateError(f"cannot read plug-in CA file {path}: {exc.strerror}") from exc
    return material_from_pem(
        texts[CA_CERT], texts[CA_KEY], texts[ROOT_CERT], texts[CERT_CHAIN], str(folder)
    )


def self_signed(state_dir: Path, trust_domain: str, now: datetime.datetime) -> SigningMaterial:
    """The mesh's own root, created on first start and reused afterwards."""
    folder = state_dir / "ca"
    cert_path, key_path = folder / ROOT_CERT, folder / CA_KEY
    if not cert_path.exists() and not key_path.exists():
        key = certs.generate_key("EC")
        root = certs.self_signed_root(key, trust_domain, now, certs.ROOT_LIFETIME)
        write_private(key_path, certs.key_pem(key))
        write_private(cert_path, certs.cert_pem(root))
        os.chmod(cert_path, 0o644)
        return SigningMaterial(root, key, (), (root,), "self-signed")
    if not cert_path.exists():
        raise CaStateError(
            f"the CA key {key_path} exists but its certificate {cert_path} is missing; "
            "refusing to start (restore it, or remove the ca/ folder to start a new mesh root)"
        )
    try:
        key_text = key_path.read_text()
    except OSError as exc:
        raise CaStateError(
            f"the mesh's CA exists ({cert_path}) but its key {key_path} is "
            f"{'missing' if not key_path.exists() else 'unreadable: ' + str(exc.strerror)}; "
            "refusing to start rather than re-rooting the mesh (every workload would lose trust). "
            "Restore the key, or remove the ca/ folder to create a new root on purpose."
        ) from exc
    return material_from_pem(
        cert_path.read_text(), key_text, cert_path.read_text(), "", str(folder)
    )
