"""The agent's SDS server: Envoy's `SecretDiscoveryService` (state of the world) on a unix socket,
serving Istio's two resource names: `default` (the workload certificate chain and private key)
and `ROOTCA` (the trust bundle). A new certificate is pushed to every open stream; a NACK is
logged and not resent. Only this agent's Envoy can reach the socket (mode 0600 in its run dir).

As pilot-agent, it also serves files of the proxy's container by Istio's names (a Sidecar
`ingress[].tls`: `translate.sidecar_ingress_tls`): `file-cert:<cert>~<key>` (a certificate
chain and key) and `file-root:<ca>` (a CA that checks peers), read when first asked for, from
the pod's files (`pod_files.container_file`: its mounted volumes) else the host's. A file that
cannot be read is logged and not served: Envoy keeps waiting for it, as for Istio's agent.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from pilotfish.agent.identity import WorkloadSecret
from pilotfish.agent.pod_files import container_file
from pilotfish.ca.identity import ROOT_SECRET, WORKLOAD_SECRET

log = logging.getLogger("pilotfish.agent.sds")

SERVICE = "envoy.service.secret.v3.SecretDiscoveryService"
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
FILE_CERT_PREFIX = "file-cert:"
FILE_ROOT_PREFIX = "file-root:"


def secret_resources(secret: WorkloadSecret) -> dict[str, secret_pb2.Secret]:
    return {
        WORKLOAD_SECRET: secret_pb2.Secret(
            name=WORKLOAD_SECRET,
            tls_certificate=common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(inline_bytes=secret.chain_pem.encode()),
                private_key=base_pb2.DataSource(inline_bytes=secret.key_pem.encode()),
            ),
        ),
        ROOT_SECRET: secret_pb2.Secret(
            name=ROOT_SECRET,
            validation_context=common_pb2.CertificateValidationContext(
                trusted_ca=base_pb2.DataSource(inline_bytes=secret.roots_pem.encode())
            ),
        ),
    }


def file_secret(name: str, run_dir: Path | None) -> secret_pb2.Secret | None:
    """The secret Istio names `file-cert:<cert>~<key>` or `file-root:<ca>`, its files read as
    the proxy's container sees them; None (logged) when one cannot be read."""

    def read(path: str) -> bytes:
        return (container_file(run_dir, path) if run_dir else Path(path)).read_bytes()

    try:
        if name.startswith(FILE_CERT_PREFIX):
            cert, _, key = name.removeprefix(FILE_CERT_PREFIX).partition("~")
            return secret_pb2.Secret(
                name=name,
                tls_certificate=common_pb2.TlsCertificate(
                    certificate_chain=base_pb2.DataSource(inline_bytes=read(cert)),
                    private_key=base_pb2.DataSource(inline_bytes=read(key)),
                ),
            )
        if name.startswith(FILE_ROOT_PREFIX):
            ca = read(name.removeprefix(FILE_ROOT_PREFIX))
            return secret_pb2.Secret(
                name=name,
                validation_context=common_pb2.CertificateValidationContext(
                    trusted_ca=base_pb2.DataSource(inline_bytes=ca)
                ),
            )
    except OSError as exc:
        log.warning("secret %s: cannot read %s: %s", name, exc.filename, exc.strerror)
    return None


def _version(secret: secret_pb2.Secret) -> str:
    return hashlib.sha256(secret.SerializeToString(deterministic=True)).hexdigest()[:16]


@dataclass(eq=False)
class _Stream:
    names: tuple[str, ...] = ()
    sent: dict[str, str] = field(default_factory=dict)  # name -> version last sent
    outbox: asyncio.Queue[discovery_pb2.DiscoveryResponse | None] = field(
        default_factory=asyncio.Queue
    )


@dataclass
class SdsServer:
    socket_path: Path
    run_dir: Path | None = None  # the pod's: its files (`file_secret`)
    resources: dict[str, secret_pb2.Secret] = field(default_factory=dict)
    files: dict[str, secret_pb2.Secret] = field(default_factory=dict)  # `file_secret`s read
    versions: dict[str, str] = field(default_factory=dict)
    pushes: int = 0
    nacks: int = 0
    _streams: set[_Stream] = field(default_factory=set)
    _server: grpc.aio.Server | None = None
    _nonce: itertools.count[int] = field(default_factory=itertools.count)

    async def start(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        self._server = grpc.aio.server()
        handler = grpc.stream_stream_rpc_method_handler(
            self.StreamSecrets,
            request_deserializer=discovery_pb2.DiscoveryRequest.FromString,
            response_serializer=discovery_pb2.DiscoveryResponse.SerializeToString,
        )
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"StreamSecrets": handler}),)
        )
        self._server.add_insecure_port(f"unix:{self.socket_path}")
        await self._server.start()
        os.chmod(self.socket_path, 0o600)

    async def stop(self) -> None:
        for stream in self._streams:
            stream.outbox.put_nowait(None)
        if self._server is not None:
            await self._server.stop(0.2)
            self._server = None
        self.socket_path.unlink(missing_ok=True)

    def update(self, secret: WorkloadSecret) -> None:
        """New certificate and/or bundle: push what changed to every stream that asked for it."""
        self.resources = {**secret_resources(secret), **self.files}
        self.versions = {name: _version(r) for name, r in self.resources.items()}
        for stream in self._streams:
            self._send(stream)

    def _send(self, stream: _Stream) -> None:
        """State of the world: one response carrying every name the stream asked for."""
        for name in stream.names:
            if name.startswith((FILE_CERT_PREFIX, FILE_ROOT_PREFIX)) and name not in self.files:
                found = file_secret(name, self.run_dir)
                if found is not None:
                    self.files[name] = self.resources[name] = found
                    self.versions[name] = _version(found)
        names = [n for n in stream.names if n in self.versions]
        if not names or all(stream.sent.get(n) == self.versions[n] for n in names):
            return
        response = discovery_pb2.DiscoveryResponse(
            version_info="-".join(self.versions[n] for n in names),
            type_url=SECRET_TYPE,
            nonce=str(next(self._nonce)),
            resources=[_pack(self.resources[n]) for n in names],
        )
        stream.sent.update((n, self.versions[n]) for n in names)
        stream.outbox.put_nowait(response)
        self.pushes += 1

    async def StreamSecrets(
        self, requests: AsyncIterator[discovery_pb2.DiscoveryRequest], context: Any
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        stream = _Stream()
        self._streams.add(stream)
        reader = asyncio.create_task(self._read(stream, requests))
        try:
            while True:
                response = await stream.outbox.get()
                if response is None:
                    return
                yield response
        finally:
            reader.cancel()
            self._streams.discard(stream)

    async def _read(
        self, stream: _Stream, requests: AsyncIterator[discovery_pb2.DiscoveryRequest]
    ) -> None:
        try:
            async for request in requests:
                if request.HasField("error_detail"):
                    self.nacks += 1
                    log.warning("Envoy rejected secret: %s", request.error_detail.message)
                    continue
                names = tuple(sorted(set(stream.names) | set(request.resource_names)))
                stream.names = names
                self._send(stream)
        finally:
            stream.outbox.put_nowait(None)


def _pack(message: secret_pb2.Secret) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def sds_socket_path(run_dir: Path) -> Path:
    """`<run dir>/sds.sock`, or a short private folder when that path is too long for a unix
    socket (108 bytes)."""
    path = run_dir / "sds.sock"
    if len(str(path)) < 100:
        return path
    digest = hashlib.sha256(str(run_dir).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"pilotfish-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{digest}.sock"
