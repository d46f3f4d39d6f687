"""More of Istio's webhook rules for AuthorizationPolicy (pkg/config/validation and
pkg/config/security), on the spec as read: rules' from/to/when entries (empty lists and values,
IP blocks, ports, path templates, condition keys and their values, CUSTOM restrictions), and the
`istio.io/dry-run` annotation (AuthorizationPolicy only, ALLOW/DENY, a boolean). Pure.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pilotfish.config.formats import is_ip_or_cidr
from pilotfish.config.raw import as_list, as_map, as_strings
from pilotfish.config.schema import Problem
from pilotfish.config.yaml_text import join_path

DRY_RUN = "istio.io/dry-run"
BOOLEAN = frozenset(
    ["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"]
)
MAP_KEY_ATTRIBUTES = ("request.headers", "request.auth.claims", "experimental.envoy.filters.")
PLAIN_ATTRIBUTES = frozenset(
    [
        "source.ip",
        "remote.ip",
        "source.namespace",
        "source.serviceAccount",
        "source.principal",
        "source.trustDomain",
        "request.auth.principal",
        "request.auth.audiences",
        "request.auth.presenter",
        "destination.ip",
        "destination.port",
        "connection.sni",
    ]
)
IP_ATTRIBUTES = frozenset({"source.ip", "remote.ip", "destination.ip"})
SOURCE_LISTS = [
    "principals",
    "requestPrincipals",
    "namespaces",
    "ipBlocks",
    "remoteIpBlocks",
    "notPrincipals",
    "notRequestPrincipals",
    "notNamespaces",
    "notIpBlocks",
    "notRemoteIpBlocks",
]
SERVICE_ACCOUNT_LISTS = ("serviceAccounts", "notServiceAccounts")
TRUST_DOMAIN_LISTS = ("trustDomains", "notTrustDomains")
# sources and `when` keys a CUSTOM rule cannot use (Istio: not supported with CUSTOM action)
CUSTOM_SOURCE_LISTS = (
    "namespaces",
    "notNamespaces",
    *SERVICE_ACCOUNT_LISTS,
    *TRUST_DOMAIN_LISTS,
    "principals",
    "notPrincipals",
    "requestPrincipals",
    "notRequestPrincipals",
)
CUSTOM_WHEN_KEYS = frozenset(
    ["source.namespace", "source.serviceAccount", "source.trustDomain", "source.principal"]
)
OPERATION_LISTS = [
    "ports",
    "methods",
    "paths",
    "hosts",
    "notPorts",
    "notMethods",
    "notPaths",
    "notHosts",
]


PATH_LITERAL = re.compile(r"[a-zA-Z0-9\-._~%!$&'()+,;:@=]+")


def _ip_problem(value: str) -> str | None:
    return None if is_ip_or_cidr(value) else f"bad IP address or CIDR range ({value})"


def _port_problem(value: str) -> str | None:
    return None if value.isdigit() and int(value) <= 65535 else f"bad port ({value})"


def _service_account_problem(key: str, values: list[str]) -> str | None:
    """Istio's CheckServiceAccount: 'serviceAccount' or 'namespace/serviceAccount', no wildcard."""
    if len(values) > 16:
        return "may not have more than 16 values"
    for value in values:
        if value == "":
            return f"empty value not allowed, found in {key}"
        if "*" in value:
            return f"wildcard not allowed, found in {key}"
        namespace, _, account = value.rpartition("/")
        if value.count("/") > 1 or ("/" in value and not (namespace and account)):
            return (
                "expected format 'serviceAccount' or 'namespace/serviceAccount', "
                f"found {value!r} in {key}"
            )
        if len(value) > 320:
            return f"value cannot exceed 320 characters, found {value!r} in {key}"
    return None


def _wildcard_problem(key: str, values: list[str], trust_domain: bool = False) -> str | None:
    """Istio's CheckWildcardValues (and CheckTrustDomainValues: no '/' either)."""
    for value in values:
        if value == "":
            return f"empty value not allowed, found in {key}"
        stars = value.count("*")
        if stars > 1:
            return f"at most one wildcard is allowed, found in {key}: {value!r}"
        if stars == 1 and not (value.startswith("*") or value.endswith("*")):
            return f"wildcard is only allowed at the start or end, found in {key}: {value!r}"
        if trust_domain and "/" in value:
            return f"trust domain must not contain '/', found in {key}: {value!r}"
    return None


