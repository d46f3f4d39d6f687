"""Mutual TLS through real Envoys: Istio's reachability matrix (clients with and without a
sidecar x servers under STRICT, PERMISSIVE, DISABLE and a port-level override x HTTP and TCP),
what the server app sees (the caller's SPIFFE identity in X-Forwarded-Client-Cert, no byte from a
refused plaintext client), auto mTLS to a server without a sidecar, and secure naming.

A client "without a sidecar" is this test process dialling the server's instance address, as a
pod without a sidecar does; the sidecar client is the `client` workload's Envoy, used as its app
uses it (HTTP proxy, TCP service listeners).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.e2e.mtlskit import (
    http_direct,
    http_via_sidecar,
    recorded,
    tcp_line,
    write_mesh,
)

from pilotfish.agent.service_env import tcp_service_env
from pilotfish.ca import certs
from pilotfish.ca.service import request_certificate
from pilotfish.state_files import STORE_FILE

# server -> (HTTP port mode, TCP port mode) as Istio composes the policies in mtlskit
MODES = {
    "strict": ("STRICT", "STRICT"),
    "permissive": ("PERMISSIVE", "PERMISSIVE"),
    "disable": ("DISABLE", "DISABLE"),
    "portlevel": ("DISABLE", "STRICT"),
}
CLIENT_IDENTITY = "URI=spiffe://cluster.local/ns/default/sa/client"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalMesh, Path]]:
    folder = tmp_path_factory.mktemp("mtls")
    records = write_mesh(folder)
    with running_mesh(tmp_path_factory, str(folder)) as running:
        yield running, records


def _ip(mesh: LocalMesh, pod: str) -> str:
    return str(mesh.proxy(pod)["ip"])


def _proxy(mesh: LocalMesh) -> str:
    return f"http://{_ip(mesh, 'client-0')}:15001"


def _tcp_target(mesh: LocalMesh, service: str) -> tuple[str, int]:
    env = tcp_service_env(_ip(mesh, "client-0"), "default", [8080, 9000], mesh.home / STORE_FILE)
    prefix = service.upper().replace("-", "_")
    return env[f"{prefix}_SERVICE_HOST"], int(env[f"{prefix}_SERVICE_PORT"])


def _xfcc(body: str) -> str:
    """The X-Forwarded-Client-Cert header the app received ('' if none), any case."""
    headers = {k.lower(): v for k, v in json.loads(body).items()}
    return str(headers.get("x-forwarded-client-cert", ""))


def _marker() -> str:
    return uuid.uuid4().hex


def _never_recorded(records: Path, pod: str, marker: str) -> None:
    time.sleep(0.5)  # anything forwarded would have arrived by now
    assert marker not in recorded(records, pod)


@pytest.mark.parametrize("server", sorted(MODES))
def test_sidecar_client_reaches_every_server_over_http(
    mesh: tuple[LocalMesh, Path], server: str
) -> None:
    running, records = mesh
    marker = _marker()
    status, body = http_via_sidecar(_proxy(running), f"http://{server}:8000/record?m={marker}")
    assert status == 200, body
    xfcc = _xfcc(body)
    if MODES[server][0] == "DISABLE":  # auto mTLS sends plaintext: no client certificate
        assert xfcc == ""
    else:
        assert CLIENT_IDENTITY in xfcc, xfcc
        assert f"By=spiffe://cluster.local/ns/default/sa/{server}" in xfcc
        assert "Hash=" in xfcc
    assert marker in recorded(records, f"{server}-0")


@pytest.mark.parametrize("server", sorted(MODES))
def test_sidecar_client_reaches_every_server_over_tcp(
    mesh: tuple[LocalMesh, Path], server: str
) -> None:
    running, records = mesh
    host, port = _tcp_target(running, server)
    marker = _marker()
    assert tcp_line(host, port, marker) == f"echo {marker}"
    assert marker in recorded(records, f"{server}-0")


@pytest.mark.parametrize("server", sorted(MODES))
def test_plaintext_client_over_http(mesh: tuple[LocalMesh, Path], server: str) -> None:
    running, records = mesh
    marker = _marker()
    url = f"http://{_ip(running, f'{server}-0')}:8080/record?m={marker}"
    if MODES[server][0] == "STRICT":
        with pytest.raises(OSError):
            http_direct(url)
        _never_recorded(records, f"{server}-0", marker)
    else:
        assert _xfcc(http_direct(url)) == ""
        assert marker in recorded(records, f"{server}-0")


@pytest.mark.parametrize("server", sorted(MODES))
def test_plaintext_client_over_tcp(mesh: tuple[LocalMesh, Path], server: str) -> None:
    running, records = mesh
    marker = _marker()
    answer = tcp_line(_ip(running, f"{server}-0"), 9000, marker)
    if MODES[server][1] == "STRICT":
        assert answer == ""
        _never_recorded(records, f"{server}-0", marker)
    else:
        assert answer == f"echo {marker}"
        assert marker in recorded(records, f"{server}-0")


def test_forged_client_certificate_header_from_a_plaintext_client_is_dropped(
    mesh: tuple[LocalMesh, Path],
) -> None:
    running, _ = mesh
    forged = "By=spiffe://cluster.local/ns/default/sa/permissive;URI=spiffe://x/ns/kube/sa/admin"
    url = f"http://{_ip(running, 'permissive-0')}:8080/record?m={_marker()}"
    assert _xfcc(http_direct(url, {"x-forwarded-client-cert": forged})) == ""


def test_sidecar_client_talks_plaintext_to_a_server_without_sidecar(
    mesh: tuple[LocalMesh, Path],
) -> None:
    running, records = mesh
    assert running.proxy("legacy-0")["sidecar"] is False
    marker = _marker()
    status, body = http_via_sidecar(_proxy(running), f"http://legacy:8000/record?m={marker}")
    assert status == 200, body
    assert _xfcc(body) == ""
    host, port = _tcp_target(running, "legacy")
    assert tcp_line(host, port, marker) == f"echo {marker}"
    assert recorded(records, "legacy-0").count(marker) == 2


SECURE_NAMING = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}}}
spec:
  hosts: [{name}.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 8000, name: http, protocol: HTTP, targetPort: 8080}}]
  endpoints:
  - address: {address}
    labels: {{security.istio.io/tlsMode: istio}}
    serviceAccount: {account}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}}}
spec:
  host: {name}.example
  trafficPolicy: {{tls: {{mode: ISTIO_MUTUAL}}}}
"""


