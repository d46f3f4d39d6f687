"""The agent's side of workload identity (Istio's pilot-agent secret manager).

The private key is generated here and never leaves the agent except to its own Envoy over SDS:
not in Envoy's bootstrap, not to the control plane (which sees only the CSR). The agent sends the
CSR with its bearer token, keeps the certificate chain as the CA answers it (leaf, intermediates,
roots: Istio's agent serves the whole chain as `default`, so a handshake shows the root too) and
the trust bundle, rotates at about half the certificate's lifetime (50% ± 1% jitter, counted
from when it was received, as Istio does), retries with exponential backoff while the CA is
unreachable or refuses, and keeps serving the current certificate meanwhile. A new key is made
for every new certificate (RSA 2048 unless the spec asks for ECDSA, as Istio's
`ECC_SIGNATURE_ALGORITHM`).

It also watches the CA's trust bundle (`watch_roots`): a new bundle is pushed to Envoy as
`ROOTCA` at once, and when the workload certificate no longer chains to a root of it, a new
certificate is requested at once too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc
from cryptography import x509

from pilotfish.agent.upstream import ControlPlaneTls, channel
from pilotfish.ca import certs
from pilotfish.ca.service import request_certificate, watch_trust_bundle

log = logging.getLogger("pilotfish.agent.identity")

ROTATION_RATIO = 0.5
ROTATION_JITTER = 0.01
RETRY_FIRST, RETRY_MAX = 0.2, 10.0


@dataclass(frozen=True)
class IdentitySpec:
    ca_address: str  # host:port of the CA (the control plane's 15010 on loopback)
    token_path: Path
    uri: str  # the identity this agent expects (the CA decides; a mismatch is logged)
    ttl_seconds: int = 0  # 0: the CA's default (24 h)
    key_algorithm: certs.KeyAlgorithm = "RSA"  # Istio's agent: RSA 2048 unless ECDSA is asked
    tls: ControlPlaneTls | None = None  # a host outside the mesh: the CA over TLS (15012)


@dataclass(frozen=True)
class WorkloadSecret:
    """What SDS serves: `default` (chain + key) and `ROOTCA` (the trust bundle)."""

    chain_pem: str
    key_pem: str
    roots_pem: str
    received: float  # time.time() when it arrived
    not_after: float

    @property
    def rotate_at(self) -> float:
        ratio = ROTATION_RATIO + random.uniform(-ROTATION_JITTER, ROTATION_JITTER)
        return self.received + (self.not_after - self.received) * ratio


def split_chain(chain: list[str]) -> tuple[str, str]:
    """Istio's cert_chain is the leaf, its intermediates, then the roots: (the whole chain, as
    Istio's agent serves it for `default`, roots included; the roots). Raises ValueError on an
    empty or unparsable chain."""
    parsed = [x509.load_pem_x509_certificate(c.encode()) for c in chain]
    if not parsed or certs.is_self_signed(parsed[0]):
        raise ValueError("the CA answered without a workload certificate")
    roots = [c for c in parsed if certs.is_self_signed(c)]
    if not roots:
        raise ValueError("the CA answered without a root certificate")
    return certs.bundle(parsed), certs.bundle(roots)


@dataclass
class IdentityManager:
    spec: IdentitySpec
    on_update: Callable[[WorkloadSecret], None]
    current: WorkloadSecret | None = None
    failures: int = 0
    issued: int = 0
    _key: certs.PrivateKey | None = None
    watched_roots: str = ""  # the bundle the trust bundle watch last delivered
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _refresh: asyncio.Event = field(default_factory=asyncio.Event)

    async def fetch_once(self) -> WorkloadSecret:
        if self._key is None:  # kept across retries; a new one for every new certificate
            # RSA generation takes a while: off the event loop the other agents share
            self._key = await asyncio.to_thread(certs.generate_key, self.spec.key_algorithm)
        key = self._key
        csr = certs.csr_for(key, self.spec.uri)
        token = self.spec.token_path.read_text().strip()
        async with channel(self.spec.ca_address, self.spec.tls) as ca:
            chain = await request_certificate(ca, csr, token, self.spec.ttl_seconds)
        chain_pem, roots_pem = split_chain(chain)
        leaf = x509.load_pem_x509_certificate(chain[0].encode())
        if certs.uri_sans(leaf) != [self.spec.uri]:
            log.warning("the CA issued %s, not %s", certs.uri_sans(leaf), self.spec.uri)
        self._key = None
        return WorkloadSecret(
            chain_pem=chain_pem,
            key_pem=certs.key_pem(key),
            roots_pem=roots_pem,
            received=time.time(),
            not_after=leaf.not_valid_after_utc.timestamp(),
        )

    def refresh(self) -> None:
        """Ask for a new certificate now (e.g. the CA's roots changed)."""
        self._refresh.set()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def run(self) -> None:
        backoff = RETRY_FIRST
        while True:
            try:
                secret = await self.fetch_once()
            except (OSError, ValueError, grpc.aio.AioRpcError) as exc:
                self.failures += 1
                detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
                log.warning("certificate request failed (retry in %.1f s): %s", backoff, detail)
                await self._sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX)
                continue
            backoff = RETRY_FIRST
            if self.watched_roots:  # the watch is newer than the roots sent with a chain
                secret = replace(secret, roots_pem=self.watched_roots)
            self.current = secret
            self.issued += 1
            self.on_update(secret)
            self._ready.set()
            await self._sleep(max(secret.rotate_at - time.time(), 0.05))

    async def watch_roots(self) -> None:
        """Follow the CA's trust bundle for as long as the agent runs (reconnecting with
        backoff)."""
        backoff = RETRY_FIRST
        while True:
            try:
                token = self.spec.token_path.read_text().strip()
                async with channel(self.spec.ca_address, self.spec.tls) as ca:
                    async for roots in watch_trust_bundle(ca, token):
                        backoff = RETRY_FIRST
                        self.new_roots(roots)
            except (OSError, grpc.aio.AioRpcError) as exc:
                detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
                log.debug("trust bundle watch ended (retry in %.1f s): %s", backoff, detail)
            self.watched_roots = ""
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX)

    def new_roots(self, roots_pem: str) -> None:
        """A trust bundle from the watch: serve it now; renew a certificate it cannot verify."""
        try:
            roots = certs.load_certs(roots_pem)
        except ValueError:
            log.warning("ignoring a trust bundle that is not PEM certificates")
            return
        self.watched_roots = roots_pem
        current = self.current
        if current is None or current.roots_pem == roots_pem:
            return
        log.info("new trust bundle: %d root(s)", len(roots))
        self.current = replace(current, roots_pem=roots_pem)
        self.on_update(self.current)
        top = [c for c in certs.load_certs(current.chain_pem) if not certs.is_self_signed(c)][-1]
        if not any(top.issuer == root.subject for root in roots):
            self.refresh()

    async def _sleep(self, seconds: float) -> None:
        self._refresh.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._refresh.wait(), seconds)
