"""Istio's "Plug in CA Certificates" task, step by step: the four files Istio's
`Makefile.selfsigned.mk` makes (`root-ca`, then `cluster1-cacerts`: an intermediate signed by the
root, `cert-chain.pem` = intermediate + root) go into the `cacerts` Secret with `create secret
generic --from-file` before the mesh is started (as the page does before `istioctl install`),
Istio's httpbin and curl samples run in `foo` (through `kube-inject`) under a
STRICT PeerAuthentication, and the workload's chain is read back as the page and Istio's CA
debugging read it: `proxy-config secret … -o json` (`dynamicActiveSecrets[0]`'s
`certificateChain.inlineBytes`), and the chain httpbin's sidecar sends in a handshake, with the
page's own lines (`kubectl exec CURL -c istio-proxy -n foo -- openssl s_client -showcerts
-connect httpbin.foo:8000 > httpbin-proxy-cert.txt`, its `sed` and `awk`, the `openssl x509`
diffs and `openssl verify`; their scratch files in the page's directory instead of /tmp, where
parallel runs would share them, and without the page's `sleep 20`). Both are the leaf, the
plug-in `ca-cert.pem`, then `root-cert.pem`, as Istio's agent serves them (proxy-cert-1/2/3).
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from tests.e2e.meshctl import ROOT, LocalMesh, pilotfish_ok
from tests.e2e.pagekit import add_shims, sh

from pilotfish.ca import certs

SAMPLES = ROOT / "tests" / "data" / "istio-samples"
STRICT = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: "default"
spec:
  mtls:
    mode: STRICT
"""


def _make_certs(folder: Path) -> None:
    """What `make -f Makefile.selfsigned.mk root-ca cluster1-cacerts` leaves in `certs/`."""
    now = datetime.datetime.now(datetime.UTC)
    root_key, ca_key = certs.generate_key("RSA"), certs.generate_key("RSA")
    root = certs.self_signed_root(root_key, "Istio Root CA", now, datetime.timedelta(days=3650))
    ca = certs.intermediate(ca_key, root, root_key, "Istio cluster1", now, datetime.timedelta(730))
    (folder / "cluster1").mkdir(parents=True)
    (folder / "root-cert.pem").write_text(certs.cert_pem(root))
    (folder / "root-key.pem").write_text(certs.key_pem(root_key))
    (folder / "cluster1" / "ca-cert.pem").write_text(certs.cert_pem(ca))
    (folder / "cluster1" / "ca-key.pem").write_text(certs.key_pem(ca_key))
    (folder / "cluster1" / "root-cert.pem").write_text(certs.cert_pem(root))
    (folder / "cluster1" / "cert-chain.pem").write_text(certs.bundle([ca, root]))


_ok = pilotfish_ok


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalMesh, Path]]:
    """The page's order: istio-system and `cacerts` first, then the mesh starts."""
    folder = tmp_path_factory.mktemp("certs")
    _make_certs(folder)
    running = LocalMesh(tmp_path_factory.mktemp("home"), None)
    add_shims(running)
    files = [f"--from-file={folder / 'cluster1' / name}" for name in ("ca-cert.pem",
             "ca-key.pem", "root-cert.pem", "cert-chain.pem")]  # fmt: skip
    assert _ok(running, "create", "namespace", "istio-system") == "namespace/istio-system created\n"
    assert _ok(running, "create", "secret", "generic", "cacerts", "-n", "istio-system", *files) == (
        "secret/cacerts created\n"
    )
    try:
        result = running.up()
        assert result.returncode == 0, result.stdout + result.stderr
        _ok(running, "create", "namespace", "foo")
        for sample in ("httpbin", "curl"):
            injected = _ok(running, "kube-inject", "-f", str(SAMPLES / f"{sample}.yaml"))
            _ok(running, "apply", "-f", "-", "-n", "foo", stdin=injected)
        _ok(running, "apply", "-n", "foo", "-f", "-", stdin=STRICT)
        yield running, folder
    finally:
        running.down()


def _pod(mesh: LocalMesh, app: str) -> str:
    path = "jsonpath={.items..metadata.name}"
    return _ok(mesh, "get", "pod", "-l", f"app={app}", "-n", "foo", "-o", path).strip()


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


