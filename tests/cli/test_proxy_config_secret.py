"""`proxy-config secret` as istioctl prints it: its sds writer's table (warming secrets first,
`%032x` serials, RFC 3339 dates, Go tabwriter's padding of 5, TRUST DOMAIN only when every secret
has one) and the SecretsConfigDump itself for `-o json|yaml`."""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pilotfish.cli.proxy_config import _dump_section, secret_table


def _when(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _pem(serial: int, after: str, before: str, *, ca: bool, uri: str = "") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cluster.local")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(_when(before))
        .not_valid_after(_when(after))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if uri:
        san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)])
        builder = builder.add_extension(san, critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _b64(pem: str) -> dict[str, str]:
    return {"inline_bytes": base64.b64encode(pem.encode()).decode()}


def _chain(name: str, pem: str) -> dict[str, Any]:
    return {"name": name, "secret": {"tls_certificate": {"certificate_chain": _b64(pem)}}}


def _ca(name: str, pem: str) -> dict[str, Any]:
    return {"name": name, "secret": {"validation_context": {"trusted_ca": _b64(pem)}}}


LEAF = (0x6FBEE254C22900615CB1F74E3D2F1713, "2023-05-16T01:32:52Z", "2023-05-15T01:30:52Z")
DATES = ("2099-01-01T00:00:00Z", "2020-01-01T00:00:00Z")
ROOT = (0x0193A543FE2B0D9CD4847675394DFC54, "2033-05-02T03:41:33Z", "2023-05-05T03:41:33Z")


def test_the_table_is_istioctls() -> None:
    section = {
        "dynamic_active_secrets": [
            _chain("default", _pem(*LEAF, ca=False, uri="spiffe://cluster.local/ns/a/sa/b")),
            _ca("ROOTCA", _pem(*ROOT, ca=True)),
        ],
        "dynamic_warming_secrets": [{"name": "configmap://some/thing", "secret": {}}],
    }
    header = "RESOURCE NAME              TYPE           STATUS      VALID CERT     SERIAL NUMBER   "
    assert secret_table(section).split("\n") == [
        header + "                     NOT AFTER                NOT BEFORE",
        "configmap://some/thing                    WARMING     false" + " " * 72,
        "default                    Cert Chain     ACTIVE      false          "
        "6fbee254c22900615cb1f74e3d2f1713     2023-05-16T01:32:52Z     2023-05-15T01:30:52Z",
        "ROOTCA                     CA             ACTIVE      true           "
        "0193a543fe2b0d9cd4847675394dfc54     2033-05-02T03:41:33Z     2023-05-05T03:41:33Z",
    ]


def test_the_type_is_the_certificates_and_trust_domains_show_when_every_secret_has_one() -> None:
    section = {
        "dynamic_active_secrets": [
            # a CA certificate under tls_certificate is a CA to istioctl (x509's IsCA)
            _chain("default", _pem(7, *DATES, ca=True, uri="spiffe://east.local/ns/a/sa/b")),
            _ca("ROOTCA", _pem(8, *DATES, ca=True, uri="spiffe://west.local")),
        ]
    }
    lines = secret_table(section).split("\n")
    assert lines[0].split("     ")[-1] == "TRUST DOMAIN"
    assert lines[1].split() == [
        "default", "CA", "ACTIVE", "true", f"{7:032x}",
        "2099-01-01T00:00:00Z", "2020-01-01T00:00:00Z", "east.local",
    ]  # fmt: skip
    assert lines[2].split()[-1] == "west.local"


def test_no_secrets_is_istioctls_sentence() -> None:
    assert secret_table({}) == "No active or warming secrets found."


def test_json_and_yaml_are_the_section_itself() -> None:
    section = {
        "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
        "dynamic_active_secrets": [
            {"version_info": "1", "name": "ROOTCA", "secret": {"name": "ROOTCA"}},
        ],
    }
    text = _dump_section(section, "json")
    assert json.loads(text) == {
        "dynamicActiveSecrets": [
            {"versionInfo": "1", "name": "ROOTCA", "secret": {"name": "ROOTCA"}},
        ]
    }
    assert text.split("\n")[1] == '    "dynamicActiveSecrets": ['
    assert _dump_section(section, "yaml").split("\n")[:4] == [
        "dynamicActiveSecrets:",
        "- name: ROOTCA",
        "  secret:",
        "    name: ROOTCA",
    ]
