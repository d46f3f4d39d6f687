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

from pilotfish.config.formats import fqdn_problem, is_ip
from pilotfish.config.hosts import hosts_overlap
from pilotfish.config.protocols import GRPC_STATUS_CODES
from pilotfish.config.raw import as_list, as_map
from pilotfish.config.schema import Problem
from pilotfish.config.validation.webhook_http_actions import (
    header_name_problem,
    http_action_problems,
)
from pilotfish.config.yaml_text import join_path

Add = Callable[[str, str], None]
DNS_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
CLAIM = "@request.auth.claims"
GRPC_STATUS = frozenset(GRPC_STATUS_CODES)
PSEUDO = frozenset({":method", ":scheme", ":authority", ":path", ":status"})


def header_value_problem(value: str) -> str | None:
    """Istio's ValidateHTTPHeaderValue: printable characters, then Envoy's header formatter
    parser (header_parser.cc, as Istio ports it): `%%` is a literal, `%VAR%` or
    `%VAR(args)%` a command (args a bare string or a JSON array of strings)."""
    if any(ord(c) < 9 or 9 < ord(c) < 32 or ord(c) == 127 for c in value):
        return f"header value configuration {value} is invalid"
    problem = _formatter_problem(value)
    return None if problem is None else f"header value configuration: {problem}"


def _formatter_problem(value: str) -> str | None:
    state, pos = "literal", 0
    while pos < len(value):
        ch, more = value[pos], pos + 1 < len(value)
        if state == "literal" and ch == "%":
            if not more:
                return "invalid header configuration. Un-escaped %"
            if value[pos + 1] == "%":
                pos += 1
            else:
                state = "name"
        elif state == "name":
            state = "literal" if ch == "%" else "array" if ch == "(" else state
        elif state == "array":
            state = "string_start" if ch == "[" else state if ch == " " else "string"
        elif state == "delimiter":
            if ch not in ", ]":
                return "invalid header configuration. Expecting ',', ']', or whitespace"
            state = "string_start" if ch == "," else "args_end" if ch == "]" else state
        elif state == "string_start":
            if ch not in '" ':
                return "invalid header configuration. Expecting '\"'"
            state = "string" if ch == '"' else state
        elif state == "string":
            if ch == "\\":
                if not more:
                    return "invalid header configuration. Un-terminated backslash in JSON string"
                pos += 1
            elif ch in ')"':
                state = "variable_end" if ch == ")" else "delimiter"
        elif state == "args_end":
            if ch not in ") ":
                return "invalid header configuration. Expecting ')' or whitespace"
            state = "variable_end" if ch == ")" else state
        elif state == "variable_end":
            if ch not in "% ":
                return "invalid header configuration. Expecting '%' or whitespace after"
            state = "literal" if ch == "%" else state
        pos += 1
    if state != "literal":
        return f"invalid header configuration. Un-terminated variable expression '{value}'"
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
            elif not _claim(str(name)) and name not in PSEUDO:
                problem = header_name_problem(str(name))
                if problem is not None:
                    add(at, problem)
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


def _http_route(
    route: Any, path: str, add: Add, gateway_bound: bool, gateways: list[str], delegate_vs: bool
) -> None:
    route = as_map(route)
    matches = as_list(route.get("match"))
    for index, match in enumerate(matches):
        _match(match, join_path(join_path(path, "match"), index), add, gateway_bound, gateways)
    authority = _header_ops(route.get("headers"), join_path(path, "headers"), add)
    rewrite = as_map(route.get("rewrite"))
    if rewrite.get("authority") and authority is not None:
        add(join_path(path, "headers"), "authority header cannot be set multiple times")
    http_action_problems(route, matches, path, add)
    abort = as_map(as_map(route.get("fault")).get("abort"))
    status = abort.get("grpcStatus")
    if isinstance(status, str) and status not in GRPC_STATUS:
        add(
            join_path(join_path(join_path(path, "fault"), "abort"), "grpcStatus"),
            f'gRPC status "{status}" is not supported',
        )
    if "http2Error" in abort:
        add(join_path(path, "fault.abort"), "HTTP/2 abort fault injection not supported yet")
    root_route = route.get("delegate") is not None and not delegate_vs
    if route.get("mirror") is not None and route.get("mirrors") and not root_route:
        add(path, "HTTP route cannot contain both mirror and mirrors")
    for index, dest in enumerate(as_list(route.get("route"))):
        where = join_path(join_path(join_path(path, "route"), index), "headers")
        _header_ops(as_map(dest).get("headers"), where, add)


def _gateway_names(names: Any, path: str, found: list[Problem]) -> None:
    """Istio's validateGatewayNames, as it behaves: `namespace/name` with DNS-label parts, or
    an FQDN (`name.namespace` warned as legacy); the first name without a `/` ends the check."""
    for index, ref in enumerate(as_list(names)):
        at = join_path(path, index)
        if not isinstance(ref, str):
            continue
        namespace, sep, name = ref.partition("/")
        if not sep:
            if "." in ref:
                parts = ref.split(".")
                found.append(
                    Problem(
                        at,
                        f'using legacy gatewayName format "{ref}"; prefer the '
                        f'<namespace>/<name> format: "{parts[1]}/{parts[0]}"',
                        "warning",
                    )
                )
            problem = fqdn_problem(ref)
            if problem is not None:
                found.append(Problem(at, problem))
            return
        if not namespace or not name:
            found.append(Problem(at, "config namespace and gateway name cannot be empty"))
        if not DNS_LABEL.match(namespace):
            found.append(Problem(at, f'invalid value for namespace: "{namespace}"'))
        if not DNS_LABEL.match(name):
            found.append(Problem(at, f'invalid value for gateway name: "{name}"'))


def virtual_service_problems(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []

    def add(path: str, message: str) -> None:
        found.append(Problem(path, message))

    spec = as_map(spec)
    gateways = [g for g in as_list(spec.get("gateways")) if isinstance(g, str)]
    gateway_bound = bool(gateways) and "mesh" not in gateways
    _gateway_names(spec.get("gateways"), join_path(root, "gateways"), found)
    for kind in ("http", "tls", "tcp"):
        for index, route in enumerate(as_list(spec.get(kind))):
            for m_index, match in enumerate(as_list(as_map(route).get("match"))):
                where = join_path(
                    join_path(join_path(join_path(root, kind), index), "match"), m_index
                )
                _gateway_names(as_map(match).get("gateways"), join_path(where, "gateways"), found)
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
        where = join_path(join_path(root, "http"), index)
        _http_route(route, where, add, gateway_bound, gateways, not hosts)
    for index, tls in enumerate(as_list(spec.get("tls"))):
        for m_index, match in enumerate(as_list(as_map(tls).get("match"))):
            where = join_path(join_path(join_path(root, "tls"), index), "match")
            for s_index, sni in enumerate(as_list(as_map(match).get("sniHosts"))):
                if not isinstance(sni, str) or not hosts:
                    continue
                if is_ip(sni):  # Istio warns and checks no further
                    found.append(
                        Problem(
                            join_path(join_path(join_path(where, m_index), "sniHosts"), s_index),
                            f'using an IP address ("{sni}") goes against SNI spec and most '
                            "clients do not support this",
                            "warning",
                        )
                    )
                    continue
                if not any(hosts_overlap(sni, h, "name") for h in hosts):
                    add(
                        join_path(join_path(join_path(where, m_index), "sniHosts"), s_index),
                        f'SNI host "{sni}" is not a compatible subset of any of the virtual '
                        f"service hosts: [{', '.join(hosts)}]",
                    )
    return found
