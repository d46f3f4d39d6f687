"""Istio's proxyMetadata keys the agent honours: mesh-wide defaults, the pod annotation
`proxy.istio.io/config` overriding them key by key, Istio's default key type (RSA 2048), and
clear errors naming the field for values Istio does not accept."""

from __future__ import annotations

from pilotfish import config
from pilotfish.config.proxy_metadata import (
    ProxyMetadata,
    parse_proxy_config_annotation,
    parse_proxy_metadata,
)
from pilotfish.registry.manifest import parse_manifest


def _parse(raw: object) -> tuple[ProxyMetadata, list[tuple[str, str]]]:
    errors: list[tuple[str, str]] = []
    return parse_proxy_metadata(raw, "proxyMetadata", errors), errors


def test_istio_default_is_rsa_2048_and_ecdsa_is_asked_for() -> None:
    assert ProxyMetadata().key_algorithm == "RSA"
    assert _parse({"ECC_SIGNATURE_ALGORITHM": "ECDSA"})[0].key_algorithm == "EC"
    ecdsa_384 = {"ECC_SIGNATURE_ALGORITHM": "ECDSA", "ECC_CURVE": "P384"}
    assert _parse(ecdsa_384)[0].key_algorithm == "EC-P384"
    assert _parse({"ECC_CURVE": "P384"})[0].key_algorithm == "RSA"  # a curve alone: still RSA
    assert _parse({"WORKLOAD_RSA_KEY_SIZE": "4096"})[0].key_algorithm == "RSA-4096"


def test_secret_ttl_and_other_keys() -> None:
    found, errors = _parse({"SECRET_TTL": "20s", "ISTIO_META_DNS_CAPTURE": "true"})
    assert errors == []
    assert found == ProxyMetadata(secret_ttl_seconds=20, dns_capture=True)
    assert _parse(None) == (ProxyMetadata(), [])


def test_dns_capture_is_a_go_boolean() -> None:
    for text, value in (("true", True), ("1", True), ("T", True), ("False", False), ("0", False)):
        assert _parse({"ISTIO_META_DNS_CAPTURE": text}) == (ProxyMetadata(dns_capture=value), [])
    found, errors = _parse({"ISTIO_META_DNS_CAPTURE": "yes"})
    assert found == ProxyMetadata()
    assert errors == [("proxyMetadata.ISTIO_META_DNS_CAPTURE", "'yes' is not a boolean")]
    # a pod's "false" wins over the mesh's "true"
    mesh = ProxyMetadata(dns_capture=True)
    assert ProxyMetadata(dns_capture=False).over(mesh).dns_capture is False
    assert ProxyMetadata().over(mesh).dns_capture is True


def test_values_istio_does_not_accept_are_errors_with_their_path() -> None:
    found, errors = _parse(
        {
            "ECC_SIGNATURE_ALGORITHM": "RSA",
            "ECC_CURVE": "P521",
            "WORKLOAD_RSA_KEY_SIZE": "1024",
            "SECRET_TTL": "soon",
        }
    )
    assert found == ProxyMetadata()
    assert sorted(path for path, _ in errors) == [
        "proxyMetadata.ECC_CURVE",
        "proxyMetadata.ECC_SIGNATURE_ALGORITHM",
        "proxyMetadata.SECRET_TTL",
        "proxyMetadata.WORKLOAD_RSA_KEY_SIZE",
    ]
    assert "'RSA' is not one of ECDSA" in dict(errors)["proxyMetadata.ECC_SIGNATURE_ALGORITHM"]
    assert _parse(["ECDSA"])[1] == [("proxyMetadata", "must be a map of strings")]


def test_a_pod_overrides_the_mesh_key_by_key() -> None:
    mesh = ProxyMetadata(secret_ttl_seconds=60, ecc_signature_algorithm="ECDSA")
    pod = ProxyMetadata(secret_ttl_seconds=30)
    assert pod.over(mesh) == ProxyMetadata(secret_ttl_seconds=30, ecc_signature_algorithm="ECDSA")
    assert ProxyMetadata().over(mesh) == mesh


def test_the_annotation_is_a_proxy_config_in_yaml() -> None:
    errors: list[tuple[str, str]] = []
    text = "proxyMetadata:\n  ECC_SIGNATURE_ALGORITHM: ECDSA\nconcurrency: 2\n"
    assert parse_proxy_config_annotation(text, errors).key_algorithm == "EC"
    assert errors == []
    parse_proxy_config_annotation("[not, a, map]", errors)
    assert errors == [
        ("metadata.annotations[proxy.istio.io/config]", "must be a ProxyConfig (a map)")
    ]


MESH = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    defaultConfig:
      proxyMetadata: {SECRET_TTL: 1h, ECC_SIGNATURE_ALGORITHM: ECDSA}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata:
  name: web
  annotations:
    proxy.istio.io/config: |
      proxyMetadata:
        SECRET_TTL: 10m
        ECC_SIGNATURE_ALGORITHM: %s
spec: {command: ["python", "web.py"]}
"""


def test_the_manifest_reads_both_and_names_a_bad_annotation() -> None:
    manifest, problems = parse_manifest(config.load(MESH % "ECDSA", "/m.yaml").others)
    assert problems == []
    assert manifest.mesh.proxy == ProxyMetadata(3600, "ECDSA")
    (web,) = manifest.workloads
    assert web.proxy_metadata.over(manifest.mesh.proxy) == ProxyMetadata(600, "ECDSA")
    _, problems = parse_manifest(config.load(MESH % "ED25519", "/m.yaml").others)
    assert [str(p) for p in problems] == [
        "/m.yaml:14: Workload web at metadata.annotations[proxy.istio.io/config]"
        ".proxyMetadata.ECC_SIGNATURE_ALGORITHM: 'ED25519' is not one of ECDSA"
    ]
