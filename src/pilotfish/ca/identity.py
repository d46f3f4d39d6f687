"""SPIFFE identities as Istio writes them: `spiffe://<trust domain>/ns/<namespace>/sa/<account>`.

Policies and the proxy status name identities without the `spiffe://` prefix (principals).
Also the names under which an agent hands an identity to its Envoy over SDS (Istio's).
"""

from __future__ import annotations

from dataclasses import dataclass

SDS_CLUSTER = "sds-grpc"  # the bootstrap cluster of the agent's SDS socket (Istio's name)
WORKLOAD_SECRET = "default"  # Istio's SDS names: the workload certificate and key,
ROOT_SECRET = "ROOTCA"  # and the trust bundle
SPIFFE_PREFIX = "spiffe://"
DEFAULT_TRUST_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class Identity:
    """A workload identity: trust domain, namespace and service account."""

    namespace: str
    service_account: str
    trust_domain: str = DEFAULT_TRUST_DOMAIN

    @property
    def uri(self) -> str:
        return spiffe_id(self.trust_domain, self.namespace, self.service_account)

    @property
    def principal(self) -> str:
        return self.uri.removeprefix(SPIFFE_PREFIX)


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    return f"{SPIFFE_PREFIX}{trust_domain}/ns/{namespace}/sa/{service_account}"


def parse_spiffe_id(uri: str) -> Identity | None:
    """The identity in a SPIFFE URI of Istio's shape (exactly 5 path segments), else None."""
    if not uri.startswith(SPIFFE_PREFIX):
        return None
    parts = uri.removeprefix(SPIFFE_PREFIX).split("/")
    if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa" or not all(parts):
        return None
    return Identity(namespace=parts[2], service_account=parts[4], trust_domain=parts[0])


def trust_domain_prefix(trust_domain: str) -> str:
    """What every identity of `trust_domain` starts with (for SAN prefix matching)."""
    return f"{SPIFFE_PREFIX}{trust_domain}/"
