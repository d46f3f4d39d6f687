"""The Istio kinds pilotfish knows: API group, served versions and the spec model of each.

Owns `KindInfo` and `ISTIO_KINDS` (each kind's models are imported on first use), and
`lookup(api_version, kind)` which tells an Istio document (any served version maps to the same
kind) from everything else (`v1 Service`, `Namespace`, ...).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from pydantic import BaseModel

NETWORKING = "networking.istio.io"
SECURITY = "security.istio.io"
TELEMETRY = "telemetry.istio.io"
_NETWORKING_VERSIONS = ("v1", "v1beta1", "v1alpha3")
_MODELS = "pilotfish.config.models"


@dataclass(frozen=True)
class KindInfo:
    """One Istio kind. `spec` imports its model module on first use (`module:Class` in
    `spec_name`), so that reading a VirtualService never imports the EnvoyFilter models."""

    group: str
    kind: str
    versions: tuple[str, ...]
    spec_name: str
    namespaced: bool = True

    @property
    def spec(self) -> type[BaseModel]:
        module, _, name = self.spec_name.partition(":")
        model = getattr(importlib.import_module(f"{_MODELS}.{module}"), name)
        assert isinstance(model, type) and issubclass(model, BaseModel)
        return model


ISTIO_KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo(
            NETWORKING,
            "VirtualService",
            _NETWORKING_VERSIONS,
            "networking.virtual_service:VirtualServiceSpec",
        ),
        KindInfo(
            NETWORKING,
            "DestinationRule",
            _NETWORKING_VERSIONS,
            "networking.destination_rule:DestinationRuleSpec",
        ),
        KindInfo(NETWORKING, "Gateway", _NETWORKING_VERSIONS, "networking.gateway:GatewaySpec"),
        KindInfo(
            NETWORKING,
            "ServiceEntry",
            _NETWORKING_VERSIONS,
            "networking.service_entry:ServiceEntrySpec",
        ),
        KindInfo(
            NETWORKING,
            "WorkloadEntry",
            _NETWORKING_VERSIONS,
            "networking.workload_entry:WorkloadEntrySpec",
        ),
        KindInfo(
            NETWORKING,
            "WorkloadGroup",
            _NETWORKING_VERSIONS,
            "networking.workload_entry:WorkloadGroupSpec",
        ),
        KindInfo(NETWORKING, "Sidecar", _NETWORKING_VERSIONS, "networking.sidecar:SidecarSpec"),
        KindInfo(
            NETWORKING, "ProxyConfig", ("v1beta1",), "networking.proxy_config:ProxyConfigSpec"
        ),
        KindInfo(
            NETWORKING, "EnvoyFilter", ("v1alpha3",), "networking.envoy_filter:EnvoyFilterSpec"
        ),
        KindInfo(
            SECURITY,
            "PeerAuthentication",
            ("v1", "v1beta1"),
            "security.peer_authentication:PeerAuthenticationSpec",
        ),
        KindInfo(
            SECURITY,
            "AuthorizationPolicy",
            ("v1", "v1beta1"),
            "security.authorization_policy:AuthorizationPolicySpec",
        ),
        KindInfo(
            SECURITY,
            "RequestAuthentication",
            ("v1", "v1beta1"),
            "security.request_authentication:RequestAuthenticationSpec",
        ),
        KindInfo(TELEMETRY, "Telemetry", ("v1", "v1alpha1"), "telemetry.telemetry:TelemetrySpec"),
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
