"""The signing service with Istio's shape: `istio.v1.auth.IstioCertificateService/CreateCertificate`
(`IstioCertificateRequest{csr, validity_duration, metadata}` -> `IstioCertificateResponse
{cert_chain}`), authenticated by an `authorization: Bearer <token>` call header, and its client.

The messages are built from a descriptor here (Istio's field numbers), so no generated code is
needed. A refused call ends with UNAUTHENTICATED (no or unknown token) or INVALID_ARGUMENT (the
CSR: another identity, extra SANs, lifetime, malformed), with the reason as the status details.

pilotfish adds `pilotfish.ca.v1.TrustBundleService/Watch` (server streaming, same bearer token):
the trust bundle (PEM roots) now and again each time it changes (a plug-in `cacerts` applied
or removed), so agents push a new `ROOTCA` to their Envoy at once instead of at their next
rotation. This stands in for Istio's `istio-ca-root-cert` ConfigMap that agents watch.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, struct_pb2

from pilotfish.ca.authority import CertificateAuthority
from pilotfish.ca.errors import CsrRejected, Unauthenticated
from pilotfish.ca.tokens import TokenRegistry

log = logging.getLogger("pilotfish.ca")

SERVICE = "istio.v1.auth.IstioCertificateService"
METHOD = "CreateCertificate"
FULL_METHOD = f"/{SERVICE}/{METHOD}"
BUNDLE_SERVICE = "pilotfish.ca.v1.TrustBundleService"
BUNDLE_METHOD = f"/{BUNDLE_SERVICE}/Watch"


def _messages() -> tuple[Any, Any]:
    pool = descriptor_pool.DescriptorPool()
    struct_file = descriptor_pb2.FileDescriptorProto()
    struct_pb2.DESCRIPTOR.CopyToProto(struct_file)
    pool.Add(struct_file)
    proto = descriptor_pb2.FileDescriptorProto(
        name="pilotfish/ca/istioca.proto",
        package="istio.v1.auth",
        syntax="proto3",
        dependency=["google/protobuf/struct.proto"],
    )
    field = descriptor_pb2.FieldDescriptorProto
    request = proto.message_type.add(name="IstioCertificateRequest")
    request.field.add(name="csr", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    request.field.add(
        name="validity_duration", number=3, type=field.TYPE_INT64, label=field.LABEL_OPTIONAL
    )
    request.field.add(
        name="metadata",
        number=4,
        type=field.TYPE_MESSAGE,
        type_name=".google.protobuf.Struct",
        label=field.LABEL_OPTIONAL,
    )
    response = proto.message_type.add(name="IstioCertificateResponse")
    response.field.add(
        name="cert_chain", number=1, type=field.TYPE_STRING, label=field.LABEL_REPEATED
    )
    pool.Add(proto)
    get = message_factory.GetMessageClass
    return (
        get(pool.FindMessageTypeByName("istio.v1.auth.IstioCertificateRequest")),
        get(pool.FindMessageTypeByName("istio.v1.auth.IstioCertificateResponse")),
    )


CertificateRequest, CertificateResponse = _messages()


def bearer_token(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key.lower() == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class CaService:
    """Serves CreateCertificate from the CA `authority()` returns at call time (it changes when
    a plug-in CA secret is applied)."""

    def __init__(
        self,
        authority: Callable[[], CertificateAuthority],
        tokens: TokenRegistry,
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        self.authority = authority
        self.tokens = tokens
        self.clock = clock or (lambda: datetime.datetime.now(datetime.UTC))
        self.signed = 0
        self.refused = 0
        self.watchers = 0
        self._roots_changed = asyncio.Event()

    def notify_roots(self) -> None:
        """The CA's material may have changed: wake every trust bundle watch."""
        self._roots_changed.set()
        self._roots_changed = asyncio.Event()

    async def WatchTrustBundle(
        self, request: bytes, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        try:
            self.tokens.authenticate(bearer_token(context.invocation_metadata()))
        except Unauthenticated as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        self.watchers += 1
        try:
            sent = ""
            while True:
                changed = self._roots_changed
                roots = self.authority().material.roots_pem
                if roots != sent:
                    sent = roots
                    yield roots.encode()
                await changed.wait()
        finally:
            self.watchers -= 1

    def create(self, request: Any, token: str | None) -> Any:
        """The protocol without I/O: raises Unauthenticated or CsrRejected."""
        identity, instance = self.tokens.authenticate(token)
        chain = self.authority().sign(
            request.csr, identity, int(request.validity_duration), self.clock()
        )
        log.info("signed a certificate for %s (%s)", identity.principal, instance)
        return CertificateResponse(cert_chain=chain)

    async def CreateCertificate(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            response = self.create(request, bearer_token(context.invocation_metadata()))
        except Unauthenticated as exc:
            self.refused += 1
            log.warning("CreateCertificate refused: %s", exc)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except CsrRejected as exc:
            self.refused += 1
            log.warning("CreateCertificate refused: %s", exc)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        self.signed += 1
        return response

    def handlers(self) -> tuple[grpc.GenericRpcHandler, ...]:
        return (
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    METHOD: grpc.unary_unary_rpc_method_handler(
                        self.CreateCertificate,
                        request_deserializer=CertificateRequest.FromString,
                        response_serializer=CertificateResponse.SerializeToString,
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                BUNDLE_SERVICE,
                {"Watch": grpc.unary_stream_rpc_method_handler(self.WatchTrustBundle)},
            ),
        )


async def request_certificate(
    channel: grpc.aio.Channel, csr_pem: str, token: str, ttl_seconds: int, timeout: float = 10
) -> list[str]:
    """Call CreateCertificate; returns the cert chain. Raises grpc.aio.AioRpcError on refusal."""
    call = channel.unary_unary(
        FULL_METHOD,
        request_serializer=CertificateRequest.SerializeToString,
        response_deserializer=CertificateResponse.FromString,
    )
    response = await call(
        CertificateRequest(csr=csr_pem, validity_duration=ttl_seconds),
        metadata=(("authorization", f"Bearer {token}"),),
        timeout=timeout,
    )
    return list(response.cert_chain)


async def watch_trust_bundle(channel: grpc.aio.Channel, token: str) -> AsyncIterator[str]:
    """The trust bundle now, then each new one. Raises grpc.aio.AioRpcError when the stream
    ends (refused, or the control plane went away)."""
    call = channel.unary_stream(BUNDLE_METHOD)
    async for message in call(b"", metadata=(("authorization", f"Bearer {token}"),)):
        yield bytes(message).decode()