def _attribute_problem(key: str, values: list[str]) -> str | None:
    if "" in values:
        return f"empty value not allowed, found in {key}"
    if key.startswith(MAP_KEY_ATTRIBUTES):
        open_at = key.find("[")
        if not (key.endswith("]") and 0 < open_at < len(key) - 2):
            return f"bad key ({key}): should have format a[b]"
        return None
    if key == "destination.namespace":
        return f"attribute {key} is replaced by the metadata.namespace"
    if key.startswith("destination.labels"):
        return f"attribute {key} is replaced by the workload selector"
    if key in ("destination.name", "destination.user"):
        return f"deprecated attribute {key}: only supported in v1alpha1"
    if key not in PLAIN_ATTRIBUTES:
        return f"unknown attribute: {key}"
    if key in IP_ATTRIBUTES:
        return next((p for v in values if (p := _ip_problem(v)) is not None), None)
    if key == "destination.port":
        return next((p for v in values if (p := _port_problem(v)) is not None), None)
    if key == "source.serviceAccount":
        return _service_account_problem(key, values)
    if key == "source.trustDomain":
        return _wildcard_problem(key, values)
    return None


def _path_template_problem(path: str) -> str | None:
    """Istio's CheckValidPathTemplate: {*} and {**} whole segments, {**} last, and with a
    template, every other segment a plain RFC 3986 pchar literal."""
    templated = "{*}" in path or "{**}" in path
    if "{" not in path and "}" not in path:
        return None
    seen_any = False
    for glob in path.strip("/").split("/"):
        if glob in ("{*}", "{**}"):
            if seen_any:
                return f"invalid or unsupported path {path}: {{**}} is not the last operator"
            seen_any = glob == "{**}"
        elif "{" in glob or "}" in glob:
            return f"invalid or unsupported path {path}"
        elif templated and not PATH_LITERAL.fullmatch(glob):
            return f"invalid or unsupported path {path}: segment {glob!r} is not a valid literal"
    return None


