"""One HTTPRoute (or GRPCRoute) rule as the VirtualService HTTP route istiod makes of it
(`rule_route`; a GRPCRoute's method is a path match, `_grpc_match`), and
the order istiod sorts a VirtualService's routes in (`sort_routes`: Gateway API precedence).

As Istio's conversion: a rule is one route named `<namespace>.<route>.<index>` (or the rule's
`name`); each match is one `HTTPMatchRequest` (path `Exact`/`PathPrefix`/`RegularExpression` as
`exact`/`prefix`/`regex`, a prefix without its trailing `/`; headers and query parameters;
method); filters are `headers` (request/response: set, add, remove), `redirect`, `rewrite`
(`ReplaceFullPath` as a `uriRegexRewrite` of `/.*`, `ReplacePrefixMatch` as `uri`), `mirrors`;
`timeouts.request` is `timeout`, `backendRequest` too when set; backends are destinations
`<name>.<namespace>.svc.cluster.local` at their port, weighted when more than one; a rule whose
backends weigh nothing (and no redirect) answers 500. A backend in another namespace needs a
ReferenceGrant there (`allowed`); one not allowed is left out (500 when none is left).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pilotfish.config.gateway_api.models import (
    BackendObjectReference,
    GRPCRouteMatch,
    GRPCRouteRule,
    HTTPHeaderFilter,
    HTTPPathModifier,
    HTTPRouteMatch,
    HTTPRouteRule,
)
from pilotfish.config.hosts import CLUSTER_DOMAIN

Allowed = Callable[[str, str, str], bool]
"""(route namespace, backend namespace, backend name) -> a ReferenceGrant allows it."""


def service_host(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}"


def rule_route(
    rule: HTTPRouteRule | GRPCRouteRule, namespace: str, route: str, index: int, allowed: Allowed
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": rule.name or f"{namespace}.{route}.{index}"}
    matches = [_match(m) if isinstance(m, HTTPRouteMatch) else _grpc_match(m) for m in rule.matches]
    if matches:
        out["match"] = matches
    for item in rule.filters:
        if item.type == "RequestHeaderModifier" and item.request_header_modifier is not None:
            out.setdefault("headers", {})["request"] = _headers(item.request_header_modifier)
        elif item.type == "ResponseHeaderModifier" and item.response_header_modifier is not None:
            out.setdefault("headers", {})["response"] = _headers(item.response_header_modifier)
        elif item.type == "RequestRedirect" and item.request_redirect is not None:
            out["redirect"] = _redirect(item.request_redirect, rule)
        elif item.type == "URLRewrite" and item.url_rewrite is not None:
            rewrite: dict[str, Any] = {}
            if item.url_rewrite.hostname:
                rewrite["authority"] = item.url_rewrite.hostname
            rewrite.update(_path_rewrite(item.url_rewrite.path))
            out["rewrite"] = rewrite
        elif item.type == "RequestMirror" and item.request_mirror is not None:
            mirror = item.request_mirror
            ref = mirror.backend_ref
            if ref is None or not _is_service(ref):
                continue
            ns = ref.namespace or namespace
            if ns != namespace and not allowed(namespace, ns, ref.name or ""):
                continue
            entry: dict[str, Any] = {"destination": _destination(ref, namespace)}
            if mirror.fraction is not None and mirror.fraction.denominator:
                value = 100 * (mirror.fraction.numerator or 0) / mirror.fraction.denominator
                entry["percentage"] = {"value": value}
            elif mirror.percent is not None:
                entry["percentage"] = {"value": float(mirror.percent)}
            out.setdefault("mirrors", []).append(entry)
    timeouts = rule.timeouts if isinstance(rule, HTTPRouteRule) else None
    if timeouts is not None:
        for written in (timeouts.request, timeouts.backend_request):
            seconds = _seconds(written)
            if seconds:
                out["timeout"] = _duration(seconds)
    if "redirect" in out:
        return out
    destinations = [
        (b, _destination(b, namespace))
        for b in rule.backend_refs
        if b.weight > 0
        and _is_service(b)
        and (
            (b.namespace or namespace) == namespace
            or allowed(namespace, b.namespace or "", b.name or "")
        )
    ]
    if not destinations:
        out["directResponse"] = {"status": 500}
        return out
    if len(destinations) == 1:
        out["route"] = [{"destination": destinations[0][1]}]
    else:
        out["route"] = [{"destination": d, "weight": b.weight} for b, d in destinations]
    return out


def _is_service(ref: BackendObjectReference) -> bool:
    return ref.group in ("", "core") and ref.kind == "Service"


def _destination(ref: BackendObjectReference, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = {"host": service_host(ref.name or "", ref.namespace or namespace)}
    if ref.port is not None:
        found["port"] = {"number": ref.port}
    return found


def _match(match: HTTPRouteMatch) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if match.path is not None:
        value = match.path.value
        if match.path.type == "Exact":
            out["uri"] = {"exact": value}
        elif match.path.type == "PathPrefix":
            out["uri"] = {"prefix": value if value == "/" else value.rstrip("/")}
        else:
            out["uri"] = {"regex": value}
    if match.headers:
        out["headers"] = {
            (h.name or "").lower(): {"exact" if h.type == "Exact" else "regex": h.value}
            for h in match.headers
        }
    if match.query_params:
        out["queryParams"] = {
            q.name or "": {"exact" if q.type == "Exact" else "regex": q.value}
            for q in match.query_params
        }
    if match.method is not None:
        out["method"] = {"exact": match.method}
    return out


def _grpc_match(match: GRPCRouteMatch) -> dict[str, Any]:
    """A GRPCRoute match as Istio's: the method as the path `/<service>/<method>` (exact, a
    `/<service>/` prefix for a service alone, a regex for a method alone or RegularExpression),
    headers as an HTTPRoute's."""
    out: dict[str, Any] = {}
    method = match.method
    if method is not None and (method.service or method.method):
        service, name = method.service, method.method
        if method.type == "Exact" and service and name:
            out["uri"] = {"exact": f"/{service}/{name}"}
        elif method.type == "Exact" and service:
            out["uri"] = {"prefix": f"/{service}/"}
        else:
            out["uri"] = {"regex": f"/{service or '[^/]+'}/{name or '.+'}"}
    if match.headers:
        out["headers"] = {
            (h.name or "").lower(): {"exact" if h.type == "Exact" else "regex": h.value}
            for h in match.headers
        }
    return out


