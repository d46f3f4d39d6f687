"""Istio's "Trust Domain Migration" task with its own YAML: `install --set profile=demo --set
meshConfig.trustDomain=old-td`, Istio's httpbin and curl samples (curl in `default` and
`curl-allow`), the policy allowing only `old-td/ns/curl-allow/sa/curl`; then `install` again on
the running mesh with `new-td` (istioctl's install over an installed mesh, changed in place: the
workloads' certificates move to the new trust domain, both curls get 403), then again with the
page's IstioOperator adding `trustDomainAliases: [old-td]` (curl-allow is allowed again).
Left out (local mode has no istiod Deployment, and the pods' certificates follow the trust domain
without being re-created): `rollout restart deployment -n istio-system istiod` and
`delete pod --all`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from tests.e2e.meshctl import ROOT, LocalMesh, pilotfish_ok

from pilotfish.ca.certs import load_certs, uri_sans

SAMPLES = ROOT / "tests" / "data" / "istio-samples"
POLICY = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: service-httpbin.default.svc.cluster.local
  namespace: default
spec:
  rules:
  - from:
    - source:
        principals:
        - old-td/ns/curl-allow/sa/curl
    to:
    - operation:
        methods:
        - GET
  selector:
    matchLabels:
      app: httpbin
---
"""
ALIASES = """apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig:
    trustDomain: new-td
    trustDomainAliases:
      - old-td
"""


_ok = partial(pilotfish_ok, timeout=180)


def _install(mesh: LocalMesh, *args: str) -> str:
    return _ok(mesh, "install", *args, "-y", "--ingress-address", mesh.ingress)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    running = LocalMesh(tmp_path_factory.mktemp("home"), None)
    try:
        _install(running, "--set", "profile=demo", "--set", "meshConfig.trustDomain=old-td")
        _ok(running, "label", "namespace", "default", "istio-injection=enabled")
        _ok(running, "apply", "-f", str(SAMPLES / "httpbin.yaml"))
        _ok(running, "apply", "-f", str(SAMPLES / "curl.yaml"))
        _ok(running, "create", "namespace", "curl-allow")
        _ok(running, "label", "namespace", "curl-allow", "istio-injection=enabled")
        _ok(running, "apply", "-f", str(SAMPLES / "curl.yaml"), "-n", "curl-allow")
        _ok(running, "apply", "-f", "-", stdin=POLICY)
        yield running
    finally:
        running.down()


def _status(mesh: LocalMesh, namespace: str) -> str:
    path = "jsonpath={.items..metadata.name}"
    pod = _ok(mesh, "-n", namespace, "get", "pod", "-l", "app=curl", "-o", path).strip()
    return _ok(
        mesh, "exec", pod, "-c", "curl", "-n", namespace, "--", "curl",
        "http://httpbin.default:8000/ip", "-sS", "-o", "/dev/null", "-w", "%{http_code}\n",
    ).strip()  # fmt: skip


def _statuses(mesh: LocalMesh) -> tuple[str, str]:
    return _status(mesh, "default"), _status(mesh, "curl-allow")


def test_trust_domain_migration_as_the_page_runs_it(mesh: LocalMesh, tmp_path: Path) -> None:
    assert _statuses(mesh) == ("403", "200")
    out = _install(mesh, "--set", "profile=demo", "--set", "meshConfig.trustDomain=new-td")
    assert out.rstrip().endswith("✔ Installation complete")
    mesh.wait_for(lambda: _statuses(mesh) == ("403", "403"), 30, "both curls denied")
    dump = json.loads(_ok(mesh, "proxy-config", "secret", _curl_pod(mesh), "-n", "curl-allow",
                          "-o", "json"))  # fmt: skip
    (chain,) = [s["secret"] for s in dump["dynamicActiveSecrets"] if s["name"] == "default"]
    pem = base64.b64decode(chain["tlsCertificate"]["certificateChain"]["inlineBytes"])
    assert "spiffe://new-td/ns/curl-allow/sa/curl" in uri_sans(load_certs(pem.decode())[0])
    config = tmp_path / "td-installation.yaml"
    config.write_text(ALIASES)
    _install(mesh, "--set", "profile=demo", "-f", str(config))
    mesh.wait_for(lambda: _statuses(mesh) == ("403", "200"), 30, "curl-allow allowed again")
    mesh_config = _ok(mesh, "get", "cm", "istio", "-n", "istio-system", "-o", "yaml")
    assert "trustDomain: new-td" in mesh_config and "- old-td" in mesh_config, mesh_config
    # the last installation is what the mesh restarts from
    kept = (mesh.home / "install" / "istio.yaml").read_text()
    assert "trustDomainAliases" in kept


def _curl_pod(mesh: LocalMesh) -> str:
    path = "jsonpath={.items..metadata.name}"
    return _ok(mesh, "-n", "curl-allow", "get", "pod", "-l", "app=curl", "-o", path).strip()


def test_installing_a_smaller_profile_over_prunes_what_it_does_not_have(mesh: LocalMesh) -> None:
    """istioctl's install over `demo` with `default`: the egress gateway goes, the ingress
    gateway and the workloads stay."""
    before = _ok(mesh, "get", "pods", "-n", "istio-system")
    assert "istio-egressgateway" in before
    _install(mesh, "--set", "profile=default", "--set", "meshConfig.trustDomain=new-td")
    mesh.wait_for(
        lambda: "istio-egressgateway" not in _ok(mesh, "get", "pods", "-n", "istio-system"),
        30,
        "the egress gateway gone",
    )
    assert "istio-ingressgateway" in _ok(mesh, "get", "pods", "-n", "istio-system")
    assert _status(mesh, "default") == "403"
