"""The Gateway API CRDs' rules on routes (HTTPRoute, GRPCRoute, TCPRoute, TLSRoute) beyond
types, as the API server checks them: path values, filter/type pairing, redirect vs backends,
backend ports and weights, timeouts, gRPC method matches, rule counts; and the checks every
kind shares (`required`, `hostname`, `duration`). Each finding is a `Problem` with its field
path; messages follow the CRDs' own. Used by `rules`.
"""

from __future__ import annotations

import re
from typing import Any

from pilotfish.config.gateway_api.models import (
    GRPCRouteSpec,
    HTTPPathMatch,
    HTTPRouteFilter,
    HTTPRouteRule,
    HTTPRouteSpec,
    TCPRouteSpec,
    TLSRouteSpec,
)
from pilotfish.config.schema import Problem

HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_\x60|~]+$")
FILTER_FIELDS = {
    "RequestHeaderModifier": "requestHeaderModifier",
    "ResponseHeaderModifier": "responseHeaderModifier",
    "RequestMirror": "requestMirror",
    "RequestRedirect": "requestRedirect",
    "URLRewrite": "urlRewrite",
    "ExtensionRef": "extensionRef",
    "CORS": "cors",
}
BAD_PATH_PARTS = ("//", "/./", "/../", "%2f", "%2F", "#")


def required(found: list[Problem], path: str, value: object) -> bool:
    if value is None or value == "":
        found.append(Problem(path, "Required value"))
        return False
    return True


def hostname(found: list[Problem], path: str, value: str | None) -> None:
    if value is not None and not HOSTNAME.match(value):
        found.append(
            Problem(path, f'Invalid value: "{value}": must be a hostname ({HOSTNAME.pattern})')
        )


def duration(found: list[Problem], path: str, value: str | None) -> float | None:
    if value is None:
        return None
    if not DURATION.match(value):
        found.append(
            Problem(path, f'Invalid value: "{value}": must be a duration ({DURATION.pattern})')
        )
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in re.findall(r"([0-9]+)(h|ms|m|s)", value))


def route_problems(spec: HTTPRouteSpec) -> list[Problem]:
    found: list[Problem] = []
    for index, ref in enumerate(spec.parent_refs):
        required(found, f"spec.parentRefs[{index}].name", ref.name)
        if ref.port is not None and not 1 <= ref.port <= 65535:
            found.append(
                Problem(
                    f"spec.parentRefs[{index}].port",
                    f"Invalid value: {ref.port}: must be between 1 and 65535",
                )
            )
    for index, host in enumerate(spec.hostnames):
        hostname(found, f"spec.hostnames[{index}]", host)
    if len(spec.rules) > 16:
        found.append(
            Problem("spec.rules", f"Too many: {len(spec.rules)}: must have at most 16 items")
        )
    for index, rule in enumerate(spec.rules):
        found += _rule_problems(rule, f"spec.rules[{index}]")
    return found


