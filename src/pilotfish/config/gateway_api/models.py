"""Spec models of the Gateway API kinds pilotfish serves (gateway.networking.k8s.io v1).

Field names and defaults are the CRDs' (kubernetes-sigs/gateway-api, standard channel): a
listener's `allowedRoutes.namespaces.from` is `Same`, a route rule without `matches` matches the
path prefix `/`, a path match's type is `PathPrefix`, a header or query match's `Exact`, a
backend's `kind` `Service` (core group) and its `weight` 1, a parent's `kind` `Gateway`. A rule
without `matches` (the CRD's default `PathPrefix /`) is kept without, as Istio's conversion
tests read it: it matches every request either way. `spec_of` reads a stored document's spec. Types
are checked here (with field paths); the CRDs' other rules are `rules`.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

from pydantic import BaseModel, Field

from pilotfish.config.kinds import gateway_api_kind
from pilotfish.config.models.base import Int, IstioModel, Str
from pilotfish.config.schema import build_spec

PathType = Literal["Exact", "PathPrefix", "RegularExpression"]
MatchType = Literal["Exact", "RegularExpression"]
Method = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
FilterType = Literal[
    "RequestHeaderModifier",
    "ResponseHeaderModifier",
    "RequestMirror",
    "RequestRedirect",
    "URLRewrite",
    "ExtensionRef",
    "CORS",
]


class ParametersReference(IstioModel):
    group: Str | None = None
    kind: Str | None = None
    name: Str | None = None
    namespace: Str | None = None


class GatewayClassSpec(IstioModel):
    controller_name: Str | None = None
    description: Str | None = None
    parameters_ref: ParametersReference | None = None


class LabelSelector(IstioModel):
    match_labels: dict[Str, Str] = Field(default_factory=dict)


class RouteNamespaces(IstioModel):
    from_: Literal["All", "Same", "Selector", "None"] = Field(default="Same", alias="from")
    selector: LabelSelector | None = None


class RouteGroupKind(IstioModel):
    group: Str | None = None
    kind: Str | None = None


class AllowedRoutes(IstioModel):
    namespaces: RouteNamespaces = RouteNamespaces()
    kinds: tuple[RouteGroupKind, ...] = ()


class SecretObjectReference(IstioModel):
    group: Str | None = None
    kind: Str | None = None
    name: Str | None = None
    namespace: Str | None = None


class GatewayTLSConfig(IstioModel):
    mode: Literal["Terminate", "Passthrough"] = "Terminate"
    certificate_refs: tuple[SecretObjectReference, ...] = ()
    options: dict[Str, Str] = Field(default_factory=dict)


class Listener(IstioModel):
    name: Str | None = None
    hostname: Str | None = None
    port: Int | None = None
    protocol: Str | None = None
    tls: GatewayTLSConfig | None = None
    allowed_routes: AllowedRoutes = AllowedRoutes()


class GatewayAddress(IstioModel):
    type: Str = "IPAddress"
    value: Str | None = None


class GatewayInfrastructure(IstioModel):
    labels: dict[Str, Str] = Field(default_factory=dict)
    annotations: dict[Str, Str] = Field(default_factory=dict)
    parameters_ref: ParametersReference | None = None


class GatewaySpec(IstioModel):
    gateway_class_name: Str | None = None
    listeners: tuple[Listener, ...] = ()
    addresses: tuple[GatewayAddress, ...] = ()
    infrastructure: GatewayInfrastructure | None = None


class ParentReference(IstioModel):
    group: Str | None = None  # the CRD's default: gateway.networking.k8s.io (`kind` decides)
    kind: Str = "Gateway"
    namespace: Str | None = None
    name: Str | None = None
    section_name: Str | None = None
    port: Int | None = None


class HTTPPathMatch(IstioModel):
    type: PathType = "PathPrefix"
    value: Str = "/"


class HTTPHeaderMatch(IstioModel):
    type: MatchType = "Exact"
    name: Str | None = None
    value: Str | None = None


class HTTPRouteMatch(IstioModel):
    path: HTTPPathMatch | None = None
    headers: tuple[HTTPHeaderMatch, ...] = ()
    query_params: tuple[HTTPHeaderMatch, ...] = ()
    method: Method | None = None


class HTTPHeader(IstioModel):
    name: Str | None = None
    value: Str | None = None


class HTTPHeaderFilter(IstioModel):
    set: tuple[HTTPHeader, ...] = ()
    add: tuple[HTTPHeader, ...] = ()
    remove: tuple[Str, ...] = ()


class HTTPPathModifier(IstioModel):
    type: Literal["ReplaceFullPath", "ReplacePrefixMatch"] | None = None
    replace_full_path: Str | None = None
    replace_prefix_match: Str | None = None


class HTTPRequestRedirectFilter(IstioModel):
    scheme: Literal["http", "https"] | None = None
    hostname: Str | None = None
    path: HTTPPathModifier | None = None
    port: Int | None = None
    status_code: Int = 302


class HTTPURLRewriteFilter(IstioModel):
    hostname: Str | None = None
    path: HTTPPathModifier | None = None


class BackendObjectReference(IstioModel):
    group: Str = ""
    kind: Str = "Service"
    name: Str | None = None
    namespace: Str | None = None
    port: Int | None = None


class Fraction(IstioModel):
    numerator: Int | None = None
    denominator: Int = 100


class HTTPRequestMirrorFilter(IstioModel):
    backend_ref: BackendObjectReference | None = None
    percent: Int | None = None
    fraction: Fraction | None = None


class LocalObjectReference(IstioModel):
    group: Str | None = None
    kind: Str | None = None
    name: Str | None = None


class HTTPRouteFilter(IstioModel):
    type: FilterType | None = None
    request_header_modifier: HTTPHeaderFilter | None = None
    response_header_modifier: HTTPHeaderFilter | None = None
    request_mirror: HTTPRequestMirrorFilter | None = None
    request_redirect: HTTPRequestRedirectFilter | None = None
    url_rewrite: HTTPURLRewriteFilter | None = None
    extension_ref: LocalObjectReference | None = None


class HTTPBackendRef(BackendObjectReference):
    weight: Int = 1
    filters: tuple[HTTPRouteFilter, ...] = ()


class HTTPRouteTimeouts(IstioModel):
    request: Str | None = None
    backend_request: Str | None = None


class HTTPRouteRule(IstioModel):
    name: Str | None = None
    matches: tuple[HTTPRouteMatch, ...] = ()
    filters: tuple[HTTPRouteFilter, ...] = ()
    backend_refs: tuple[HTTPBackendRef, ...] = ()
    timeouts: HTTPRouteTimeouts | None = None


class HTTPRouteSpec(IstioModel):
    parent_refs: tuple[ParentReference, ...] = ()
    hostnames: tuple[Str, ...] = ()
    rules: tuple[HTTPRouteRule, ...] = ()


class GRPCMethodMatch(IstioModel):
    type: MatchType = "Exact"
    service: Str | None = None
    method: Str | None = None


class GRPCRouteMatch(IstioModel):
    method: GRPCMethodMatch | None = None
    headers: tuple[HTTPHeaderMatch, ...] = ()


class GRPCRouteRule(IstioModel):
    name: Str | None = None
    matches: tuple[GRPCRouteMatch, ...] = ()
    filters: tuple[HTTPRouteFilter, ...] = ()
    backend_refs: tuple[HTTPBackendRef, ...] = ()


class GRPCRouteSpec(IstioModel):
    parent_refs: tuple[ParentReference, ...] = ()
    hostnames: tuple[Str, ...] = ()
    rules: tuple[GRPCRouteRule, ...] = ()


class L4RouteRule(IstioModel):
    """A TCPRoute's or TLSRoute's rule: backends only."""

    name: Str | None = None
    backend_refs: tuple[HTTPBackendRef, ...] = ()


class TCPRouteSpec(IstioModel):
    parent_refs: tuple[ParentReference, ...] = ()
    rules: tuple[L4RouteRule, ...] = ()


class TLSRouteSpec(IstioModel):
    parent_refs: tuple[ParentReference, ...] = ()
    hostnames: tuple[Str, ...] = ()
    rules: tuple[L4RouteRule, ...] = ()


RouteSpec = HTTPRouteSpec | GRPCRouteSpec | TCPRouteSpec | TLSRouteSpec
"""A route of any kind served."""
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute")


class ReferenceGrantFrom(IstioModel):
    group: Str | None = None
    kind: Str | None = None
    namespace: Str | None = None


class ReferenceGrantTo(IstioModel):
    group: Str | None = None
    kind: Str | None = None
    name: Str | None = None


class ReferenceGrantSpec(IstioModel):
    from_: tuple[ReferenceGrantFrom, ...] = Field(default=(), alias="from")
    to: tuple[ReferenceGrantTo, ...] = ()


def model_of(kind: str, api_version: str) -> type[BaseModel] | None:
    """The spec model of a served Gateway API kind (by apiVersion and kind), or None."""
    info = gateway_api_kind(api_version, kind)
    if info is None:
        return None
    found = getattr(importlib.import_module(__name__), info.model)
    assert isinstance(found, type) and issubclass(found, BaseModel)
    return found


def spec_of(data: dict[str, Any]) -> Any:
    """The spec model of a stored (valid) document; None when it does not read (never for what
    `rules.document_problems` passed)."""
    model = model_of(str(data.get("kind", "")), str(data.get("apiVersion", "")))
    if model is None:
        return None
    spec, _ = build_spec(model, data.get("spec"), "spec")
    return spec