PAGE_CHECKS = """
kubectl exec "$(kubectl get pod -l app=curl -n foo -o jsonpath={.items..metadata.name})" -c istio-proxy -n foo -- openssl s_client -showcerts -connect httpbin.foo:8000 > httpbin-proxy-cert.txt
sed -n '/-----BEGIN CERTIFICATE-----/{:start /-----END CERTIFICATE-----/!{N;b start};/.*/p}' httpbin-proxy-cert.txt > certs.pem
awk 'BEGIN {counter=0;} /BEGIN CERT/{counter++} { print > "proxy-cert-" counter ".pem"}' < certs.pem
openssl x509 -in certs/cluster1/root-cert.pem -text -noout > ./root-cert.crt.txt
openssl x509 -in ./proxy-cert-3.pem -text -noout > ./pod-root-cert.crt.txt
diff -s ./root-cert.crt.txt ./pod-root-cert.crt.txt
openssl x509 -in certs/cluster1/ca-cert.pem -text -noout > ./ca-cert.crt.txt
openssl x509 -in ./proxy-cert-2.pem -text -noout > ./pod-cert-chain-ca.crt.txt
diff -s ./ca-cert.crt.txt ./pod-cert-chain-ca.crt.txt
openssl verify -CAfile <(cat certs/cluster1/ca-cert.pem certs/cluster1/root-cert.pem) ./proxy-cert-1.pem
"""  # noqa: E501 (the page's lines)


def test_the_workload_chain_is_the_plugged_in_ca_as_the_page_checks_it(
    mesh: tuple[LocalMesh, Path], tmp_path: Path
) -> None:
    running, folder = mesh
    root = x509.load_pem_x509_certificate((folder / "cluster1" / "root-cert.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((folder / "cluster1" / "ca-cert.pem").read_bytes())
    httpbin = _pod(running, "httpbin")
    dump = json.loads(_ok(running, "proxy-config", "secret", httpbin, "-n", "foo", "-o", "json"))
    secret = dump["dynamicActiveSecrets"][0]["secret"]
    assert secret["name"] == "default"
    inline = secret["tlsCertificate"]["certificateChain"]["inlineBytes"]
    chain = x509.load_pem_x509_certificates(base64.b64decode(inline))
    # proxy-cert-1 (the workload's), proxy-cert-2 = ca-cert.pem, proxy-cert-3 = root-cert.pem
    assert [_der(c) for c in chain[1:]] == [_der(ca), _der(root)]
    chain[0].verify_directly_issued_by(ca)  # openssl verify -CAfile <(ca-cert + root-cert)
    ca.verify_directly_issued_by(root)
    assert certs.uri_sans(chain[0]) == ["spiffe://cluster.local/ns/foo/sa/httpbin"]
    page = tmp_path / "page"  # the page's directory: its `certs/` from the Makefile
    page.mkdir()
    (page / "certs").symlink_to(folder)
    checked = sh(running, PAGE_CHECKS, cwd=page)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout == (
        "Files ./root-cert.crt.txt and ./pod-root-cert.crt.txt are identical\n"
        "Files ./ca-cert.crt.txt and ./pod-cert-chain-ca.crt.txt are identical\n"
        "./proxy-cert-1.pem: OK\n"
    ), checked.stdout + checked.stderr
    served = [(page / f"proxy-cert-{n}.pem").read_bytes() for n in (1, 2, 3)]
    assert [_der(x509.load_pem_x509_certificate(c)) for c in served] == [_der(c) for c in chain]


def test_root_cert_configmap_is_the_plugged_in_root(mesh: tuple[LocalMesh, Path]) -> None:
    """As the page's sibling check (and istiod's namespace controller): `kubectl get cm
    istio-ca-root-cert -n foo -o jsonpath='{.data.root-cert\\.pem}'` is the plug-in root, the
    one httpbin's Envoy trusts (its ROOTCA secret)."""
    running, folder = mesh
    root = x509.load_pem_x509_certificate((folder / "cluster1" / "root-cert.pem").read_bytes())
    path = "jsonpath={.data.root-cert\\.pem}"
    pem = _ok(running, "get", "cm", "istio-ca-root-cert", "-n", "foo", "-o", path)
    assert [_der(c) for c in x509.load_pem_x509_certificates(pem.encode())] == [_der(root)]
    dump = json.loads(
        _ok(running, "proxy-config", "secret", _pod(running, "httpbin"), "-n", "foo", "-o", "json")
    )
    (trusted,) = [s["secret"] for s in dump["dynamicActiveSecrets"] if s["name"] == "ROOTCA"]
    assert base64.b64decode(trusted["validationContext"]["trustedCa"]["inlineBytes"]) == (
        pem.encode()
    )
