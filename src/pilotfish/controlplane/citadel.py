"""The control plane's CA state: which signing material is in force, and checking a plug-in CA
`Secret` before a change adopts it (bad CA material is rejected whole, the last good CA stays).

Material, in Istio's order: a `v1 Secret` `cacerts` (or `istio-ca-secret`) in the root namespace
(`pilotfish.ca.storage` reads both key-name forms), else plug-in files (`--cacerts DIR`), else the
self-signed root in `<state>/ca/` (created on first start; a lost key refuses to start).

`CitadelMetrics` exports istiod's CA gauges on 15014/metrics, read from the material in force at
scrape time: `citadel_server_root_cert_expiry_timestamp` (the earliest root of the trust bundle)
and `citadel_server_cert_chain_expiry_timestamp` (the earliest of the signing certificate and its
chain), as Unix seconds, and their `_seconds` twins (time left, negative once expired).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from pilotfish.ca import certs, storage
from pilotfish.ca.authority import MAX_TTL, CertificateAuthority, SigningMaterial
from pilotfish.ca.errors import CaStateError
from pilotfish.config.objects import Diagnostic
from pilotfish.registry.manifest import Manifest
from pilotfish.registry.types import TlsSecret

CA_SECRET_NAMES = storage.CA_SECRET_NAMES


def ca_secret(manifest: Manifest, root_namespace: str) -> TlsSecret | None:
    for name in CA_SECRET_NAMES:
        found = next(
            (s for s in manifest.secrets if (s.namespace, s.name) == (root_namespace, name)), None
        )
        if found is not None:
            return found
    return None


@dataclass
class CaState:
    state_dir: Path
    cacerts_dir: Path | None = None
    max_ttl: datetime.timedelta = MAX_TTL
    base: SigningMaterial | None = None
    _plugged: dict[tuple[tuple[str, str], ...], SigningMaterial] = field(default_factory=dict)
    _secret: TlsSecret | None = None
    on_change: Callable[[], None] | None = None  # the CA secret changed (roots may have)

    def start(self, trust_domain: str, now: datetime.datetime) -> None:
        """Load (or, on first start, create) the base material. Raises CaStateError."""
        if self.cacerts_dir is not None:
            self.base = storage.material_from_files(self.cacerts_dir)
        else:
            self.base = storage.self_signed(self.state_dir, trust_domain, now)

    def _material_of(self, secret: TlsSecret) -> SigningMaterial:
        if secret.data not in self._plugged:
            self._plugged = {
                secret.data: storage.material_from_secret(
                    secret.namespace, secret.name, dict(secret.data)
                )
            }
        return self._plugged[secret.data]

    def check(self, manifest: Manifest, root_namespace: str) -> list[Diagnostic]:
        """Errors if the manifest's CA secret is not usable CA material."""
        secret = ca_secret(manifest, root_namespace)
        if secret is None:
            return []
        try:
            self._material_of(secret)
        except CaStateError as exc:
            return [
                Diagnostic(
                    "error",
                    f"not a usable CA: {exc}",
                    path="data",
                    kind="Secret",
                    name=f"{secret.namespace}/{secret.name}",
                )
            ]
        return []

    def adopt(self, manifest: Manifest, root_namespace: str) -> None:
        secret = ca_secret(manifest, root_namespace)
        changed = secret != self._secret
        self._secret = secret
        if changed and self.on_change is not None:
            self.on_change()

    @property
    def material(self) -> SigningMaterial:
        if self._secret is not None:
            try:
                return self._material_of(self._secret)
            except CaStateError:
                pass  # checked before adoption; a bad secret on disk falls back to the base
        if self.base is None:
            raise CaStateError("the CA was not started")
        return self.base

    def authority(self, trust_domain: str) -> CertificateAuthority:
        return CertificateAuthority(self.material, trust_domain=trust_domain, max_ttl=self.max_ttl)

    def status(self) -> dict[str, Any]:
        material = self.material
        return {
            "source": material.source,
            "signer": certs.summarize(material.signer).__dict__,
            "roots": [certs.summarize(r).__dict__ for r in material.roots],
            "root_cert": material.roots_pem,  # what `istio-ca-root-cert` holds in each namespace
            "max_workload_cert_ttl_seconds": int(self.max_ttl.total_seconds()),
        }


class CitadelMetrics:
    """istiod's certificate expiry gauges (a collector: computed when scraped)."""

    def __init__(self, ca: CaState, registry: CollectorRegistry) -> None:
        self.ca = ca
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        try:
            material = self.ca.material
        except CaStateError:  # not started yet
            return
        root = min(r.not_valid_after_utc for r in material.roots).timestamp()
        chain = min(c.not_valid_after_utc for c in (material.signer, *material.chain)).timestamp()
        now = time.time()
        for what, expiry in (("root_cert", root), ("cert_chain", chain)):
            label = "root cert" if what == "root_cert" else "cert chain"
            yield GaugeMetricFamily(
                f"citadel_server_{what}_expiry_timestamp",
                f"The unix timestamp, in seconds, when Citadel {label} will expire.",
                value=expiry,
            )
            yield GaugeMetricFamily(
                f"citadel_server_{what}_expiry_seconds",
                f"The time remaining, in seconds, before Citadel {label} will expire. "
                "A negative value indicates the cert is expired.",
                value=expiry - now,
            )

    def describe(self) -> Iterator[Metric]:
        return iter(())
