"""`PushContext`: one immutable, indexed snapshot of all config and the registry.

Translation reads only this (and the `Proxy`); a new push context is built for every change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pilotfish.config.objects import ConfigObject
from pilotfish.registry.types import CLUSTER_DOMAIN, RegistrySnapshot


@dataclass(frozen=True)
class MeshConfig:
    """The subset of Istio's MeshConfig that pilotfish honours (same names, same defaults)."""

    root_namespace: str = "istio-system"
    trust_domain: str = CLUSTER_DOMAIN
    outbound_traffic_policy: str = "ALLOW_ANY"
    enable_prometheus_merge: bool = True
    proxy_admin_port: int = 15000
    ingress_selector: str = "ingressgateway"


def resolve_host(host: str, namespace: str) -> str:
    """Istio's short-name rule: a host with no dot is relative to the config's namespace."""
    if "." in host or host == "*" or host.startswith("*"):
        return host
    return f"{host}.{namespace}.svc.{CLUSTER_DOMAIN}"


@dataclass(frozen=True)
class PushContext:
    registry: RegistrySnapshot
    configs: tuple[ConfigObject[Any], ...] = ()
    mesh: MeshConfig = field(default_factory=MeshConfig)

    def of_kind(self, kind: str) -> tuple[ConfigObject[Any], ...]:
        """Objects of one kind, sorted by (namespace, name): the order Istio resolves ties in."""
        found = [c for c in self.configs if c.meta.kind == kind]
        return tuple(sorted(found, key=lambda c: (c.meta.namespace, c.meta.name)))

    @property
    def version(self) -> str:
        digest = hashlib.sha256()
        for item in _identity(self.configs):
            digest.update(item.encode())
        digest.update(repr(self.registry.services).encode())
        digest.update(repr(self.registry.instances).encode())
        return digest.hexdigest()[:12]


def _identity(configs: Iterable[ConfigObject[Any]]) -> Iterable[str]:
    for c in sorted(configs, key=lambda c: c.meta.key):
        yield repr((c.meta.key, c.raw.get("spec")))
