"""The agent's identity: it keeps retrying (with backoff) while the CA is unreachable, then gets
a certificate for its own identity; its SDS server serves Istio's `default` and `ROOTCA` and
pushes a rotated certificate to an open stream. Real gRPC over real sockets."""

from __future__ import annotations

import asyncio
import datetime
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.service.discovery.v3 import discovery_pb2

from pilotfish.agent.identity import IdentityManager, IdentitySpec, WorkloadSecret
from pilotfish.agent.pod_files import write_mounted
from pilotfish.agent.sds import SECRET_TYPE, SERVICE, SdsServer, file_secret
from pilotfish.ca import certs
from pilotfish.ca.authority import CertificateAuthority, SigningMaterial
from pilotfish.ca.identity import Identity
from pilotfish.ca.service import CaService
from pilotfish.ca.tokens import TokenRegistry

URI = "spiffe://cluster.local/ns/foo/sa/sleep"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _authority() -> CertificateAuthority:
    key = certs.generate_key()
    now = datetime.datetime.now(datetime.UTC)
    root = certs.self_signed_root(key, "cluster.local", now, certs.ROOT_LIFETIME)
    return CertificateAuthority(SigningMaterial(root, key, (), (root,), "test"))


async def _retry_then_succeed(tmp_path: Path) -> tuple[int, list[str], int]:
    tokens = TokenRegistry(tmp_path / "tokens.json")
    (tmp_path / "token").write_text(tokens.issue("sleep-0", "foo", "sleep"))
    port = _free_port()
    updates: list[WorkloadSecret] = []
    manager = IdentityManager(
        IdentitySpec(f"127.0.0.1:{port}", tmp_path / "token", URI, ttl_seconds=3600),
        updates.append,
    )
    task = asyncio.create_task(manager.run())
    deadline = time.monotonic() + 15
    while manager.failures < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # the CA is not there yet: the agent retries, with backoff
    failures_before = manager.failures
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(CaService(_authority, tokens).handlers())
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        await asyncio.wait_for(manager.wait_ready(), 20)
    finally:
        task.cancel()
        await server.stop(0)
    leaf = certs.load_certs(updates[0].chain_pem)[0]
    return failures_before, certs.uri_sans(leaf), len(updates)


def test_agent_retries_while_the_ca_is_down_then_gets_its_identity(tmp_path: Path) -> None:
    failures, sans, updates = asyncio.run(_retry_then_succeed(tmp_path))
    assert failures >= 2  # 0.2 s, 0.4 s, ... backoff
    assert sans == [URI]
    assert updates == 1


def _secret(ca: CertificateAuthority) -> WorkloadSecret:
    key = certs.generate_key()
    now = datetime.datetime.now(datetime.UTC)
    chain = ca.sign(certs.csr_for(key, URI), Identity("foo", "sleep"), 3600, now)
    return WorkloadSecret(chain[0], certs.key_pem(key), chain[-1], 0.0, 1.0)


async def _sds_round_trip(socket_path: Path) -> tuple[list[list[str]], bool, str]:
    ca = _authority()
    server = SdsServer(socket_path)
    await server.start()
    server.update(_secret(ca))
    mode = oct(socket_path.stat().st_mode & 0o777)
    received: list[list[str]] = []
    first_chain = b""
    rotated = False
    queue: asyncio.Queue[discovery_pb2.DiscoveryRequest] = asyncio.Queue()

    async def requests() -> AsyncIterator[discovery_pb2.DiscoveryRequest]:
        while True:
            yield await queue.get()

    async with grpc.aio.insecure_channel(f"unix:{socket_path}") as channel:
        call = channel.stream_stream(
            f"/{SERVICE}/StreamSecrets",
            request_serializer=discovery_pb2.DiscoveryRequest.SerializeToString,
            response_deserializer=discovery_pb2.DiscoveryResponse.FromString,
        )(requests())
        queue.put_nowait(
            discovery_pb2.DiscoveryRequest(
                type_url=SECRET_TYPE, resource_names=["default", "ROOTCA"]
            )
        )
        for round_ in range(2):
            response = await asyncio.wait_for(call.read(), 10)
            names = []
            for resource in response.resources:
                secret = secret_pb2.Secret()
                resource.Unpack(secret)
                names.append(secret.name)
                if secret.name == "default":
                    chain = secret.tls_certificate.certificate_chain.inline_bytes
                    rotated = round_ == 1 and chain != first_chain
                    first_chain = first_chain or chain
            received.append(sorted(names))
            queue.put_nowait(
                discovery_pb2.DiscoveryRequest(
                    type_url=SECRET_TYPE,
                    resource_names=["default", "ROOTCA"],
                    version_info=response.version_info,
                    response_nonce=response.nonce,
                )
            )
            if round_ == 0:
                server.update(_secret(ca))  # rotation: pushed to the open stream
        call.cancel()
    await server.stop()
    return received, rotated, mode


