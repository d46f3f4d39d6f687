"""Sidecar (networking.istio.io v1/v1beta1/v1alpha3): ingress/egress listeners.

Class names are Istio's proto message names; attributes are the snake_case of the API fields, with
the camelCase as alias. Validation beyond types lives in `pilotfish.config.validation`.
"""

from __future__ import annotations

from typing import Literal

from pilotfish.config.models.base import EnumNumber, Int, IstioModel, Str
from pilotfish.config.models.networking.destination_rule import ConnectionPoolSettings
from pilotfish.config.models.networking.gateway import ServerTLSSettings
from pilotfish.config.models.networking.virtual_service import Destination
from pilotfish.config.models.selectors import SidecarWorkloadSelector as SidecarWorkloadSelector


class SidecarPort(IstioModel):
    name: Str | None = None
    number: Int | None = None
    protocol: Str | None = None
    target_port: Int | None = None


class IstioEgressListener(IstioModel):
    bind: Str | None = None
    capture_mode: Literal["DEFAULT", "IPTABLES", "NONE"] | EnumNumber | None = None
    hosts: tuple[Str, ...] = ()
    port: SidecarPort | None = None


class IstioIngressListener(IstioModel):
    bind: Str | None = None
    capture_mode: Literal["DEFAULT", "IPTABLES", "NONE"] | EnumNumber | None = None
    connection_pool: ConnectionPoolSettings | None = None
    default_endpoint: Str | None = None
    port: SidecarPort | None = None
    tls: ServerTLSSettings | None = None


class OutboundTrafficPolicy(IstioModel):
    egress_proxy: Destination | None = None
    mode: Literal["REGISTRY_ONLY", "ALLOW_ANY"] | EnumNumber | None = None


class SidecarSpec(IstioModel):
    egress: tuple[IstioEgressListener, ...] = ()
    inbound_connection_pool: ConnectionPoolSettings | None = None
    ingress: tuple[IstioIngressListener, ...] = ()
    outbound_traffic_policy: OutboundTrafficPolicy | None = None
    workload_selector: SidecarWorkloadSelector | None = None
