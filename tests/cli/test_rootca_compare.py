"""`proxy-config rootca-compare`'s pieces: the ROOTCA read from an Envoy config dump, and
istioctl's test of two trust bundles (one certificate in common is enough)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from tests.pki import Pki

from pilotfish.cli.errors import UserError
from pilotfish.cli.rootca_compare import root_pem, share_a_root


def _pem(pki: Pki) -> bytes:
    return pki.cert.public_bytes(serialization.Encoding.PEM)


def _dump(secrets: list[dict[str, Any]]) -> dict[str, Any]:
    section = {"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
               "dynamic_active_secrets": secrets}  # fmt: skip
    return {"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"},
                        section]}  # fmt: skip


def test_the_rootca_secret_is_read_from_the_dump(tmp_path: Path) -> None:
    pem = _pem(Pki.create(tmp_path))
    trusted = {"inline_bytes": base64.b64encode(pem).decode()}
    dump = _dump([
        {"name": "default", "secret": {"tls_certificate": {}}},
        {"name": "ROOTCA", "secret": {"validation_context": {"trusted_ca": trusted}}},
    ])  # fmt: skip
    assert root_pem(dump) == pem
    with pytest.raises(UserError, match="cannot find ROOTCA from secret"):
        root_pem(_dump([{"name": "default", "secret": {}}]))


def test_bundles_match_when_they_share_one_root(tmp_path: Path) -> None:
    one = _pem(Pki.create(tmp_path / "a", "root A"))
    two = _pem(Pki.create(tmp_path / "b", "root B"))
    assert share_a_root(one, one)
    assert not share_a_root(one, two)
    assert share_a_root(one + two, two)  # a trust bundle in the middle of a migration
    with pytest.raises(UserError, match="failed to parse certificates"):
        share_a_root(b"not a certificate", one)
