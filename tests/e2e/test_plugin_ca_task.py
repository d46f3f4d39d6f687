"""Istio's "Plug in CA Certificates" task, step by step: the four files Istio's
`Makefile.selfsigned.mk` makes (`root-ca`, then `cluster1-cacerts`: an intermediate signed by the
root, `cert-chain.pem` = intermediate + root) go into the `cacerts` Secret with `create secret
generic --from-file` before the mesh is started (as the page does before `istioctl install`),
Istio's httpbin and curl samples run in `foo` (through `kube-inject`) under a
STRICT PeerAuthentication, and the workload's chain is read back as the page and Istio's CA
debugging read it: `proxy-config secret … -o json` (`dynamicActiveSecrets[0]`'s
`certificateChain.inlineBytes`) and the chain httpbin's sidecar sends in a handshake (the page's
`openssl s_client -showcerts -connect httpbin.foo:8000`: here the test process dials httpbin's
pod address, where kube-proxy would send it). Both are the leaf, the plug-in `ca-cert.pem`, then
`root-cert.pem`, as Istio's agent serves them (proxy-cert-1/2/3 on the page).

The handshake is read in TLS 1.2, where the server's Certificate message travels in the clear (a
client without a certificate is refused after it, as `s_client` is on the page).
"""

from __future__ import annotations

import base64
import datetime
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from tests.e2e.meshctl import ROOT, LocalMesh, pilotfish_ok

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
HANDSHAKE, CERTIFICATE = 22, 11


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


def _handshake_messages(data: bytes) -> bytes:
    """The handshake bytes of the TLS records in `data` (whole records only)."""
    out = b""
    while len(data) >= 5:
        kind, length = data[0], int.from_bytes(data[3:5], "big")
        if len(data) < 5 + length:
            break
        if kind == HANDSHAKE:
            out += data[5 : 5 + length]
        data = data[5 + length :]
    return out


def _certificate_list(data: bytes) -> list[bytes] | None:
    """The DER certificates of the TLS 1.2 Certificate message in `data`, None until it came."""
    messages = _handshake_messages(data)
    while len(messages) >= 4:
        kind, length = messages[0], int.from_bytes(messages[1:4], "big")
        if len(messages) < 4 + length:
            return None
        if kind == CERTIFICATE:
            body, found = messages[7 : 4 + length], []
            while body:
                size = int.from_bytes(body[:3], "big")
                found.append(body[3 : 3 + size])
                body = body[3 + size :]
            return found
        messages = messages[4 + length :]
    return None


def _served_chain(address: str, port: int) -> list[bytes]:
    """The certificates the server sends in a handshake (the page's `s_client -showcerts`)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="httpbin.foo")
    received = b""
    with socket.create_connection((address, port), timeout=10) as sock:
        while _certificate_list(received) is None:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:  # refused for want of a client certificate: after it
                pass
            sock.sendall(outgoing.read())
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
            incoming.write(chunk)
    found = _certificate_list(received)
    assert found is not None, f"no Certificate message in {len(received)} bytes"
    return found


def test_the_workload_chain_is_the_plugged_in_ca_as_the_page_checks_it(
    mesh: tuple[LocalMesh, Path],
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
    address = str(running.proxy(f"{httpbin}.foo")["ip"])
    assert _served_chain(address, 8080) == [_der(c) for c in chain]


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
