"""One Gateway API document checked as the API server checks it on `kubectl apply`
(`document_problems`): a served version of a served kind, metadata, the spec's types (`models`)
and the CRDs' rules beyond types (their OpenAPI patterns, bounds and CEL rules:
`spec_problems(kind, spec)`), each a `Problem` with its field path
(`spec.rules[0].matches[0].path.value`). Messages follow the CRDs' own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pilotfish.config.gateway_api.models import (
    GatewaySpec,
    HTTPPathMatch,
    HTTPRouteFilter,
    HTTPRouteRule,
    HTTPRouteSpec,
    ReferenceGrantSpec,
    model_of,
)
from pilotfish.config.kinds import GATEWAY_API_GROUP, gateway_api_kind
from pilotfish.config.object_meta import metadata_problems, top_level_problems
from pilotfish.config.schema import Problem, build_spec

HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SECTION_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
PROTOCOL = re.compile(
    r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$"
)
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


def document_problems(data: dict[str, Any], strict: bool = False) -> list[Problem] | None:
    """Problems of one document of the Gateway API group; None for a kind not served here."""
    api_version, kind = str(data.get("apiVersion", "")), str(data.get("kind", ""))
    info = gateway_api_kind(api_version, kind)
    if info is None:
        return None
    version = api_version.rpartition("/")[2]
    if version not in info.versions:
        served = ", ".join(f"{GATEWAY_API_GROUP}/{v}" for v in info.versions)
        return [Problem("apiVersion", f"{api_version} is not served for {kind} (served: {served})")]
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name = metadata.get("name")
    problems = metadata_problems(metadata, name if isinstance(name, str) else "")
    problems += top_level_problems(data)
    model = model_of(kind, api_version)
    assert model is not None
    spec, found = build_spec(model, data.get("spec"), "spec", strict)
    problems += found
    if spec is not None:
        problems += spec_problems(kind, spec)
    return problems


def spec_problems(kind: str, spec: Any) -> list[Problem]:
    check: Callable[[Any], list[Problem]] | None = _CHECKS.get(kind)
    return check(spec) if check is not None else []


def _required(found: list[Problem], path: str, value: object) -> bool:
    if value is None or value == "":
        found.append(Problem(path, "Required value"))
        return False
    return True


def _hostname(found: list[Problem], path: str, value: str | None) -> None:
    if value is not None and not HOSTNAME.match(value):
        found.append(
            Problem(path, f'Invalid value: "{value}": must be a hostname ({HOSTNAME.pattern})')
        )


def _duration(found: list[Problem], path: str, value: str | None) -> float | None:
    if value is None:
        return None
    if not DURATION.match(value):
        found.append(
            Problem(path, f'Invalid value: "{value}": must be a duration ({DURATION.pattern})')
        )
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in re.findall(r"([0-9]+)(h|ms|m|s)", value))


def gateway_problems(spec: GatewaySpec) -> list[Problem]:
    found: list[Problem] = []
    _required(found, "spec.gatewayClassName", spec.gateway_class_name)
    if not spec.listeners:
        found.append(Problem("spec.listeners", "Required value: at least one listener"))
    names: set[str] = set()
    combos: set[tuple[int | None, str]] = set()
    for index, listener in enumerate(spec.listeners):
        at = f"spec.listeners[{index}]"
        if _required(found, f"{at}.name", listener.name):
            assert listener.name is not None
            if not SECTION_NAME.match(listener.name):
                found.append(
                    Problem(
                        f"{at}.name",
                        f'Invalid value: "{listener.name}": must be a lowercase RFC 1123 subdomain',
                    )
                )
            if listener.name in names:
                found.append(
                    Problem("spec.listeners", "Listener name must be unique within the Gateway")
                )
            names.add(listener.name)
        if _required(found, f"{at}.port", listener.port) and not 1 <= (listener.port or 0) <= 65535:
            found.append(
                Problem(
                    f"{at}.port", f"Invalid value: {listener.port}: must be between 1 and 65535"
                )
            )
        if _required(found, f"{at}.protocol", listener.protocol) and not PROTOCOL.match(
            listener.protocol or ""
        ):
            found.append(
                Problem(
                    f"{at}.protocol",
                    f'Invalid value: "{listener.protocol}": must be a protocol name',
                )
            )
        _hostname(found, f"{at}.hostname", listener.hostname)
        if listener.protocol in ("HTTPS", "TLS") and listener.tls is None:
            found.append(Problem(f"{at}", "tls must be specified for protocols ['HTTPS', 'TLS']"))
        if listener.protocol in ("TCP", "UDP") and listener.hostname:
            found.append(
                Problem(f"{at}", "hostname must not be specified for protocols ['TCP', 'UDP']")
            )
        combo = (listener.port, listener.hostname or "")
        if combo in combos:
            found.append(
                Problem(
                    "spec.listeners",
                    "Combination of port, protocol and hostname must be unique for each listener",
                )
            )
        combos.add(combo)
    return found


def route_problems(spec: HTTPRouteSpec) -> list[Problem]:
    found: list[Problem] = []
    for index, ref in enumerate(spec.parent_refs):
        _required(found, f"spec.parentRefs[{index}].name", ref.name)
        if ref.port is not None and not 1 <= ref.port <= 65535:
            found.append(
                Problem(
                    f"spec.parentRefs[{index}].port",
                    f"Invalid value: {ref.port}: must be between 1 and 65535",
                )
            )
    for index, host in enumerate(spec.hostnames):
        _hostname(found, f"spec.hostnames[{index}]", host)
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
                    _required(found, f"{where}.name", header.name)
                    and key == "headers"
                    and not HEADER_NAME.match(header.name or "")
                ):
                    found.append(
                        Problem(
                            f"{where}.name",
                            f'Invalid value: "{header.name}": must be an HTTP header name',
                        )
                    )
                _required(found, f"{where}.value", header.value)
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
        _required(found, f"{where}.name", backend.name)
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
        request = _duration(found, f"{at}.timeouts.request", rule.timeouts.request)
        backend_request = _duration(
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
    if not _required(found, f"{at}.type", item.type):
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


def reference_grant_problems(spec: ReferenceGrantSpec) -> list[Problem]:
    found: list[Problem] = []
    if not spec.from_:
        found.append(Problem("spec.from", "Required value"))
    if not spec.to:
        found.append(Problem("spec.to", "Required value"))
    for index, item in enumerate(spec.from_):
        _required(found, f"spec.from[{index}].kind", item.kind)
        _required(found, f"spec.from[{index}].namespace", item.namespace)
        if item.group is None:
            found.append(Problem(f"spec.from[{index}].group", "Required value"))
    for index, to in enumerate(spec.to):
        _required(found, f"spec.to[{index}].kind", to.kind)
        if to.group is None:
            found.append(Problem(f"spec.to[{index}].group", "Required value"))
    return found


def class_problems(spec: Any) -> list[Problem]:
    found: list[Problem] = []
    _required(found, "spec.controllerName", spec.controller_name)
    return found


_CHECKS: dict[str, Callable[[Any], list[Problem]]] = {
    "Gateway": gateway_problems,
    "HTTPRoute": route_problems,
    "ReferenceGrant": reference_grant_problems,
    "GatewayClass": class_problems,
}