def _rule_problems(rule: HTTPRouteRule, at: str) -> list[Problem]:
    found: list[Problem] = []
    for m, match in enumerate(rule.matches):
        if match.path is not None:
            _path_problems(found, match.path, f"{at}.matches[{m}].path")
        for key, items in (("headers", match.headers), ("queryParams", match.query_params)):
            for h, header in enumerate(items):
                where = f"{at}.matches[{m}].{key}[{h}]"
                if (
                    required(found, f"{where}.name", header.name)
                    and key == "headers"
                    and not HEADER_NAME.match(header.name or "")
                ):
                    found.append(
                        Problem(
                            f"{where}.name",
                            f'Invalid value: "{header.name}": must be an HTTP header name',
                        )
                    )
                required(found, f"{where}.value", header.value)
    for f, item in enumerate(rule.filters):
        found += _filter_problems(item, f"{at}.filters[{f}]", rule)
    if any(f.type == "RequestRedirect" for f in rule.filters) and rule.backend_refs:
        found.append(
            Problem(at, "RequestRedirect filter must not be used together with backendRefs")
        )
    if any(f.type == "RequestRedirect" for f in rule.filters) and any(
        f.type == "URLRewrite" for f in rule.filters
    ):
        found.append(
            Problem(
                f"{at}.filters",
                "May specify either httpRouteFilterRequestRedirect or"
                " httpRouteFilterRequestRewrite, but not both",
            )
        )
    for b, backend in enumerate(rule.backend_refs):
        where = f"{at}.backendRefs[{b}]"
        required(found, f"{where}.name", backend.name)
        if backend.group == "" and backend.kind == "Service" and backend.port is None:
            found.append(Problem(where, "Must have port for Service reference"))
        if not 0 <= backend.weight <= 1000000:
            found.append(
                Problem(
                    f"{where}.weight",
                    f"Invalid value: {backend.weight}: must be between 0 and 1000000",
                )
            )
    if rule.timeouts is not None:
        request = duration(found, f"{at}.timeouts.request", rule.timeouts.request)
        backend_request = duration(
            found, f"{at}.timeouts.backendRequest", rule.timeouts.backend_request
        )
        if request and backend_request and backend_request > request:
            found.append(
                Problem(
                    f"{at}.timeouts", "backendRequest timeout cannot be longer than request timeout"
                )
            )
    return found


def _path_problems(found: list[Problem], path: HTTPPathMatch, at: str) -> None:
    if path.type in ("Exact", "PathPrefix"):
        if not path.value.startswith("/"):
            found.append(
                Problem(
                    f"{at}.value",
                    "value must be an absolute path and start with '/' when type one of"
                    " ['Exact', 'PathPrefix']",
                )
            )
        elif any(part in path.value for part in BAD_PATH_PARTS) or path.value.endswith(
            ("/..", "/.")
        ):
            found.append(
                Problem(
                    f"{at}.value",
                    "must not contain '//', '/./', '/../', '%2f', '%2F', '#' or end with"
                    " '/..' or '/.' when type one of ['Exact', 'PathPrefix']",
                )
            )
    else:
        try:
            re.compile(path.value)
        except re.error as exc:
            found.append(
                Problem(
                    f"{at}.value",
                    f'Invalid value: "{path.value}": not a regular expression ({exc})',
                )
            )


def _filter_problems(item: HTTPRouteFilter, at: str, rule: HTTPRouteRule) -> list[Problem]:
    found: list[Problem] = []
    if not required(found, f"{at}.type", item.type):
        return found
    assert item.type is not None
    for kind, key in FILTER_FIELDS.items():
        present = getattr(item, re.sub("([A-Z])", r"_\1", key).lower(), None) is not None
        if kind == item.type and not present and kind != "CORS":
            found.append(Problem(at, f"filter.{key} must be specified for {kind} filter.type"))
        elif kind != item.type and present:
            found.append(Problem(at, f"filter.{key} must be nil if the filter.type is not {kind}"))
    for key, modifier in (
        ("requestHeaderModifier", item.request_header_modifier),
        ("responseHeaderModifier", item.response_header_modifier),
    ):
        for field in ("set", "add") if modifier is not None else ():
            names = [h.name.lower() for h in getattr(modifier, field) if h.name]
            if len(names) != len(set(names)):
                unique = "header name must be unique within the list"
                found.append(Problem(f"{at}.{key}.{field}", unique))
    path = item.url_rewrite or item.request_redirect
    rewrite = path.path if path is not None else None
    if rewrite is not None and rewrite.type == "ReplacePrefixMatch":
        if rewrite.replace_prefix_match is None:
            found.append(
                Problem(
                    f"{at}",
                    "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'",
                )
            )
        if rule.matches and any(
            m.path is None or m.path.type != "PathPrefix" for m in rule.matches
        ):
            found.append(
                Problem(
                    at,
                    "When using URL Rewrite filter with path.replacePrefixMatch, exactly one"
                    " PathPrefix match must be specified",
                )
            )
    if (
        rewrite is not None
        and rewrite.type == "ReplaceFullPath"
        and rewrite.replace_full_path is None
    ):
        found.append(
            Problem(
                f"{at}", "replaceFullPath must be specified when type is set to 'ReplaceFullPath'"
            )
        )
    if item.request_redirect is not None and item.request_redirect.status_code not in (
        301,
        302,
        303,
        307,
        308,
    ):
        found.append(
            Problem(
                f"{at}.requestRedirect.statusCode",
                f"Unsupported value: {item.request_redirect.status_code}: supported values:"
                ' "301", "302", "303", "307", "308"',
            )
        )
    mirror = item.request_mirror
    if mirror is not None:
        if mirror.backend_ref is None:
            found.append(Problem(f"{at}.requestMirror.backendRef", "Required value"))
        if mirror.percent is not None and mirror.fraction is not None:
            found.append(
                Problem(
                    f"{at}.requestMirror",
                    "Only one of percent or fraction may be specified in HTTPRequestMirrorFilter",
                )
            )
        if (
            mirror.fraction is not None
            and (mirror.fraction.numerator or 0) > mirror.fraction.denominator
        ):
            found.append(
                Problem(
                    f"{at}.requestMirror.fraction",
                    "numerator must be less than or equal to denominator",
                )
            )
    return found