def authorization_policy_problems(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []

    def add(path: str, message: str) -> None:
        found.append(Problem(path, message))

    spec = as_map(spec)
    action = spec.get("action", "ALLOW")
    rules_path = join_path(root, "rules")
    # CUSTOM/DENY without rules and a provider on other actions: validation.security
    for i, rule in enumerate(as_list(spec.get("rules"))):
        rule = as_map(rule)
        at = join_path(rules_path, i)
        # `from: []`/`to: []` read as unset (protobuf's JSON reader): Istio's "must not be empty"
        # holds only for a Go value, never for a file
        for j, entry in enumerate(as_list(rule.get("from"))):
            where = join_path(join_path(join_path(at, "from"), j), "source")
            source = as_map(as_map(entry).get("source"))
            if "source" in as_map(entry) and not source:
                add(where, f"`from.source` must not be empty, found at rule {i}")
            if action == "CUSTOM":
                for key in CUSTOM_SOURCE_LISTS:
                    if source.get(key):
                        add(
                            join_path(where, key),
                            f"From.{key[0].upper()}{key[1:]} is currently "
                            "not supported with CUSTOM action",
                        )
            for key in SERVICE_ACCOUNT_LISTS:
                problem = _service_account_problem(key, as_strings(source.get(key)))
                if problem is not None:
                    add(join_path(where, key), problem)
            for key in TRUST_DOMAIN_LISTS:
                problem = _wildcard_problem(key, as_strings(source.get(key)), trust_domain=True)
                if problem is not None:
                    add(join_path(where, key), problem)
            for key in SOURCE_LISTS:
                values = as_strings(source.get(key))
                if "" in values:
                    add(join_path(where, key), f"empty value not allowed, found in {key}")
                if "ipblocks" in key.lower():
                    for k, value in enumerate(values):
                        problem = _ip_problem(value) if value else None
                        if problem is not None:
                            add(join_path(join_path(where, key), k), problem)
        for j, entry in enumerate(as_list(rule.get("to"))):
            where = join_path(join_path(join_path(at, "to"), j), "operation")
            operation = as_map(as_map(entry).get("operation"))
            if not any(as_list(operation.get(k)) for k in OPERATION_LISTS):
                add(where, f"`to.operation` must not be empty, found at rule {i}")
            for key in OPERATION_LISTS:
                values = as_strings(operation.get(key))
                if "" in values:
                    add(join_path(where, key), f"empty value not allowed, found in {key}")
                for k, value in enumerate(values):
                    problem = (
                        _port_problem(value)
                        if key in ("ports", "notPorts")
                        else _path_template_problem(value)
                        if key in ("paths", "notPaths")
                        else None
                    )
                    if value and problem is not None:
                        add(join_path(join_path(where, key), k), problem)
        for j, condition in enumerate(as_list(rule.get("when"))):
            condition = as_map(condition)
            where = join_path(join_path(at, "when"), j)
            attribute = condition.get("key")
            values, not_values = (
                as_strings(condition.get("values")),
                as_strings(condition.get("notValues")),
            )
            if action == "CUSTOM" and (
                attribute in CUSTOM_WHEN_KEYS or str(attribute).startswith("request.auth.")
            ):
                add(
                    join_path(where, "key"),
                    f"{attribute} is currently not supported with CUSTOM action",
                )
            if not attribute:
                add(join_path(where, "key"), "`key` must not be empty")
            elif not values and not not_values:
                add(
                    where,
                    f"at least one of `values` or `notValues` must be set for key {attribute}",
                )
            else:
                for label, given in (("value", values), ("notValue", not_values)):
                    problem = _attribute_problem(str(attribute), given)
                    if problem is not None:
                        add(where, f"invalid `{label}` for `key` {attribute}: {problem}")
        if action == "DENY" and _http_only_deny(rule):
            found.append(Problem(at, DENY_TCP_WARNING, "warning"))
    return found


DENY_TCP_WARNING = (
    "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to "
    "the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the "
    "port"
)
_TCP_SOURCE_LISTS = (
    "principals", "notPrincipals", "ipBlocks", "notIpBlocks", "namespaces", "notNamespaces",
    "remoteIpBlocks", "notRemoteIpBlocks", "serviceAccounts", "notServiceAccounts",
)  # fmt: skip


def _http_only_deny(rule: dict[str, Any]) -> bool:
    """Istio's warning condition: the rule's sources name no TCP attribute while it has no
    operation, or its operations name no port."""
    entries = [as_map(f) for f in as_list(rule.get("from"))]
    sources = [as_map(f.get("source")) for f in entries if "source" in f]
    operations = [as_map(t) for t in as_list(rule.get("to")) if "operation" in as_map(t)]
    tcp_from = any(as_list(s.get(k)) for s in sources for k in _TCP_SOURCE_LISTS)
    tcp_to = any(
        as_list(as_map(t.get("operation")).get(k))
        for t in operations
        for k in ("ports", "notPorts")
    )
    return bool((sources and not operations and not tcp_from) or (operations and not tcp_to))


def dry_run_problem(kind: str, annotations: dict[str, Any], spec: Any, where: str) -> str | None:
    """The `istio.io/dry-run` annotation: AuthorizationPolicy only, ALLOW/DENY, a boolean (Go's
    ParseBool); Istio's messages, naming the object (`where`: namespace/name) and the action as
    Go prints it (a number naming no action: that number)."""
    if DRY_RUN not in annotations:
        return None
    if kind != "AuthorizationPolicy":
        return f"{where} has unsupported annotation {DRY_RUN}, please remove the annotation"
    action = as_map(spec).get("action", "ALLOW")
    if action not in ("ALLOW", "DENY"):
        return (
            f"the annotation {DRY_RUN} currently only supports action ALLOW/DENY, found action "
            f"{action} in {where}"
        )
    value = str(annotations[DRY_RUN])
    if value not in BOOLEAN:
        said = json.dumps(value, ensure_ascii=False)  # Go's %q, for printable text
        return (
            f"{where} has annotation {DRY_RUN} with invalid value ({value}): "
            f"strconv.ParseBool: parsing {said}: invalid syntax"
        )
    return None
