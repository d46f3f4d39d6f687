"""The control plane's 15012 certificate is renewed at half its lifetime (and when the signer
changes) without dropping connections already open; the trust bundle watch delivers the bundle
and every change of it; the agent pushes a new bundle to ROOTCA at once and renews a leaf the
new bundle cannot verify. Real gRPC over real TLS sockets."""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
from pathlib import Path

import grpc
from cryptography import x509
from prometheus_client import CollectorRegistry, generate_latest

from pilotfish.agent.identity import IdentityManager, IdentitySpec, WorkloadSecret
from pilotfish.ca import certs
from pilotfish.ca.authority import CertificateAuthority, SigningMaterial
from pilotfish.ca.identity import Identity
from pilotfish.ca.service import CaService, watch_trust_bundle
from pilotfish.ca.serving import ServingCertificate
from pilotfish.ca.tokens import TokenRegistry
from pilotfish.controlplane.citadel import CaState, CitadelMetrics

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _authority(name: str = "cluster.local") -> CertificateAuthority:
    key = certs.generate_key()
    root = certs.self_signed_root(key, name, NOW, certs.ROOT_LIFETIME)
    return CertificateAuthority(SigningMaterial(root, key, (), (root,), "test"))


def _intermediate_authority() -> CertificateAuthority:
    root_key, key = certs.generate_key(), certs.generate_key()
    root = certs.self_signed_root(root_key, "root", NOW, certs.ROOT_LIFETIME)
    inter = certs.intermediate(key, root, root_key, "inter", NOW, datetime.timedelta(days=30))
    return CertificateAuthority(SigningMaterial(inter, key, (), (root,), "test"))


def test_renewed_at_half_its_lifetime_or_when_the_signer_changes() -> None:
    clock = [NOW]
    authority = [_authority()]
    serving = ServingCertificate(
        lambda: authority[0], "127.0.0.1", datetime.timedelta(hours=24), lambda: clock[0]
    )
    first = serving.current
    assert first.leaf.not_valid_after_utc == NOW + datetime.timedelta(hours=24)
    sans = first.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["istiod.istio-system.svc", "istiod"]
    assert certs.uri_sans(first.leaf) == ["spiffe://cluster.local/ns/istio-system/sa/istiod"]
    clock[0] = NOW + datetime.timedelta(hours=11, minutes=59)
    assert not serving.refresh()
    clock[0] = NOW + datetime.timedelta(hours=12)
    assert serving.refresh() and serving.current.leaf != first.leaf
    second = serving.current
    authority[0] = _intermediate_authority()  # a plug-in CA: renewed at once, chain included
    assert serving.refresh()
    chain = certs.load_certs(serving.current.chain_pem)
    assert [c.subject.rfc4514_string() for c in chain] == ["", "O=inter"]
    assert serving.current.leaf != second.leaf and serving.renewals == 2


def _peer_serial(port: int, roots_pem: str) -> int:
    """A fresh TLS handshake with 15012 (verifying the chain and its validity dates)."""
    context = ssl.create_default_context(cadata=roots_pem)
    context.check_hostname = False
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def _rotating_server(tmp_path: Path) -> tuple[list[int], list[str], int]:
    authority = [_authority()]
    tokens = TokenRegistry(tmp_path / "tokens.json")
    token = tokens.issue("a-0", "foo", "a")
    serving = ServingCertificate(lambda: authority[0], "127.0.0.1", datetime.timedelta(seconds=2))
    service = CaService(lambda: authority[0], tokens)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(service.handlers())
    port = server.add_secure_port("127.0.0.1:0", serving.credentials())
    await server.start()
    roots = authority[0].material.roots_pem
    credentials = grpc.ssl_channel_credentials(root_certificates=roots.encode())
    options = (("grpc.ssl_target_name_override", "istiod.istio-system.svc"),)
    serials: list[int] = []
    bundles: list[str] = []
    try:
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials, options) as channel:
            stream = watch_trust_bundle(channel, token).__aiter__()
            bundles.append(await asyncio.wait_for(stream.__anext__(), 10))
            serials.append(await asyncio.to_thread(_peer_serial, port, roots))
            await asyncio.sleep(2.5)  # past the first certificate's NotAfter
            serials.append(await asyncio.to_thread(_peer_serial, port, roots))
            service.notify_roots()  # nothing changed: nothing is sent
            authority[0] = _authority("another-root")
            service.notify_roots()
            bundles.append(await asyncio.wait_for(stream.__anext__(), 10))  # same connection
            refused = watch_trust_bundle(channel, "not-a-token").__aiter__()
            try:
                await refused.__anext__()
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
    finally:
        await server.stop(0)
    return serials, bundles, code.value[0]