def _headers(modifier: HTTPHeaderFilter) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if modifier.set:
        out["set"] = {h.name or "": h.value or "" for h in modifier.set}
    if modifier.add:
        out["add"] = {h.name or "": h.value or "" for h in modifier.add}
    if modifier.remove:
        out["remove"] = list(modifier.remove)
    return out


def _path_rewrite(path: HTTPPathModifier | None) -> dict[str, Any]:
    if path is None:
        return {}
    if path.type == "ReplaceFullPath" and path.replace_full_path is not None:
        return {"uriRegexRewrite": {"match": "/.*", "rewrite": path.replace_full_path}}
    if path.type == "ReplacePrefixMatch" and path.replace_prefix_match is not None:
        return {"uri": path.replace_prefix_match or "/"}
    return {}


def _redirect(redirect: Any, rule: HTTPRouteRule | GRPCRouteRule) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if redirect.hostname:
        out["authority"] = redirect.hostname
    if redirect.port is not None:
        out["port"] = redirect.port
    out["redirectCode"] = redirect.status_code
    if redirect.scheme:
        out["scheme"] = redirect.scheme
    path = redirect.path
    if path is not None and path.type == "ReplaceFullPath" and path.replace_full_path is not None:
        out["uri"] = path.replace_full_path
    elif path is not None and path.type == "ReplacePrefixMatch":
        out["uri"] = f"%PREFIX()%{path.replace_prefix_match or ''}"  # the matched prefix's
    return out


def _seconds(value: str | None) -> float:
    if not value:
        return 0.0
    import re

    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in re.findall(r"([0-9]+)(h|ms|m|s)", value))


def _duration(seconds: float) -> str:
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


def _uri_rank(match: dict[str, Any]) -> tuple[int, int]:
    uri = match.get("uri")
    if not uri:
        return -1, 0
    kind, value = next(iter(uri.items()))
    return {"exact": 3, "prefix": 2, "regex": 1}[kind], len(value)


def sort_routes(routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gateway API precedence, on each route's first match (stable: creation order otherwise):
    exact before prefix before regex, longer paths first, a method match, more header matches,
    more query parameter matches; routes without a match last."""

    def key(route: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
        matches = route.get("match") or []
        if not matches:
            return (1, 0, 0, 0, 0, 0)
        first = matches[0]
        rank, length = _uri_rank(first)
        method = 0 if first.get("method") else 1
        return (
            0,
            -rank,
            -length,
            method,
            -len(first.get("headers") or {}),
            -len(first.get("queryParams") or {}),
        )

    return sorted(routes, key=key)
