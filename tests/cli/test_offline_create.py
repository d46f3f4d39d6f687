"""`create namespace`/`create secret` with no mesh running: stored in `<state>/config.yaml` for
the next start (which loads it, see tests/e2e/test_plugin_ca_task.py), kubectl's AlreadyExists
for an object stored already, and a CA Secret that cannot sign refused with nothing written."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from pilotfish.ca import certs
from pilotfish.cli.create import (
    CreateError,
    configmap_document,
    create_secret_command,
    literal_values,
)
from pilotfish.cli.label import create_namespace_command
from pilotfish.registry.inputs import parse_documents
from pilotfish.state_files import STORE_FILE


def _ca_files() -> dict[str, bytes]:
    now = datetime.datetime.now(datetime.UTC)
    root_key, ca_key = certs.generate_key(), certs.generate_key()
    root = certs.self_signed_root(root_key, "root", now, datetime.timedelta(days=10))
    ca = certs.intermediate(ca_key, root, root_key, "cluster1", now, datetime.timedelta(days=5))
    return {
        "ca-cert.pem": certs.cert_pem(ca).encode(),
        "ca-key.pem": certs.key_pem(ca_key).encode(),
        "root-cert.pem": certs.cert_pem(root).encode(),
        "cert-chain.pem": certs.bundle([ca, root]).encode(),
    }


def test_objects_are_stored_for_the_next_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert create_namespace_command("istio-system", state) == 0
    files = _ca_files()
    assert create_secret_command("cacerts", "istio-system", "Opaque", files, state) == 0
    out, err = capsys.readouterr()
    assert out == "namespace/istio-system created\nsecret/cacerts created\n"
    assert "no mesh is running" in err
    text = (state / STORE_FILE).read_text()
    raws, parsed = parse_documents([("config.yaml", text)])
    assert parsed.ok, parsed.diagnostics
    assert [(r["kind"], r["metadata"]["name"]) for r in raws] == [
        ("Namespace", "istio-system"),
        ("Secret", "cacerts"),
    ]
    assert all(r["metadata"]["creationTimestamp"] for r in raws)
    (secret,) = parsed.manifest.secrets
    assert dict(secret.data)["cert-chain.pem"] == files["cert-chain.pem"].decode()

    assert create_namespace_command("istio-system", state) == 1
    assert create_secret_command("cacerts", "istio-system", "Opaque", files, state) == 1
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        'Error from server (AlreadyExists): namespaces "istio-system" already exists',
        'Error from server (AlreadyExists): secrets "cacerts" already exists',
    ]
    assert create_secret_command("cacerts", "foo", "Opaque", files, state) == 0  # another ns
    assert (state / STORE_FILE).read_text().count("kind: Secret") == 2


def test_a_ca_secret_that_cannot_sign_is_refused_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _ca_files()
    files["ca-key.pem"] = certs.key_pem(certs.generate_key()).encode()  # not ca-cert.pem's key
    assert create_secret_command("cacerts", "istio-system", "Opaque", files, tmp_path) == 1
    _, err = capsys.readouterr()
    assert err.startswith("error: Secret istio-system/cacerts at data: not a usable CA: ")
    assert "the CA key does not match the CA certificate" in err
    assert err.endswith("error: rejected: nothing was changed\n")
    assert not (tmp_path / STORE_FILE).exists()
    del files["ca-key.pem"]
    assert create_secret_command("istio-ca-secret", "istio-system", "Opaque", files, tmp_path) == 1
    assert "missing ca-key.pem" in capsys.readouterr().err
    assert not (tmp_path / STORE_FILE).exists()


def test_configmap_documents_as_kubectl_keys_them() -> None:
    values = {"squid.conf": b"http_port 3128\n", "blob": b"\xff\x00"}
    assert configmap_document("proxy-configmap", "external", values) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "proxy-configmap", "namespace": "external"},
        "data": {"squid.conf": "http_port 3128\n"},
        "binaryData": {"blob": "/wA="},
    }
    assert literal_values(["a=b", "c=d=e"]) == {"a": b"b", "c": b"d=e"}
    with pytest.raises(CreateError, match="expected KEY=VALUE"):
        literal_values(["novalue"])
