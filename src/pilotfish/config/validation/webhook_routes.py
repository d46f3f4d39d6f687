"""More of Istio's webhook rules for a VirtualService (pkg/config/validation), on the spec as read.

Complements `virtual_service` (which works on the model): hosts bound to the mesh (`*`) and
overlapping hosts, gateway reference syntax, JWT-claim matches outside gateways, header names
and values (un-escaped `%`, pseudo headers, authority set twice), empty prefix/regex string
matches, redirects (prefixRewrite with exact/regex URI matches), rewrites, retries (policy
names, settings with zero attempts), gRPC abort codes, CORS methods and max age, mirrors, TLS
SNI hosts and source namespaces. Pure: plain dicts in, `Problem`s out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pilotfish.config.hosts import hosts_overlap
from pilotfish.config.protocols import GRPC_STATUS_CODES
from pilotfish.config.raw import as_list, as_map
from pilotfish.config.schema import Problem
from pilotfish.config.yaml_text import join_path

Add = Callable[[str, str], None]
DNS_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
CLAIM = "@request.auth.claims"
RETRY_ON = frozenset(
    [
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    ]
)
GRPC_STATUS = frozenset(GRPC_STATUS_CODES)
CORS_METHODS = frozenset(
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"]
)
PSEUDO = frozenset({":method", ":scheme", ":authority", ":path", ":status"})
HTTP_STATUS_TEXT = frozenset(
    [
        *range(100, 104),
        *range(200, 209),
        226,
        *range(300, 309),
        *range(400, 419),
        421,
        422,
        423,
        424,
        425,
        426,
        428,
        429,
        431,
        451,
        *range(500, 509),
        510,
        511,
    ]
)


def header_value_problem(value: str) -> str | None:
    """Envoy's header formatter: `%%` is a literal, `%VAR%` a command; a lone `%` is refused."""
    if any(ord(c) < 9 or 9 < ord(c) < 32 or ord(c) == 127 for c in value):
        return f"header value configuration {value} is invalid"
    pos = 0
    while pos < len(value):
        if value[pos] == "%":
            if value.startswith("%%", pos):
                pos += 2
                continue
            end = value.find("%", pos + 1)
            if end < 0:
                return "header value configuration: invalid header configuration. Un-escaped %"
            pos = end
        pos += 1
    return None


def _claim(name: str) -> bool:
    return name.startswith(CLAIM + ".") or name.startswith(CLAIM + "[")


def _header_ops(headers: Any, path: str, add: Add) -> str | None:
    """Header manipulation checks; returns the authority value set, if any."""
    authority: str | None = None
    for side in ("request", "response"):
        ops = as_map(as_map(headers).get(side))
        where = join_path(path, side)
        for verb in ("set", "add"):
            for name, value in as_map(ops.get(verb)).items():
                at = join_path(join_path(where, verb), str(name))
                name = str(name)
                if not name:
                    add(at, "header name cannot be empty")
                    continue
                is_authority = name.lower() in ("host", ":authority")
                if side == "request" and name.startswith(":") and not is_authority:
                    add(at, f'invalid header "{name}": header cannot have ":" prefix')
                if side == "response" and name.lower() == "host":
                    add(at, f'invalid header "{name}": cannot set Host header')
                if side == "response" and name.startswith(":"):
                    add(at, f'invalid header "{name}": header cannot have ":" prefix')
                problem = header_value_problem(str(value)) if isinstance(value, str) else None
                if problem is not None:
                    add(at, problem)
                if side == "request" and is_authority:
                    if authority is not None:
                        add(at, "authority header cannot be set multiple times")
                    authority = str(value)
        for index, name in enumerate(as_list(ops.get("remove"))):
            at = join_path(join_path(where, "remove"), index)
            name = str(name)
            if not name:
                add(at, "header name cannot be empty")
            elif name.lower() == "host":
                add(at, f'invalid header "{name}": cannot set Host header')
            elif name.startswith(":"):
                add(at, f'invalid header "{name}": header cannot have ":" prefix')
    return authority


def _string_match(match: Any, path: str, add: Add, allow_empty_prefix: bool = False) -> None:
    match = as_map(match)
    if "prefix" in match and match["prefix"] == "" and not allow_empty_prefix:
        add(join_path(path, "prefix"), "prefix string match should not be empty")
    if "regex" in match and match["regex"] == "":
        add(join_path(path, "regex"), "regex string match should not be empty")


def _match(match: Any, path: str, add: Add, gateway_bound: bool, gateways: list[str]) -> None:
    match = as_map(match)
    for key in ("headers", "withoutHeaders"):
        for name, value in as_map(match.get(key)).items():
            at = join_path(join_path(path, key), str(name))
            if not name:
                add(at, "header name cannot be empty")
            elif _claim(str(name)) and not gateway_bound:
                add(
                    at,
                    f"JWT claim based routing (key: {name}) is only supported for gateway, "
                    f"found no gateways: [{' '.join(gateways)}]",
                )
            if not (key == "withoutHeaders" and as_map(value).get("regex") == "*"):
                _string_match(value, at, add)
    _string_match(match.get("uri"), join_path(path, "uri"), add, allow_empty_prefix=True)
    for key in ("scheme", "method", "authority"):
        _string_match(match.get(key), join_path(path, key), add)
    for name, value in as_map(match.get("queryParams")).items():
        _string_match(value, join_path(join_path(path, "queryParams"), str(name)), add)
    namespace = match.get("sourceNamespace")
    if isinstance(namespace, str) and namespace and not DNS_LABEL.match(namespace):
        add(join_path(path, "sourceNamespace"), f"sourceNamespace match {namespace} is invalid")


