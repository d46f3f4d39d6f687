"""Istio's "Secure Gateways" task typed as the page types it (Istio fidelity): `istioctl
install`, `kubectl apply -f samples/httpbin/httpbin.yaml`, `kubectl create -n istio-system
secret tls httpbin-credential --key=… --cert=…`, the page's Gateway (port 443, SIMPLE) and
VirtualService, `curl -HHost:… --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST"
--cacert …` for the teapot, then mutual TLS (`create secret generic --from-file=tls.key=…
--from-file=tls.crt=… --from-file=ca.crt=…`, mode MUTUAL): refused without a client
certificate, the teapot with one. `kubectl` is `pilotfish`; the certificates are made with
`cryptography` (the page's openssl commands make the same kind of files).

The mesh is installed from another folder than the one `apply -f samples/…` runs in, as a user
does: a Workload's command is relative to its file, as the user named it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.meshctl import ROOT, LocalMesh, pilotfish_ok
from tests.pki import Pki

GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: mygateway
spec:
  selector:
    istio: ingressgateway # use istio default ingress gateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: {mode}
      credentialName: httpbin-credential # must be the same as secret
    hosts:
    - httpbin.example.com
"""
VIRTUAL_SERVICE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - mygateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
"""
TEAPOT = "-=[ teapot ]=-"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    mesh = LocalMesh(tmp_path_factory.mktemp("home"), None)
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # where the user typed `istioctl install`
    args = ["install", "-y", "--ingress-address", mesh.ingress]
    try:
        installed = subprocess.run(
            [str(ROOT / ".venv/bin/pilotfish"), *args], env=mesh.env, cwd=elsewhere,
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield mesh
    finally:
        mesh.pilotfish("uninstall", "-y")


def _curl(mesh: LocalMesh, ca: Path, *client: str) -> subprocess.CompletedProcess[str]:
    jsonpath = "jsonpath={.status.loadBalancer.ingress[0].ip}"
    host = pilotfish_ok(mesh, "-n", "istio-system", "get", "service", "istio-ingressgateway",
                        "-o", jsonpath)  # fmt: skip
    jsonpath = 'jsonpath={.spec.ports[?(@.name=="https")].port}'
    port = pilotfish_ok(mesh, "-n", "istio-system", "get", "service", "istio-ingressgateway",
                        "-o", jsonpath)  # fmt: skip
    assert (host, port) == (mesh.ingress, "443")
    return subprocess.run(
        ["curl", "-sS", "-HHost:httpbin.example.com", "--resolve",
         f"httpbin.example.com:{port}:{host}", "--cacert", str(ca), *client,
         f"https://httpbin.example.com:{port}/status/418", "--max-time", "10"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_istio_secure_gateways_task(mesh: LocalMesh, tmp_path: Path) -> None:
    pki = Pki.create(tmp_path / "example_certs1", "example.com")
    cert, key = pki.issue("httpbin.example.com", ["httpbin.example.com"])
    applied = pilotfish_ok(mesh, "apply", "-f", "samples/httpbin/httpbin.yaml")
    assert "rolled out: httpbin-v1.default" in applied, applied
    pilotfish_ok(
        mesh, "create", "-n", "istio-system", "secret", "tls", "httpbin-credential",
        f"--key={key}", f"--cert={cert}",
    )  # fmt: skip
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=GATEWAY.format(mode="SIMPLE"))
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=VIRTUAL_SERVICE)
    simple = _curl(mesh, pki.ca_path)
    assert simple.returncode == 0 and TEAPOT in simple.stdout, simple

    client_cert, client_key = pki.issue("client.example.com", ["client.example.com"])
    pilotfish_ok(mesh, "-n", "istio-system", "delete", "secret", "httpbin-credential")
    pilotfish_ok(
        mesh, "create", "-n", "istio-system", "secret", "generic", "httpbin-credential",
        f"--from-file=tls.key={key}", f"--from-file=tls.crt={cert}",
        f"--from-file=ca.crt={pki.ca_path}",
    )  # fmt: skip
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=GATEWAY.format(mode="MUTUAL"))
    # the page's `curl: (56) … alert certificate required`; curl may also see the connection
    # closed first (16 or 55: a broken pipe, or not connected), as it races Envoy's alert
    refused = _curl(mesh, pki.ca_path, "--http1.1")
    assert refused.returncode in (16, 55, 56) and TEAPOT not in refused.stdout, refused
    mutual = _curl(mesh, pki.ca_path, "--cert", str(client_cert), "--key", str(client_key))
    assert mutual.returncode == 0 and TEAPOT in mutual.stdout, mutual
