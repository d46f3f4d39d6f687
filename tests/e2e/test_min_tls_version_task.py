"""Istio's "Istio Workload Minimum TLS Version Configuration" task (Tasks > Security > TLS
configuration), typed as its page types it (Istio fidelity): `kubectl` and `istioctl` are
`pilotfish`, the page's `samples/httpbin/httpbin.yaml` and `samples/sleep/sleep.yaml` are Istio's
own files (tests/data/istio-samples), and the install adds only `--skip-confirmation` and the
test's ingress address.

The page writes `./istio.yaml` (an IstioOperator whose `meshConfig.meshMTLS.minProtocolVersion`
is TLSV1_3), installs it, deploys httpbin and sleep in `foo` through `kube-inject`, checks
sleep reaches httpbin (200), then runs `openssl s_client -alpn istio` from sleep's `istio-proxy`
container to `httpbin.foo:8000`: with `-tls1_3` the handshake says `TLSv1.3`, with `-tls1_2`
the server refuses it (`Cipher is (NONE)`). Then Istio's default again (`istioctl install` with no
meshMTLS over the running mesh): TLS 1.2 is accepted, with the first of Istio's inbound ciphers.

Before pilotfish honoured `meshMTLS`, TLS 1.2 was accepted under TLSV1_3; and before its clients
offered TLS 1.3 as Istio's do, the page's first check failed: every sidecar-to-sidecar request
was refused (503).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh
from tests.e2e.pagekit import SAMPLES, add_shims, sh, sh_ok

ISTIO_YAML = """
cat <<EOF > ./istio.yaml
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig:
    meshMTLS:
      minProtocolVersion: TLSV1_3
EOF
istioctl install -f ./istio.yaml --skip-confirmation --ingress-address {address}
"""
DEPLOY = f"""
kubectl create ns foo
kubectl apply -f <(istioctl kube-inject -f {SAMPLES}/httpbin.yaml) -n foo
kubectl apply -f <(istioctl kube-inject -f {SAMPLES}/sleep.yaml) -n foo
"""
REACH = """kubectl exec "$(kubectl get pod -l app=sleep -n foo -o jsonpath={.items..metadata.name})" -c sleep -n foo -- curl http://httpbin.foo:8000/ip -sS -o /dev/null -w "%{http_code}\\n"
"""  # noqa: E501 (the page's line)
TLS13 = """kubectl exec "$(kubectl get pod -l app=sleep -n foo -o jsonpath={.items..metadata.name})" -c istio-proxy -n foo -- openssl s_client -alpn istio -tls1_3 -connect httpbin.foo:8000 | grep "TLSv1.3"
"""  # noqa: E501 (the page's line)
TLS12 = """kubectl exec "$(kubectl get pod -l app=sleep -n foo -o jsonpath={.items..metadata.name})" -c istio-proxy -n foo -- openssl s_client -alpn istio -tls1_2 -connect httpbin.foo:8000 | grep "Cipher is (NONE)"
"""  # noqa: E501 (the page's line)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    m = LocalMesh(tmp_path_factory.mktemp("home"), None)
    add_shims(m)
    typed_in = tmp_path_factory.mktemp("typed-in")  # where the page writes ./istio.yaml
    try:
        installed = sh(m, ISTIO_YAML.format(address=m.ingress), cwd=typed_in)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert (typed_in / "istio.yaml").is_file()
        sh_ok(m, DEPLOY)
        yield m
    finally:
        m.pilotfish("uninstall", "-y")
        m.down()


def _reached(mesh: LocalMesh) -> str:
    """The page's check, retried as its warning says ("retry after a few seconds")."""
    seen = ""

    def ok() -> bool:
        nonlocal seen
        seen = sh(mesh, REACH).stdout
        return seen == "200\n"

    mesh.wait_for(ok, 30, "sleep reaching httpbin")
    return seen


def test_minimum_tls_version_as_the_page_runs_it(mesh: LocalMesh) -> None:
    assert _reached(mesh) == "200\n"
    allowed = sh(mesh, TLS13)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "TLSv1.3" in allowed.stdout, allowed.stdout + allowed.stderr
    refused = sh(mesh, TLS12)
    assert refused.returncode == 0, refused.stdout + refused.stderr
    assert "Cipher is (NONE)" in refused.stdout, refused.stdout + refused.stderr
    assert "alert protocol version" in refused.stderr, refused.stderr


def test_istios_default_accepts_tls_1_2_with_its_ciphers(mesh: LocalMesh) -> None:
    """`istioctl install` again without meshMTLS: the inbound mTLS of the running sidecars takes
    TLS 1.2 again, the server choosing the first of Istio's ciphers (Istio's BuildInboundTLS),
    and the mesh's own traffic still flows."""
    out = sh_ok(mesh, f"istioctl install --skip-confirmation --ingress-address {mesh.ingress}")
    assert out.rstrip().endswith("✔ Installation complete"), out
    command = TLS12.replace('grep "Cipher is (NONE)"', 'grep "Cipher is"')
    seen = ""

    def accepted() -> bool:
        nonlocal seen
        seen = sh(mesh, command).stdout
        return "TLSv1.2" in seen

    mesh.wait_for(accepted, 30, "TLS 1.2 accepted again")
    assert seen.strip() == "New, TLSv1.2, Cipher is ECDHE-RSA-AES256-GCM-SHA384", seen
    assert _reached(mesh) == "200\n"
