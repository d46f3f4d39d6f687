"""EnvoyFilter (networking.istio.io v1alpha3): config patches and their matches.

Class names are Istio's proto message names; attributes are the snake_case of the API fields, with
the camelCase as alias. Validation beyond types lives in `pilotfish.config.validation`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pilotfish.config.models.base import EnumNumber, Int, IstioModel, Str
from pilotfish.config.models.selectors import (
    PolicyTargetReference as PolicyTargetReference,
)
from pilotfish.config.models.selectors import (
    SidecarWorkloadSelector as SidecarWorkloadSelector,
)

CONTEXTS = ("ANY", "SIDECAR_INBOUND", "SIDECAR_OUTBOUND", "GATEWAY", "WAYPOINT")
APPLY_TO = (
    "INVALID", "LISTENER", "FILTER_CHAIN", "NETWORK_FILTER", "HTTP_FILTER",
    "ROUTE_CONFIGURATION", "VIRTUAL_HOST", "HTTP_ROUTE", "CLUSTER", "EXTENSION_CONFIG",
    "BOOTSTRAP", "LISTENER_FILTER",
)  # fmt: skip
OPERATIONS = (
    "INVALID", "MERGE", "ADD", "REMOVE", "INSERT_BEFORE", "INSERT_AFTER", "INSERT_FIRST",
    "REPLACE", "MERGE_AND_REPLACE_LIST",
)  # fmt: skip
ROUTE_ACTIONS = ("ANY", "ROUTE", "REDIRECT", "DIRECT_RESPONSE")


def enum_name(value: object, names: tuple[str, ...]) -> str:
    """An enum field's name, from its name or number (the first name when unset)."""
    if value is None:
        return names[0]
    if isinstance(value, int) and not isinstance(value, bool):
        return names[value] if 0 <= value < len(names) else str(value)
    return str(value)


class ClusterMatch(IstioModel):
    name: Str | None = None
    port_number: Int | None = None
    service: Str | None = None
    subset: Str | None = None


class SubFilterMatch(IstioModel):
    name: Str | None = None


class FilterMatch(IstioModel):
    name: Str | None = None
    sub_filter: SubFilterMatch | None = None


class FilterChainMatch(IstioModel):
    application_protocols: Str | None = None
    destination_port: Int | None = None
    filter: FilterMatch | None = None
    name: Str | None = None
    sni: Str | None = None
    transport_protocol: Str | None = None
    transport_socket: Str | None = None


class ListenerMatch(IstioModel):
    filter_chain: FilterChainMatch | None = None
    listener_filter: Str | None = None
    name: Str | None = None
    port_name: Str | None = None
    port_number: Int | None = None


class ProxyMatch(IstioModel):
    metadata: dict[str, Str] = Field(default_factory=dict)
    proxy_version: Str | None = None


class RouteMatch(IstioModel):
    action: Literal["ANY", "ROUTE", "REDIRECT", "DIRECT_RESPONSE"] | EnumNumber | None = None
    name: Str | None = None


class VirtualHostMatch(IstioModel):
    domain_name: Str | None = None
    name: Str | None = None
    route: RouteMatch | None = None


class RouteConfigurationMatch(IstioModel):
    gateway: Str | None = None
    name: Str | None = None
    port_name: Str | None = None
    port_number: Int | None = None
    vhost: VirtualHostMatch | None = None


class WaypointFilterMatch(IstioModel):
    name: Str | None = None
    sub_filter: SubFilterMatch | None = None


class WaypointRouteMatch(IstioModel):
    name: Str | None = None


class WaypointMatch(IstioModel):
    filter: WaypointFilterMatch | None = None
    port_number: Int | None = None
    route: WaypointRouteMatch | None = None


class EnvoyConfigObjectMatch(IstioModel):
    cluster: ClusterMatch | None = None
    context: (
        Literal["ANY", "SIDECAR_INBOUND", "SIDECAR_OUTBOUND", "GATEWAY", "WAYPOINT"]
        | EnumNumber
        | None
    ) = None
    listener: ListenerMatch | None = None
    proxy: ProxyMatch | None = None
    route_configuration: RouteConfigurationMatch | None = None
    waypoint: WaypointMatch | None = None


class Patch(IstioModel):
    filter_class: Literal["UNSPECIFIED", "AUTHN", "AUTHZ", "STATS"] | EnumNumber | None = None
    operation: (
        Literal[
            "INVALID",
            "MERGE",
            "ADD",
            "REMOVE",
            "INSERT_BEFORE",
            "INSERT_AFTER",
            "INSERT_FIRST",
            "REPLACE",
            "MERGE_AND_REPLACE_LIST",
        ]
        | EnumNumber
        | None
    ) = None
    value: dict[str, Any] | None = None  # `{}` is a value (Istio refuses only a missing one)


class EnvoyConfigObjectPatch(IstioModel):
    apply_to: (
        Literal[
            "INVALID",
            "LISTENER",
            "FILTER_CHAIN",
            "NETWORK_FILTER",
            "HTTP_FILTER",
            "ROUTE_CONFIGURATION",
            "VIRTUAL_HOST",
            "HTTP_ROUTE",
            "CLUSTER",
            "EXTENSION_CONFIG",
            "BOOTSTRAP",
            "LISTENER_FILTER",
        ]
        | EnumNumber
        | None
    ) = None
    match: EnvoyConfigObjectMatch | None = None
    patch: Patch | None = None


class EnvoyFilterSpec(IstioModel):
    config_patches: tuple[EnvoyConfigObjectPatch, ...] = ()
    priority: Int | None = None
    target_refs: tuple[PolicyTargetReference, ...] = ()
    workload_selector: SidecarWorkloadSelector | None = None
