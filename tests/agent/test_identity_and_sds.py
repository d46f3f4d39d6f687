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
from pilotfish.agent.sds import SECRET_TYPE, SERVICE, SdsServer
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
