"""VirtualService (networking.istio.io v1/v1beta1/v1alpha3): the spec and its messages.

Class names are Istio's proto message names; attributes are the snake_case of the API fields, with
the camelCase as alias. Validation beyond types lives in `pilotfish.config.validation`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field

from pilotfish.config.models.base import Bool, EnumNumber, Float, Int, IstioModel, Str


class StringMatch(IstioModel):
    exact: Str | None = None
    prefix: Str | None = None
    regex: Str | None = None


class CorsPolicy(IstioModel):
    allow_credentials: Bool | None = None
    allow_headers: tuple[Str, ...] = ()
    allow_methods: tuple[Str, ...] = ()
    allow_origin: tuple[Str, ...] = ()
    allow_origins: tuple[StringMatch, ...] = ()
    expose_headers: tuple[Str, ...] = ()
    max_age: Str | None = None
    unmatched_preflights: Literal["UNSPECIFIED", "FORWARD", "IGNORE"] | EnumNumber | None = None


class Delegate(IstioModel):
    name: Str | None = None
    namespace: Str | None = None


class HTTPBody(IstioModel):
    bytes: Str | None = None
    string: Str | None = None


class HTTPDirectResponse(IstioModel):
    body: HTTPBody | None = None
    status: Int | None = None


class Percent(IstioModel):
    value: Float | None = None


class Abort(IstioModel):
    grpc_status: Str | None = None
    http2_error: Str | None = None
    http_status: Int | None = None
    percentage: Percent | None = None


class Delay(IstioModel):
    exponential_delay: Str | None = None
    fixed_delay: Str | None = None
    percent: Int | None = None
    percentage: Percent | None = None


class HTTPFaultInjection(IstioModel):
    abort: Abort | None = None
    delay: Delay | None = None


class HeaderOperations(IstioModel):
    add: dict[str, Str] = Field(default_factory=dict)
    remove: tuple[Str, ...] = ()
    set: dict[str, Str] = Field(default_factory=dict)


class Headers(IstioModel):
    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class HTTPMatchRequest(IstioModel):
    authority: StringMatch | None = None
    gateways: tuple[Str, ...] = ()
    headers: dict[str, StringMatch] = Field(default_factory=dict)
    ignore_uri_case: Bool | None = None
    method: StringMatch | None = None
    name: Str | None = None
    port: Int | None = None
    query_params: dict[str, StringMatch] = Field(default_factory=dict)
    scheme: StringMatch | None = None
    source_labels: dict[str, Str] = Field(default_factory=dict)
    source_namespace: Str | None = None
    stat_prefix: Str | None = None
    uri: StringMatch | None = None
    without_headers: dict[str, StringMatch] = Field(default_factory=dict)


class PortSelector(IstioModel):
    number: Int | None = None


class Destination(IstioModel):
    host: Str | None = None
    port: PortSelector | None = None
    subset: Str | None = None


class HTTPMirrorPolicy(IstioModel):
    destination: Destination | None = None
    percentage: Percent | None = None


class HTTPRedirect(IstioModel):
    authority: Str | None = None
    derive_port: Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] | EnumNumber | None = None
    port: Int | None = None
    prefix_rewrite: Str | None = None
    redirect_code: Int | None = None
    scheme: Str | None = None
    uri: Str | None = None


class HTTPRetry(IstioModel):
    attempts: Int | None = None
    backoff: Str | None = None
    per_try_timeout: Str | None = None
    retry_ignore_previous_hosts: Bool | None = None
    retry_on: Str | None = None
    retry_remote_localities: Bool | None = None


class RegexRewrite(IstioModel):
    match: Str | None = None
    rewrite: Str | None = None


class HTTPRewrite(IstioModel):
    authority: Str | None = None
    uri: Str | None = None
    uri_regex_rewrite: RegexRewrite | None = None


class HTTPRouteDestination(IstioModel):
    destination: Destination | None = None
    headers: Headers | None = None
    weight: Int | None = None


class HTTPRoute(IstioModel):
    cors_policy: CorsPolicy | None = None
    delegate: Delegate | None = None
    direct_response: HTTPDirectResponse | None = None
    fault: HTTPFaultInjection | None = None
    headers: Headers | None = None
    match: tuple[HTTPMatchRequest, ...] = ()
    mirror: Destination | None = None
    mirror_percent: Int | None = Field(
        default=None, validation_alias=AliasChoices("mirrorPercent", "mirror_percent")
    )
    mirror_percentage: Percent | None = None
    mirrors: tuple[HTTPMirrorPolicy, ...] = ()
    name: Str | None = None
    redirect: HTTPRedirect | None = None
    retries: HTTPRetry | None = None
    rewrite: HTTPRewrite | None = None
    route: tuple[HTTPRouteDestination, ...] = ()
    timeout: Str | None = None


class L4MatchAttributes(IstioModel):
    destination_subnets: tuple[Str, ...] = ()
    gateways: tuple[Str, ...] = ()
    port: Int | None = None
    source_labels: dict[str, Str] = Field(default_factory=dict)
    source_namespace: Str | None = None
    source_subnet: Str | None = None


class RouteDestination(IstioModel):
    destination: Destination | None = None
    weight: Int | None = None


class TCPRoute(IstioModel):
    match: tuple[L4MatchAttributes, ...] = ()
    route: tuple[RouteDestination, ...] = ()


class TLSMatchAttributes(IstioModel):
    destination_subnets: tuple[Str, ...] = ()
    gateways: tuple[Str, ...] = ()
    port: Int | None = None
    sni_hosts: tuple[Str, ...] = ()
    source_labels: dict[str, Str] = Field(default_factory=dict)
    source_namespace: Str | None = None


class TLSRoute(IstioModel):
    match: tuple[TLSMatchAttributes, ...] = ()
    route: tuple[RouteDestination, ...] = ()


class VirtualServiceSpec(IstioModel):
    export_to: tuple[Str, ...] = ()
    gateways: tuple[Str, ...] = ()
    hosts: tuple[Str, ...] = ()
    http: tuple[HTTPRoute, ...] = ()
    tcp: tuple[TCPRoute, ...] = ()
    tls: tuple[TLSRoute, ...] = ()