GRPC_FILTERS = ("RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror", "ExtensionRef")


def grpc_route_problems(spec: GRPCRouteSpec) -> list[Problem]:
    found = _common_problems(spec)
    for index, rule in enumerate(spec.rules):
        at = f"spec.rules[{index}]"
        for m, match in enumerate(rule.matches):
            method = match.method
            if method is not None and not (method.service or method.method):
                found.append(
                    Problem(
                        f"{at}.matches[{m}].method",
                        "One or both of 'service' or 'method' must be specified",
                    )
                )
            for h, header in enumerate(match.headers):
                required(found, f"{at}.matches[{m}].headers[{h}].name", header.name)
        for f, item in enumerate(rule.filters):
            if item.type not in (*GRPC_FILTERS, None):
                found.append(
                    Problem(
                        f"{at}.filters[{f}].type",
                        f'Unsupported value: "{item.type}": supported values: '
                        + ", ".join(f'"{t}"' for t in GRPC_FILTERS),
                    )
                )
        found += _backend_problems(rule.backend_refs, at)
    return found


def l4_route_problems(spec: TCPRouteSpec | TLSRouteSpec) -> list[Problem]:
    found = _common_problems(spec)
    if not spec.rules:
        found.append(Problem("spec.rules", "Required value: at least one rule"))
    for index, rule in enumerate(spec.rules):
        found += _backend_problems(rule.backend_refs, f"spec.rules[{index}]")
    return found


def _common_problems(spec: GRPCRouteSpec | TCPRouteSpec | TLSRouteSpec) -> list[Problem]:
    found: list[Problem] = []
    for index, ref in enumerate(spec.parent_refs):
        required(found, f"spec.parentRefs[{index}].name", ref.name)
    for index, host in enumerate(getattr(spec, "hostnames", ())):
        hostname(found, f"spec.hostnames[{index}]", host)
    if len(spec.rules) > 16:
        found.append(
            Problem("spec.rules", f"Too many: {len(spec.rules)}: must have at most 16 items")
        )
    return found


def _backend_problems(backends: Any, at: str) -> list[Problem]:
    found: list[Problem] = []
    for b, backend in enumerate(backends):
        where = f"{at}.backendRefs[{b}]"
        required(found, f"{where}.name", backend.name)
        if backend.group == "" and backend.kind == "Service" and backend.port is None:
            found.append(Problem(where, "Must have port for Service reference"))
        if not 0 <= backend.weight <= 1000000:
            message = f"Invalid value: {backend.weight}: must be between 0 and 1000000"
            found.append(Problem(f"{where}.weight", message))
    return found