def test_secure_naming_refuses_a_server_with_another_identity(
    mesh: tuple[LocalMesh, Path], tmp_path: Path
) -> None:
    """The same server (strict-0) behind two hosts: one says it runs as `strict` (true), one as
    `payments` (false). The client's sidecar must refuse the second: the certificate the server
    presents does not name the identity the registry promises."""
    running, records = mesh
    address = _ip(running, "strict-0")
    for name, account in (("honest", "strict"), ("impostor", "payments")):
        path = tmp_path / f"{name}.yaml"
        path.write_text(SECURE_NAMING.format(name=name, address=address, account=account))
        running.apply(str(path))
    good, bad = _marker(), _marker()
    running.wait_for(
        lambda: (
            http_via_sidecar(_proxy(running), f"http://honest.example:8000/record?m={good}")[0]
            == 200
        ),
        what="the honest host to answer",
    )
    status, _ = http_via_sidecar(_proxy(running), f"http://impostor.example:8000/record?m={bad}")
    assert status == 503
    _never_recorded(records, "strict-0", bad)


def test_the_ca_over_tls_on_15012_signs_only_for_the_token_holder(
    mesh: tuple[LocalMesh, Path],
) -> None:
    """An agent off loopback would use 15012: TLS with the control plane's own certificate from
    the mesh CA. The token decides the identity; no token, no certificate."""
    running, _ = mesh
    root = (running.home / "ca" / "root-cert.pem").read_bytes()
    token = (Path(running.proxy("client-0")["run_dir"]) / "istio-token").read_text()
    address = running.info["xds"].replace(":15010", ":15012")
    csr = certs.csr_for(certs.generate_key(), "spiffe://cluster.local/ns/default/sa/client")

    async def call(with_token: str) -> list[str]:
        credentials = grpc.ssl_channel_credentials(root_certificates=root)
        options = (("grpc.ssl_target_name_override", "istiod.istio-system.svc"),)
        async with grpc.aio.secure_channel(address, credentials, options) as channel:
            return await request_certificate(channel, csr, with_token, 3600)

    chain = asyncio.run(call(token))
    leaf = x509.load_pem_x509_certificate(chain[0].encode())
    assert certs.uri_sans(leaf) == ["spiffe://cluster.local/ns/default/sa/client"]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        asyncio.run(call("not-a-token"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: ["*"]
  gateways: [edge]
  http: [{route: [{destination: {host: strict, port: {number: 8000}}}]}]
"""


def test_ingress_gateway_reaches_a_strict_sidecar_over_mtls(
    mesh: tuple[LocalMesh, Path], tmp_path: Path
) -> None:
    running, records = mesh
    path = tmp_path / "edge.yaml"
    path.write_text(GATEWAY)
    running.apply(str(path))
    marker = _marker()
    running.wait_for(
        lambda: running.get(f"/record?m={marker}").status == 200, what="the gateway route"
    )
    xfcc = _xfcc(running.get(f"/record?m={marker}").body)
    gateway = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
    assert f"URI={gateway}" in xfcc, xfcc
    assert marker in recorded(records, "strict-0")


def _envoy_secrets(mesh: LocalMesh, pod: str) -> dict[str, list[x509.Certificate]]:
    """What the pod's Envoy holds (its admin config dump): `default` -> the workload chain,
    `ROOTCA` -> the trust bundle."""
    url = f"http://{_ip(mesh, pod)}:15000/config_dump?resource=dynamic_active_secrets"
    found: dict[str, list[x509.Certificate]] = {}
    for entry in json.loads(http_direct(url))["configs"]:
        secret = entry["secret"]
        if "tls_certificate" in secret:
            source = secret["tls_certificate"]["certificate_chain"]
        elif "validation_context" in secret:
            source = secret["validation_context"]["trusted_ca"]
        else:
            continue
        text = source.get("inline_string") or base64.b64decode(source["inline_bytes"]).decode()
        found[secret["name"]] = x509.load_pem_x509_certificates(text.encode())
    return found


def _sidecars(mesh: LocalMesh) -> list[str]:
    return sorted(name for name, row in mesh.info["proxies"].items() if row.get("sidecar", True))


def test_workload_keys_are_rsa_2048_unless_the_pod_asks_for_ecdsa(
    mesh: tuple[LocalMesh, Path],
) -> None:
    """Istio's agent default is RSA 2048; `ECC_SIGNATURE_ALGORITHM: ECDSA` (here through the
    pod's `proxy.istio.io/config`) gives ECDSA P-256. What Envoy serves is what was asked."""
    running, records = mesh
    expected = {"client-0": "RSA 2048", "permissive-0": "RSA 2048", "strict-0": "EC P-256"}
    for pod, key in expected.items():
        leaf = _envoy_secrets(running, pod)["default"][0]
        assert certs.key_description(leaf.public_key()) == key, pod
    marker = _marker()  # an RSA client and an ECDSA server: the mTLS handshake succeeds
    status, body = http_via_sidecar(_proxy(running), f"http://strict:8000/record?m={marker}")
    assert status == 200, body
    assert CLIENT_IDENTITY in _xfcc(body)
    assert marker in recorded(records, "strict-0")


def test_the_agent_and_envoy_export_the_certificate_expiry(mesh: tuple[LocalMesh, Path]) -> None:
    running, _ = mesh
    text = http_direct(f"http://{_ip(running, 'client-0')}:15020/stats/prometheus")
    found = re.search(
        r'^istio_agent_cert_expiry_seconds\{resource_name="default"\} (\S+)$', text, re.M
    )
    assert found, text[:2000]
    assert 23 * 3600 < float(found.group(1)) <= 24 * 3600  # Istio's 24 h workload certificate
    days = re.search(r"^envoy_server_days_until_first_cert_expiring\S* (\S+)$", text, re.M)
    assert days and float(days.group(1)) == 0, text[:2000]  # it expires within the day


def test_a_new_root_reaches_every_envoy_within_seconds(
    mesh: tuple[LocalMesh, Path], tmp_path: Path
) -> None:
    """A plug-in `cacerts` that adds a root (still signing with the old one) is pushed to every
    agent over its trust bundle watch and on to its Envoy's ROOTCA, without waiting for the
    24 h certificates to rotate; removing it goes back the same way."""
    running, _ = mesh
    ca_dir = running.home / "ca"
    old_root, old_key = (ca_dir / "root-cert.pem").read_text(), (ca_dir / "ca-key.pem").read_text()
    now = datetime.datetime.now(datetime.UTC)
    new_root = certs.self_signed_root(certs.generate_key(), "new-root", now, certs.ROOT_LIFETIME)
    issued = {pod: _envoy_secrets(running, pod)["default"][0].serial_number for pod in ["client-0"]}

    def roots(pod: str) -> set[int]:
        return {c.serial_number for c in _envoy_secrets(running, pod).get("ROOTCA", [])}

    def pem_block(text: str) -> str:
        return "\n".join("    " + line for line in text.strip().splitlines())

    secret = tmp_path / "cacerts.yaml"
    secret.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: cacerts, namespace: istio-system}\n"
        f"stringData:\n  ca-cert.pem: |\n{pem_block(old_root)}\n"
        f"  ca-key.pem: |\n{pem_block(old_key)}\n"
        f"  root-cert.pem: |\n{pem_block(old_root + certs.cert_pem(new_root))}\n"
    )
    pods = _sidecars(running)
    assert len(pods) >= 6, pods
    running.apply(str(secret))
    try:
        for pod in pods:
            running.wait_for(
                lambda p=pod: new_root.serial_number in roots(p),  # type: ignore[misc]
                timeout=10,
                what=f"the new root in {pod}'s ROOTCA",
            )
        # pushed, not rotated: the workload certificate is the one it was
        assert _envoy_secrets(running, "client-0")["default"][0].serial_number == issued["client-0"]
        status, body = http_via_sidecar(_proxy(running), f"http://strict:8000/record?m={_marker()}")
        assert status == 200, body
    finally:
        assert (
            running.pilotfish("delete", "secret", "cacerts", "-n", "istio-system").returncode == 0
        )
    for pod in pods:
        running.wait_for(
            lambda p=pod: new_root.serial_number not in roots(p),  # type: ignore[misc]
            timeout=10,
            what=f"the new root gone from {pod}'s ROOTCA",
        )
