"""The control plane process's own certificates, as istiod's: its 15012 serving certificate is
renewed before it expires (here a 3 s lifetime) while an agent's stream opened on it stays up,
and 15014/metrics exports istiod's CA expiry gauges. A real control plane process, real TLS and
gRPC sockets on a random loopback address; no Envoy (agents use 15012 only off loopback)."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from tests.e2e.l4kit import random_loopback

from pilotfish.ca import certs
from pilotfish.ca.service import watch_trust_bundle
from pilotfish.state_files import read_admin_token

LIFETIME = 3.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


class ControlPlane:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.address = random_loopback()
        self.xds, self.tls, self.http = (_free_port(self.address) for _ in range(3))
        argv = [
            sys.executable, "-m", "pilotfish.controlplane", "--state-dir", str(home),
            "--address", self.address, "--xds-port", str(self.xds),
            "--http-port", str(self.http), "--tls-port", str(self.tls),
            "--serving-cert-ttl", str(LIFETIME),
        ]  # fmt: skip
        home.mkdir(parents=True)
        self.log = (home / "cp.log").open("w")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def call(self, method: str, path: str, body: object = None) -> dict[str, object]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://{self.address}:{self.http}{path}", data, method=method
        )
        request.add_header("authorization", f"Bearer {read_admin_token(self.home)}")
        with _DIRECT.open(request, timeout=10) as resp:
            text = resp.read().decode()
        return json.loads(text) if text.startswith("{") else {"text": text}

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.home / "cp.log").read_text()
            try:
                self.call("GET", "/ready")
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the control plane did not become ready")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path_factory.mktemp("cp") / "home")
    try:
        cp.wait_ready()
        yield cp
    finally:
        cp.stop()


def _serving_certificate(cp: ControlPlane, roots: str) -> x509.Certificate:
    """The certificate of a fresh TLS handshake with 15012, verified (dates included)."""
    context = ssl.create_default_context(cadata=roots)
    context.check_hostname = False
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((cp.address, cp.tls), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="istiod.istio-system.svc") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


async def _renewals_under_an_open_stream(
    cp: ControlPlane, token: str
) -> tuple[list[x509.Certificate], list[str]]:
    roots = (cp.home / "ca" / "root-cert.pem").read_text()
    credentials = grpc.ssl_channel_credentials(root_certificates=roots.encode())
    options = (("grpc.ssl_target_name_override", "istiod.istio-system.svc"),)
    seen: list[x509.Certificate] = []
    bundles: list[str] = []
    async with grpc.aio.secure_channel(f"{cp.address}:{cp.tls}", credentials, options) as channel:
        stream = watch_trust_bundle(channel, token).__aiter__()
        bundles.append(await asyncio.wait_for(stream.__anext__(), 10))
        seen.append(await asyncio.to_thread(_serving_certificate, cp, roots))
        deadline = time.monotonic() + 20
        while time.time() < seen[0].not_valid_after_utc.timestamp() + 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.5)
            seen.append(await asyncio.to_thread(_serving_certificate, cp, roots))
        # the stream opened on the first certificate is still up: a root added now reaches it
        new_root = certs.self_signed_root(
            certs.generate_key(),
            "new-root",
            datetime.datetime.now(datetime.UTC),
            certs.ROOT_LIFETIME,
        )
        key = (cp.home / "ca" / "ca-key.pem").read_text()
        secret = {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "cacerts", "namespace": "istio-system"},
            "stringData": {"ca-cert.pem": roots, "ca-key.pem": key,
                           "root-cert.pem": roots + certs.cert_pem(new_root)},
        }  # fmt: skip
        result = await asyncio.to_thread(
            cp.call, "POST", "/api/v1/apply", {"files": [["cacerts.json", json.dumps(secret)]]}
        )
        assert result.get("ok"), result
        bundles.append(await asyncio.wait_for(stream.__anext__(), 10))
    return seen, bundles


def test_the_serving_certificate_is_renewed_and_open_streams_stay(
    control_plane: ControlPlane,
) -> None:
    cp = control_plane
    token = str(
        cp.call("POST", "/api/v1/tokens", {"instance": "a-0", "namespace": "default",
                                           "service_account": "a"})["token"]
    )  # fmt: skip
    seen, bundles = asyncio.run(_renewals_under_an_open_stream(cp, token))
    first = seen[0]
    lifetime = first.not_valid_after_utc - first.not_valid_before_utc - certs.BACKDATE
    assert abs(lifetime.total_seconds() - LIFETIME) < 1
    assert certs.uri_sans(first) == ["spiffe://cluster.local/ns/istio-system/sa/istiod"]
    serials = [c.serial_number for c in seen]
    assert len(set(serials)) >= 2, serials  # renewed (each handshake verified its dates)
    assert seen[-1].not_valid_after_utc > first.not_valid_after_utc
    assert len(certs.load_certs(bundles[0])) == 1 and len(certs.load_certs(bundles[1])) == 2


def test_istiod_ca_expiry_gauges(control_plane: ControlPlane) -> None:
    cp = control_plane
    text = str(cp.call("GET", "/metrics")["text"])
    values = {
        name: float(value)
        for name, _, value in (line.partition(" ") for line in text.splitlines())
        if name.startswith("citadel_server_")
    }
    roots = certs.load_certs((cp.home / "ca" / "root-cert.pem").read_text())
    expiry = min(r.not_valid_after_utc for r in roots).timestamp()
    assert values["citadel_server_root_cert_expiry_timestamp"] == expiry, values
    assert values["citadel_server_cert_chain_expiry_timestamp"] == expiry
    assert abs(values["citadel_server_root_cert_expiry_seconds"] - (expiry - time.time())) < 60