def test_sds_serves_default_and_rootca_and_pushes_rotation(tmp_path: Path) -> None:
    received, rotated, mode = asyncio.run(_sds_round_trip(tmp_path / "sds.sock"))
    assert received == [["ROOTCA", "default"], ["ROOTCA", "default"]]
    assert rotated
    assert mode == "0o600"
    assert not (tmp_path / "sds.sock").exists()


CERT = "file-cert:/etc/istio/tls-certs/tls.crt~/etc/istio/tls-certs/tls.key"
ROOT = "file-root:/etc/istio/tls-ca-certs/ca.crt"


async def _file_secrets(run_dir: Path) -> dict[str, secret_pb2.Secret]:
    server = SdsServer(run_dir / "sds.sock", run_dir)
    await server.start()
    server.update(_secret(_authority()))  # the workload's own, which the files are kept beside

    async def requests() -> AsyncIterator[discovery_pb2.DiscoveryRequest]:
        yield discovery_pb2.DiscoveryRequest(type_url=SECRET_TYPE, resource_names=[CERT, ROOT])
        await asyncio.sleep(30)

    found: dict[str, secret_pb2.Secret] = {}
    async with grpc.aio.insecure_channel(f"unix:{server.socket_path}") as channel:
        call = channel.stream_stream(
            f"/{SERVICE}/StreamSecrets",
            request_serializer=discovery_pb2.DiscoveryRequest.SerializeToString,
            response_deserializer=discovery_pb2.DiscoveryResponse.FromString,
        )(requests())
        response = await asyncio.wait_for(call.read(), 10)
        server.update(_secret(_authority()))  # a rotation keeps serving the files
        assert CERT in server.resources and ROOT in server.versions
        for resource in response.resources:
            secret = secret_pb2.Secret()
            resource.Unpack(secret)
            found[secret.name] = secret
        call.cancel()
    await server.stop()
    return found


def test_sds_serves_files_of_the_proxys_container_by_istios_names(tmp_path: Path) -> None:
    """Istio's pilot-agent serves `file-cert:<cert>~<key>` and `file-root:<ca>` from files the
    proxy's container sees: here the pod's own files (its mounted volumes), not the host's."""
    write_mounted(tmp_path, [
        ("/etc/istio/tls-certs/tls.crt", "CHAIN"), ("/etc/istio/tls-certs/tls.key", "KEY"),
        ("/etc/istio/tls-ca-certs/ca.crt", "CA"),
    ])  # fmt: skip
    found = asyncio.run(_file_secrets(tmp_path))
    assert sorted(found) == [CERT, ROOT]
    assert found[CERT].tls_certificate.certificate_chain.inline_bytes == b"CHAIN"
    assert found[CERT].tls_certificate.private_key.inline_bytes == b"KEY"
    assert found[ROOT].validation_context.trusted_ca.inline_bytes == b"CA"
    assert file_secret("file-root:/etc/istio/none/ca.crt", tmp_path) is None  # not served
