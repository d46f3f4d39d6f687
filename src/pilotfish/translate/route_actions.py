"""What an Istio `HTTPRoute` does besides matching and choosing destinations.

redirect and directResponse (terminal actions), rewrite (uri prefix, uriRegexRewrite,
authority), header operations (route and per destination) and mirror / mirrors; the per-route
fault and CORS configs are `route_filters`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TYPE_CHECKING

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.type.matcher.v3 import regex_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf.message import Message

from pilotfish.translate.envoy_pb import fractional_percent
from pilotfish.translate.route_filters import per_route_filter_configs

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        Destination,
        Headers,
        HTTPRewrite,
        HTTPRoute,
    )

_REDIRECT_CODES = {
    301: rc_pb2.RedirectAction.MOVED_PERMANENTLY,
    302: rc_pb2.RedirectAction.FOUND,
    303: rc_pb2.RedirectAction.SEE_OTHER,
    307: rc_pb2.RedirectAction.TEMPORARY_REDIRECT,
    308: rc_pb2.RedirectAction.PERMANENT_REDIRECT,
}

PREFIX_MARK = "%PREFIX()%"
"""A redirect `uri` starting so replaces the matched prefix (Istio's conversion of a Gateway API
`ReplacePrefixMatch` redirect)."""
ResolveCluster = Callable[["Destination | None"], str | None]
"""A destination -> its outbound cluster, or None (with a diagnostic)."""


def terminal_action(route: rc_pb2.Route, http: HTTPRoute, port: int = 0) -> bool:
    """Set a redirect or direct response on `route`; False if the route forwards instead.
    `port` is the port the route serves: `derivePort: FROM_REQUEST_PORT` redirects to it."""
    if http.redirect is not None:
        redirect, action = http.redirect, route.redirect
        if redirect.uri and redirect.uri.startswith(PREFIX_MARK):  # Gateway API's, as Istio
            action.prefix_rewrite = redirect.uri[len(PREFIX_MARK) :]
        elif redirect.uri:
            action.path_redirect = redirect.uri
        elif redirect.prefix_rewrite:
            action.prefix_rewrite = redirect.prefix_rewrite
        if redirect.authority:
            action.host_redirect = redirect.authority
        if redirect.port:
            action.port_redirect = redirect.port
        elif redirect.derive_port == "FROM_REQUEST_PORT" and port:
            action.port_redirect = port
        if redirect.scheme:
            action.scheme_redirect = redirect.scheme
        action.response_code = _REDIRECT_CODES.get(
            redirect.redirect_code or 301, rc_pb2.RedirectAction.MOVED_PERMANENTLY
        )
        return True
    if http.direct_response is not None:
        response = http.direct_response
        # Istio's validation lets 600 through; Envoy's DirectResponseAction needs 200..599
        route.direct_response.status = min(response.status or 200, 599)
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
    route: rc_pb2.Route,
    http: HTTPRoute,
    resolve_cluster: ResolveCluster,
) -> None:
    headers_to_add(route, http.headers)
    if route.HasField("route"):
        _apply_rewrite(route.route, http.rewrite)
        _apply_mirrors(route.route, http, resolve_cluster)
    per_route_filter_configs(route, http)


def headers_to_add(target: Message, headers: Headers | None) -> None:
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


def _apply_rewrite(action: rc_pb2.RouteAction, rewrite: HTTPRewrite | None) -> None:
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


def _apply_mirrors(
    action: rc_pb2.RouteAction,
    http: HTTPRoute,
    resolve_cluster: ResolveCluster,
) -> None:
    mirrors: list[tuple[Destination | None, percent_pb2.FractionalPercent]] = []
    if http.mirror is not None:
        mirrors.append(
            (http.mirror, fractional_percent(http.mirror_percentage, http.mirror_percent))
        )
    mirrors.extend((m.destination, fractional_percent(m.percentage)) for m in http.mirrors or ())
    for destination, fraction in mirrors:
        cluster = resolve_cluster(destination)
        if cluster is None:
            continue
        policy = rc_pb2.RouteAction.RequestMirrorPolicy(cluster=cluster)
        policy.runtime_fraction.default_value.CopyFrom(fraction)
        action.request_mirror_policies.append(policy)
