"""The parts of an Istio `HTTPRoute` beyond match and destinations.

redirect and directResponse (terminal actions), rewrite (uri prefix, uriRegexRewrite,
authority), header operations (route and per destination), mirror / mirrors, fault injection
and CORS (as per-route config of the `envoy.filters.http.fault` / `cors` filters, which every
outbound and gateway connection manager carries).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.extensions.filters.common.fault.v3 import fault_pb2 as common_fault_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.type.matcher.v3 import regex_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import wrappers_pb2
from google.protobuf.message import Message

from pilotfish.translate.envoy_pb import duration_of, pack, seconds_of
from pilotfish.translate.route_match import string_matcher

FAULT_FILTER = "envoy.filters.http.fault"
CORS_FILTER = "envoy.filters.http.cors"
_REDIRECT_CODES = {
    301: rc_pb2.RedirectAction.MOVED_PERMANENTLY,
    302: rc_pb2.RedirectAction.FOUND,
    303: rc_pb2.RedirectAction.SEE_OTHER,
    307: rc_pb2.RedirectAction.TEMPORARY_REDIRECT,
    308: rc_pb2.RedirectAction.PERMANENT_REDIRECT,
}


def terminal_action(route: rc_pb2.Route, http: Any, port: int = 0) -> bool:
    """Set a redirect or direct response on `route`; False if the route forwards instead.
    `port` is the port the route serves: `derivePort: FROM_REQUEST_PORT` redirects to it."""
    if http.redirect is not None:
        redirect, action = http.redirect, route.redirect
        if redirect.uri:
            action.path_redirect = redirect.uri
        elif redirect.prefix_rewrite:
            action.prefix_rewrite = redirect.prefix_rewrite
        if redirect.authority:
            action.host_redirect = redirect.authority
        if redirect.port:
            action.port_redirect = redirect.port
        elif (
            str(getattr(redirect.derive_port, "value", redirect.derive_port))
            == ("FROM_REQUEST_PORT")
            and port
        ):
            action.port_redirect = port
        if redirect.scheme:
            action.scheme_redirect = redirect.scheme
        action.response_code = _REDIRECT_CODES.get(
            redirect.redirect_code or 301, rc_pb2.RedirectAction.MOVED_PERMANENTLY
        )
        return True
    if http.direct_response is not None:
        response = http.direct_response
        route.direct_response.status = response.status or 200
        body = response.body
        if body is not None and body.string is not None:
            route.direct_response.body.inline_string = body.string
        elif body is not None and body.bytes is not None:
            try:
                route.direct_response.body.inline_bytes = base64.b64decode(body.bytes)
            except (binascii.Error, ValueError):
                route.direct_response.body.inline_string = body.bytes
        return True
    return False


def apply_extras(
    route: rc_pb2.Route, http: Any, resolve_cluster: Callable[[Any], str | None]
) -> None:
    headers_to_add(route, http.headers)
    if route.HasField("route"):
        _apply_rewrite(route.route, http.rewrite)
        _apply_mirrors(route.route, http, resolve_cluster)
    fault = _fault(http.fault)
    if fault is not None:
        route.typed_per_filter_config[FAULT_FILTER].CopyFrom(pack(fault))
    cors = _cors(http.cors_policy)
    if cors is not None:
        route.typed_per_filter_config[CORS_FILTER].CopyFrom(pack(cors))


def headers_to_add(target: Message, headers: Any) -> None:
    """Istio `headers.request/response` set/add/remove onto a Route or ClusterWeight."""
    if headers is None:
        return
    for direction in ("request", "response"):
        operations = getattr(headers, direction)
        if operations is None:
            continue
        to_add = getattr(target, f"{direction}_headers_to_add")
        for name, value in sorted((operations.set or {}).items()):
            to_add.append(_header_value(name, value, overwrite=True))
        for name, value in sorted((operations.add or {}).items()):
            to_add.append(_header_value(name, value, overwrite=False))
        getattr(target, f"{direction}_headers_to_remove").extend(operations.remove or ())


def _header_value(name: str, value: str, *, overwrite: bool) -> base_pb2.HeaderValueOption:
    action = base_pb2.HeaderValueOption
    return action(
        header=base_pb2.HeaderValue(key=name, value=value),
        append_action=action.OVERWRITE_IF_EXISTS_OR_ADD
        if overwrite
        else action.APPEND_IF_EXISTS_OR_ADD,
    )


def _apply_rewrite(action: rc_pb2.RouteAction, rewrite: Any) -> None:
    if rewrite is None:
        return
    if rewrite.uri:
        action.prefix_rewrite = rewrite.uri
    elif rewrite.uri_regex_rewrite is not None and rewrite.uri_regex_rewrite.match:
        action.regex_rewrite.pattern.CopyFrom(
            regex_pb2.RegexMatcher(regex=rewrite.uri_regex_rewrite.match)
        )
        action.regex_rewrite.substitution = rewrite.uri_regex_rewrite.rewrite or ""
    if rewrite.authority:
        action.host_rewrite_literal = rewrite.authority


def _percent(percentage: Any, percent: int | None = None) -> percent_pb2.FractionalPercent:
    """Istio percentage (double, 0-100) or legacy integer percent; 100% when neither is set."""
    fraction = percent_pb2.FractionalPercent
    if percentage is not None and percentage.value is not None:
        return fraction(numerator=round(percentage.value * 10000), denominator=fraction.MILLION)
    value = 100 if percent is None else percent
    return fraction(numerator=value, denominator=fraction.HUNDRED)


def _apply_mirrors(
    action: rc_pb2.RouteAction, http: Any, resolve_cluster: Callable[[Any], str | None]
) -> None:
    mirrors: list[tuple[Any, percent_pb2.FractionalPercent]] = []
    if http.mirror is not None:
        mirrors.append((http.mirror, _percent(http.mirror_percentage, http.mirror_percent)))
    mirrors.extend((m.destination, _percent(m.percentage)) for m in http.mirrors or ())
    for destination, fraction in mirrors:
        cluster = resolve_cluster(destination)
        if cluster is None:
            continue
        policy = rc_pb2.RouteAction.RequestMirrorPolicy(cluster=cluster)
        policy.runtime_fraction.default_value.CopyFrom(fraction)
        action.request_mirror_policies.append(policy)


def _fault(fault: Any) -> fault_pb2.HTTPFault | None:
    if fault is None or (fault.delay is None and fault.abort is None):
        return None
    result = fault_pb2.HTTPFault()
    delay = fault.delay
    fixed = duration_of(delay.fixed_delay) if delay is not None else None
    if delay is not None and fixed is not None:
        result.delay.CopyFrom(
            common_fault_pb2.FaultDelay(
                fixed_delay=fixed, percentage=_percent(delay.percentage, delay.percent)
            )
        )
    abort = fault.abort
    if abort is not None and abort.http_status:
        result.abort.CopyFrom(
            fault_pb2.FaultAbort(
                http_status=abort.http_status, percentage=_percent(abort.percentage)
            )
        )
    elif abort is not None and abort.grpc_status:
        result.abort.CopyFrom(
            fault_pb2.FaultAbort(
                grpc_status=_grpc_code(abort.grpc_status), percentage=_percent(abort.percentage)
            )
        )
    return result if result.ByteSize() else None


_GRPC_CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)


def _grpc_code(name: str) -> int:
    return _GRPC_CODES.index(name) if name in _GRPC_CODES else 2


def _cors(policy: Any) -> cors_pb2.CorsPolicy | None:
    if policy is None:
        return None
    result = cors_pb2.CorsPolicy()
    for origin in policy.allow_origins or ():
        matcher = string_matcher(origin)
        if matcher is not None:
            result.allow_origin_string_match.append(matcher)
    for exact in policy.allow_origin or ():
        result.allow_origin_string_match.add().exact = exact
    if policy.allow_methods:
        result.allow_methods = ",".join(policy.allow_methods)
    if policy.allow_headers:
        result.allow_headers = ",".join(policy.allow_headers)
    if policy.expose_headers:
        result.expose_headers = ",".join(policy.expose_headers)
    max_age = seconds_of(policy.max_age)
    if max_age is not None:
        result.max_age = str(int(max_age))
    if policy.allow_credentials is not None:
        result.allow_credentials.CopyFrom(wrappers_pb2.BoolValue(value=policy.allow_credentials))
    return result