def _retries(retries: Any, path: str, add: Add) -> None:
    retries = as_map(retries)
    if not retries:
        return
    attempts = retries.get("attempts", 0)
    if attempts == 0 and any(
        retries.get(k) for k in ("perTryTimeout", "retryOn", "retryRemoteLocalities")
    ):
        add(path, "http retry policy configured when attempts are set to 0 (disabled)")
    retry_on = retries.get("retryOn")
    if isinstance(retry_on, str) and retry_on:
        for policy in retry_on.split(","):
            code = int(policy) if policy.isdigit() else 0
            if code not in HTTP_STATUS_TEXT and policy not in RETRY_ON:
                add(join_path(path, "retryOn"), f'"{policy}" is not a valid retryOn policy')


def _http_route(route: Any, path: str, add: Add, gateway_bound: bool, gateways: list[str]) -> None:
    route = as_map(route)
    matches = as_list(route.get("match"))
    for index, match in enumerate(matches):
        _match(match, join_path(join_path(path, "match"), index), add, gateway_bound, gateways)
    authority = _header_ops(route.get("headers"), join_path(path, "headers"), add)
    rewrite = as_map(route.get("rewrite"))
    if rewrite.get("authority") and authority is not None:
        add(join_path(path, "headers"), "authority header cannot be set multiple times")
    if rewrite.get("uri") and rewrite.get("uriRegexRewrite"):
        add(join_path(path, "rewrite"), "rewrite may only contain one of URI or UriRegexRewrite")
    redirect = as_map(route.get("redirect"))
    if redirect.get("prefixRewrite"):
        for match in matches:
            uri = as_map(as_map(match).get("uri"))
            if uri and "prefix" not in uri:
                add(
                    join_path(path, "redirect"),
                    "redirect prefix_rewrite requires all URI matches to use prefix match type",
                )
                break
    _retries(route.get("retries"), join_path(path, "retries"), add)
    abort = as_map(as_map(route.get("fault")).get("abort"))
    status = abort.get("grpcStatus")
    if isinstance(status, str) and status not in GRPC_STATUS:
        add(
            join_path(join_path(join_path(path, "fault"), "abort"), "grpcStatus"),
            f'gRPC status "{status}" is not supported',
        )
    if "http2Error" in abort:
        add(join_path(path, "fault.abort"), "HTTP/2 abort fault injection not supported yet")
    cors = as_map(route.get("corsPolicy"))
    for index, method in enumerate(as_list(cors.get("allowMethods"))):
        if method not in CORS_METHODS:
            at = join_path(join_path(join_path(path, "corsPolicy"), "allowMethods"), index)
            add(at, f'"{method}" is not a supported HTTP method')
    max_age = cors.get("maxAge")
    if (
        isinstance(max_age, str)
        and re.fullmatch(r"\d+(\.\d+)?(ms|us|µs|ns)", max_age)
        and (not max_age.endswith("ms") or int(float(max_age[:-2])) % 1000)
    ):
        add(
            join_path(join_path(path, "corsPolicy"), "maxAge"),
            "max_age duration is accurate only to seconds precision",
        )
    if route.get("mirror") is not None and route.get("mirrors"):
        add(path, "HTTP route cannot contain both mirror and mirrors")
    for index, dest in enumerate(as_list(route.get("route"))):
        where = join_path(join_path(join_path(path, "route"), index), "headers")
        _header_ops(as_map(dest).get("headers"), where, add)


def _gateway_reference(ref: Any, path: str, add: Add) -> None:
    if not isinstance(ref, str) or ref == "mesh":
        return
    namespace, sep, name = ref.partition("/")
    if not sep:
        return
    if not namespace or not name:
        add(path, "config namespace and gateway name cannot be empty")
    elif not DNS_LABEL.match(namespace):
        add(path, f'invalid value for namespace: "{namespace}"')
    elif not DNS_LABEL.match(name):
        add(path, f'invalid value for gateway name: "{name}"')


def virtual_service_problems(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []

    def add(path: str, message: str) -> None:
        found.append(Problem(path, message))

    spec = as_map(spec)
    gateways = [g for g in as_list(spec.get("gateways")) if isinstance(g, str)]
    gateway_bound = bool(gateways) and "mesh" not in gateways
    for index, ref in enumerate(gateways):
        _gateway_reference(ref, join_path(join_path(root, "gateways"), index), add)
    hosts = [h for h in as_list(spec.get("hosts")) if isinstance(h, str)]
    if not gateway_bound and "*" in hosts:
        add(
            join_path(join_path(root, "hosts"), hosts.index("*")),
            "wildcard host * is not allowed for virtual services bound to the mesh gateway",
        )
    for i, first in enumerate(hosts):
        for j in range(i + 1, len(hosts)):
            if hosts_overlap(first, hosts[j], "name"):
                add(
                    join_path(join_path(root, "hosts"), j),
                    f"duplicate hosts in virtual service: {first} & {hosts[j]}",
                )
    for index, route in enumerate(as_list(spec.get("http"))):
        _http_route(route, join_path(join_path(root, "http"), index), add, gateway_bound, gateways)
    for index, tls in enumerate(as_list(spec.get("tls"))):
        for m_index, match in enumerate(as_list(as_map(tls).get("match"))):
            where = join_path(join_path(join_path(root, "tls"), index), "match")
            for s_index, sni in enumerate(as_list(as_map(match).get("sniHosts"))):
                if not isinstance(sni, str) or not hosts:
                    continue
                if not any(hosts_overlap(sni, h, "name") for h in hosts):
                    add(
                        join_path(join_path(join_path(where, m_index), "sniHosts"), s_index),
                        f'SNI host "{sni}" is not a compatible subset of any of the virtual '
                        f"service hosts: [{', '.join(hosts)}]",
                    )
    return found