def test_new_handshakes_get_the_new_certificate_open_streams_stay(tmp_path: Path) -> None:
    serials, bundles, refused = asyncio.run(_rotating_server(tmp_path))
    assert serials[0] != serials[1]  # renewed, and the new one verifies (dates included)
    assert len(bundles) == 2 and bundles[0] != bundles[1]  # the stream outlived the renewal
    assert certs.load_certs(bundles[1])[0].subject.rfc4514_string() == "O=another-root"
    assert refused == grpc.StatusCode.UNAUTHENTICATED.value[0]


def _secret(authority: CertificateAuthority) -> WorkloadSecret:
    key = certs.generate_key()
    chain = authority.sign(
        certs.csr_for(key, "spiffe://cluster.local/ns/foo/sa/a"), Identity("foo", "a"), 3600, NOW
    )
    leaf_and_chain = "".join(chain[:-1])
    return WorkloadSecret(leaf_and_chain, certs.key_pem(key), chain[-1], 0.0, 1.0)


def test_the_agent_serves_a_new_bundle_at_once_and_renews_what_it_cannot_verify(
    tmp_path: Path,
) -> None:
    old, new = _authority(), _authority("new-root")
    updates: list[WorkloadSecret] = []
    spec = IdentitySpec("127.0.0.1:1", tmp_path / "token", "spiffe://cluster.local/ns/foo/sa/a")
    manager = IdentityManager(spec, updates.append, current=_secret(old))
    both = old.material.roots_pem + new.material.roots_pem
    manager.new_roots(both)
    assert [u.roots_pem for u in updates] == [both]
    assert not manager._refresh.is_set()  # the leaf still chains to a root: no renewal
    manager.new_roots(both)
    assert len(updates) == 1  # unchanged: nothing pushed
    manager.new_roots(new.material.roots_pem)  # the old root dropped: renew now
    assert updates[-1].roots_pem == new.material.roots_pem
    assert manager._refresh.is_set()
    manager.new_roots("not pem")
    assert len(updates) == 2 and manager.watched_roots == new.material.roots_pem


def test_citadel_expiry_metrics_follow_the_ca_in_force(tmp_path: Path) -> None:
    state = CaState(tmp_path)
    state.start("cluster.local", NOW)
    registry = CollectorRegistry()
    CitadelMetrics(state, registry)
    values = {
        name: float(value)
        for name, _, value in (
            line.partition(" ") for line in generate_latest(registry).decode().splitlines()
        )
        if not name.startswith("#")
    }
    root_expiry = (NOW + certs.ROOT_LIFETIME).timestamp()
    assert values["citadel_server_root_cert_expiry_timestamp"] == root_expiry
    assert values["citadel_server_cert_chain_expiry_timestamp"] == root_expiry
    left = root_expiry - datetime.datetime.now(datetime.UTC).timestamp()
    assert abs(values["citadel_server_root_cert_expiry_seconds"] - left) < 60
    empty = CollectorRegistry()
    CitadelMetrics(CaState(tmp_path / "unstarted"), empty)
    assert "citadel" not in generate_latest(empty).decode()
