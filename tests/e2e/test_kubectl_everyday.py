"""kubectl habits Istio's docs and everyday use rely on, on a running mesh (httpbin and Istio's
sleep sample): the objects every namespace has without anyone applying them (the `default`
ServiceAccount, Istio's `istio-ca-root-cert` ConfigMap holding the roots the sidecars trust),
`get`'s `--field-selector`, `--sort-by`, `-o custom-columns[-file]`, `get deploy -o wide`, and
`logs`' `--since`, `--timestamps`, `--previous`, `--all-containers`, `--prefix`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, pilotfish_ok, running_mesh

SLEEP = "tests/data/istio-samples/sleep.yaml"
ROOT_CERT_PATH = "jsonpath={.data.root-cert\\.pem}"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/httpbin") as m:
        pilotfish_ok(m, "apply", "-f", SLEEP)
        yield m


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip("\n").splitlines()]


def trusted_roots(mesh: LocalMesh, pod: str, namespace: str = "default") -> str:
    """The PEM of the ROOTCA secret the pod's Envoy holds (what it trusts), as istioctl's
    `proxy-config secret -o json` shows it."""
    dump = json.loads(
        pilotfish_ok(mesh, "proxy-config", "secret", pod, "-n", namespace, "-o", "json")
    )
    (root,) = [s["secret"] for s in dump["dynamicActiveSecrets"] if s["name"] == "ROOTCA"]
    return base64.b64decode(root["validationContext"]["trustedCa"]["inlineBytes"]).decode()


def test_every_namespace_has_a_default_service_account(mesh: LocalMesh) -> None:
    listed = rows(pilotfish_ok(mesh, "get", "sa"))
    assert listed[0] == ["NAME", "SECRETS", "AGE"], listed
    assert [r[:2] for r in listed[1:]] == [["default", "0"], ["httpbin", "0"], ["sleep", "0"]]
    one = pilotfish_ok(mesh, "get", "serviceaccount", "default", "-o", "json")
    account = json.loads(one)
    assert (account["apiVersion"], account["kind"]) == ("v1", "ServiceAccount"), one
    assert account["metadata"]["name"] == "default"
    assert account["metadata"]["namespace"] == "default"
    assert "creationTimestamp" in account["metadata"], one
    pilotfish_ok(mesh, "create", "namespace", "team-a")
    every = rows(pilotfish_ok(mesh, "get", "sa", "-A"))
    defaults = [r[0] for r in every[1:] if r[1] == "default"]
    assert defaults == ["default", "istio-system", "team-a"], every
    alone = rows(pilotfish_ok(mesh, "get", "sa", "-n", "team-a", "--no-headers"))
    assert [r[:2] for r in alone] == [["default", "0"]], alone
    # kubectl's `all` category holds neither service accounts nor config maps
    shown = pilotfish_ok(mesh, "get", "all", "-A")
    assert "serviceaccount/" not in shown and "configmap/" not in shown, shown
    assert "pod/sleep-0" in shown, shown


def test_root_cert_configmap_holds_what_the_sidecars_trust(mesh: LocalMesh) -> None:
    pem = pilotfish_ok(mesh, "get", "cm", "istio-ca-root-cert", "-o", ROOT_CERT_PATH)
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n"), pem
    assert pem == trusted_roots(mesh, "httpbin-v1-0")
    every = rows(pilotfish_ok(mesh, "get", "cm", "-A"))
    holders = [r[0] for r in every[1:] if r[1] == "istio-ca-root-cert"]
    assert {"default", "istio-system"} <= set(holders), every
    assert all(r[2] == "1" for r in every[1:] if r[1] == "istio-ca-root-cert"), every
    shown = json.loads(
        pilotfish_ok(mesh, "get", "cm", "istio-ca-root-cert", "-n", "istio-system", "-o", "json")
    )
    assert shown["metadata"]["labels"] == {"istio.io/config": "true"}, shown
    assert shown["data"] == {"root-cert.pem": pem}
    bracket = pilotfish_ok(
        mesh, "get", "cm", "istio-ca-root-cert", "-o", "jsonpath={.data['root-cert.pem']}"
    )
    assert bracket == pem
    missing = mesh.pilotfish("get", "cm", "istio-ca-root-cert", "-n", "nosuch")
    assert missing.returncode == 1, missing.stdout
    assert 'configmaps "istio-ca-root-cert" not found' in missing.stderr, missing.stderr
