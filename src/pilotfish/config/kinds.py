"""The Istio kinds pilotfish knows: API group, served versions and the spec model of each.

Owns `KindInfo` and `ISTIO_KINDS`, and `lookup(api_version, kind)` which tells an Istio document
(any served version maps to the same kind) from everything else (`v1 Service`, `Namespace`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from pilotfish.config.models import networking, security, telemetry

NETWORKING = "networking.istio.io"
SECURITY = "security.istio.io"
TELEMETRY = "telemetry.istio.io"
_NETWORKING_VERSIONS = ("v1", "v1beta1", "v1alpha3")


@dataclass(frozen=True)
class KindInfo:
    group: str
    kind: str
    versions: tuple[str, ...]
    spec: type[BaseModel]
    namespaced: bool = True


ISTIO_KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo(NETWORKING, "VirtualService", _NETWORKING_VERSIONS, networking.VirtualServiceSpec),
        KindInfo(
            NETWORKING, "DestinationRule", _NETWORKING_VERSIONS, networking.DestinationRuleSpec
        ),
        KindInfo(NETWORKING, "Gateway", _NETWORKING_VERSIONS, networking.GatewaySpec),
        KindInfo(NETWORKING, "ServiceEntry", _NETWORKING_VERSIONS, networking.ServiceEntrySpec),
        KindInfo(NETWORKING, "WorkloadEntry", _NETWORKING_VERSIONS, networking.WorkloadEntrySpec),
        KindInfo(NETWORKING, "WorkloadGroup", _NETWORKING_VERSIONS, networking.WorkloadGroupSpec),
        KindInfo(NETWORKING, "Sidecar", _NETWORKING_VERSIONS, networking.SidecarSpec),
        KindInfo(NETWORKING, "ProxyConfig", ("v1beta1",), networking.ProxyConfigSpec),
        KindInfo(NETWORKING, "EnvoyFilter", ("v1alpha3",), networking.EnvoyFilterSpec),
        KindInfo(
            SECURITY, "PeerAuthentication", ("v1", "v1beta1"), security.PeerAuthenticationSpec
        ),
        KindInfo(
            SECURITY, "AuthorizationPolicy", ("v1", "v1beta1"), security.AuthorizationPolicySpec
        ),
        KindInfo(
            SECURITY, "RequestAuthentication", ("v1", "v1beta1"), security.RequestAuthenticationSpec
        ),
        KindInfo(TELEMETRY, "Telemetry", ("v1", "v1alpha1"), telemetry.TelemetrySpec),
    )
}

ISTIO_GROUPS = frozenset({NETWORKING, SECURITY, TELEMETRY, "extensions.istio.io"})


def split_api_version(api_version: str) -> tuple[str, str]:
    """`networking.istio.io/v1` → ("networking.istio.io", "v1"); `v1` → ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


def lookup(api_version: str, kind: str) -> KindInfo | None:
    """The Istio kind for this apiVersion/kind, or None for a document of another API."""
    group, _ = split_api_version(api_version)
    info = ISTIO_KINDS.get(kind)
    if info is None or info.group != group:
        return None
    return info


def is_istio_group(api_version: str) -> bool:
    return split_api_version(api_version)[0] in ISTIO_GROUPS
