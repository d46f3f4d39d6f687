"""Istio's webhook rules that the CRDs state too (OpenAPI `minLength`/`required`, CEL rules),
checked on the spec as read with the webhook's own wording.

The API server refuses these before Istio's webhook sees them, so `validate` would refuse them
either way; they are here because `istioctl analyze` runs only the webhook's rules (its schema
analyzer, IST0106) and never the CRDs', and pilotfish reports IST0106 for webhook rules alone.
Each rule sits at the path the CRD's rule uses, so the CRD's is not said twice. Rules:
validatePolicyTargetReference, validateOneOfSelectorType, validateWorkloadSelector (policies,
Telemetry, extensions), validateTelemetry{Tracing,Metrics,Providers}, AuthorizationPolicy
sources, validateJwtRule locations and claim headers, ValidateServiceEntry's NONE endpoints and
unix endpoints, validateWorkloadEntry, ValidatePeerAuthentication's empty
port map, validateConnectionPool's keepalive durations. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pilotfish.config.durations import duration_problem
from pilotfish.config.formats import unix_address_problem
from pilotfish.config.raw import as_list, as_map
from pilotfish.config.schema import Problem
from pilotfish.config.yaml_text import join_path

Add = Callable[[str, str], None]
ONE_SELECTOR = "only one of targetRefs or workloadSelector can be set"
_STRICT_HEADER = re.compile(r"^[-_A-Za-z0-9]+$")  # Istio's ValidateStrictHTTPHeaderName


def _targets(spec: dict[str, Any], add: Add, root: str) -> None:
    chosen = [spec.get("selector") is not None, spec.get("targetRef") is not None]
    chosen.append(bool(as_list(spec.get("targetRefs"))))
    if sum(chosen) > 1:
        add(root, ONE_SELECTOR)
    refs = [(join_path(root, "targetRef"), spec.get("targetRef"))]
    refs += [
        (join_path(join_path(root, "targetRefs"), i), r)
        for i, r in enumerate(as_list(spec.get("targetRefs")))
    ]
    for where, ref in refs:
        if ref is None:
            continue
        ref = as_map(ref)
        if not ref.get("name"):
            add(join_path(where, "name"), "targetRef name must be set")
        if ref.get("namespace"):
            add(
                join_path(where, "namespace"),
                "targetRef namespace must not be set; cross namespace referencing is not supported",
            )
    labels = as_map(as_map(spec.get("selector")).get("matchLabels"))
    for key, value in labels.items():
        where = join_path(join_path(join_path(root, "selector"), "matchLabels"), str(key))
        if key == "":
            add(where, f'empty key is not supported in selector: "={value}"')
        if "*" in str(key) or "*" in str(value):
            add(where, f'wildcard is not supported in selector: "{key}={value}"')


def _telemetry(spec: dict[str, Any], add: Add, root: str) -> None:
    for section in ("tracing", "metrics", "accessLogging"):
        for i, entry in enumerate(as_list(spec.get(section))):
            at = join_path(join_path(root, section), i)
            for j, provider in enumerate(as_list(as_map(entry).get("providers"))):
                if not as_map(provider).get("name"):
                    where = join_path(join_path(join_path(at, "providers"), j), "name")
                    add(where, "providers.name may not be empty")
            sampling = as_map(entry).get("randomSamplingPercentage")
            if isinstance(sampling, int | float) and not 0 <= sampling <= 100:
                where = join_path(at, "randomSamplingPercentage")
                add(where, "randomSamplingPercentage must be in range [0.0, 100.0]")
            for k, override in enumerate(as_list(as_map(entry).get("overrides"))):
                match = as_map(as_map(override).get("match"))
                if "customMetric" in match and not match.get("customMetric"):
                    where = join_path(join_path(join_path(at, "overrides"), k), "match")
                    add(join_path(where, "customMetric"), "customMetric may not be empty")


def _authorization(spec: dict[str, Any], add: Add, root: str) -> None:
    for i, rule in enumerate(as_list(spec.get("rules"))):
        for j, entry in enumerate(as_list(as_map(rule).get("from"))):
            source = as_map(as_map(entry).get("source"))
            names = ("principals", "notPrincipals", "namespaces", "notNamespaces")
            accounts = ("serviceAccounts", "notServiceAccounts")
            if any(as_list(source.get(k)) for k in names) and any(
                as_list(source.get(k)) for k in accounts
            ):
                where = join_path(join_path(join_path(root, "rules"), i), "from")
                add(
                    join_path(join_path(where, j), "source"),
                    f"cannot set serviceAccounts with namespaces or principals, found at rule {i}",
                )


def _jwt_rules(spec: dict[str, Any], add: Add, root: str) -> None:
    for i, rule in enumerate(as_list(spec.get("jwtRules"))):
        rule, at = as_map(rule), join_path(join_path(root, "jwtRules"), i)
        for key, message in (
            ("fromParams", "location query must be non-empty string"),
            ("fromCookies", "cookie name must be non-empty string"),
        ):
            for j, value in enumerate(as_list(rule.get(key))):
                if value == "":
                    add(join_path(join_path(at, key), j), message)
        for j, pair in enumerate(as_list(rule.get("outputClaimToHeaders"))):
            pair = as_map(pair)
            where = join_path(join_path(at, "outputClaimToHeaders"), j)
            empty = [key for key in ("claim", "header") if not pair.get(key)]
            for key in empty:
                add(
                    join_path(where, key),
                    "outputClaimToHeaders header and claim value must be non-empty string",
                )
            header = pair.get("header")
            if not empty and isinstance(header, str) and not _STRICT_HEADER.match(header):
                add(join_path(where, "header"), f"header name {header} is not a valid header name")


def _workload_entry(entry: dict[str, Any], add: Add, at: str) -> None:
    address = str(entry.get("address") or "")
    if not address and not entry.get("network"):
        add(at, "address is required")
    if address.startswith("unix://"):
        problem = unix_address_problem(address[len("unix://") :])
        if problem is not None:
            add(join_path(at, "address"), problem)
        if as_map(entry.get("ports")):
            add(at, f"unix endpoint {address} must not include ports")


def _service_entry(spec: dict[str, Any], add: Add, root: str) -> None:
    if spec.get("resolution", "NONE") == "NONE" and as_list(spec.get("endpoints")):
        add(root, "no endpoints should be provided for resolution type none")
    if spec.get("resolution") == "STATIC":
        for i, endpoint in enumerate(as_list(spec.get("endpoints"))):
            _workload_entry(as_map(endpoint), add, join_path(join_path(root, "endpoints"), i))


def _peer_authentication(spec: dict[str, Any], add: Add, root: str) -> None:
    if "portLevelMtls" in spec and not as_map(spec.get("portLevelMtls")):
        add(
            join_path(root, "portLevelMtls"),
            "port level mTLS, if defined, must have at least one element",
        )


def _keepalive(policy: Any, add: Add, at: str) -> None:
    policy = as_map(policy)
    settings = [(at, policy)]
    settings += [
        (join_path(join_path(at, "portLevelSettings"), i), as_map(p))
        for i, p in enumerate(as_list(policy.get("portLevelSettings")))
    ]
    for where, setting in settings:
        keepalive = as_map(
            as_map(as_map(setting.get("connectionPool")).get("http")).get("http2KeepAlive")
        )
        for key in ("interval", "timeout"):
            value = keepalive.get(key)
            problem = duration_problem(value) if isinstance(value, str) else None
            if problem is not None:
                path = join_path(where, "connectionPool.http.http2KeepAlive")
                add(join_path(path, key), problem)


def _destination_rule(spec: dict[str, Any], add: Add, root: str) -> None:
    _keepalive(spec.get("trafficPolicy"), add, join_path(root, "trafficPolicy"))
    for i, subset in enumerate(as_list(spec.get("subsets"))):
        where = join_path(join_path(join_path(root, "subsets"), i), "trafficPolicy")
        _keepalive(as_map(subset).get("trafficPolicy"), add, where)


_RULES: dict[str, tuple[Callable[[dict[str, Any], Add, str], None], ...]] = {
    "AuthorizationPolicy": (_targets, _authorization),
    "RequestAuthentication": (_targets, _jwt_rules),
    "Telemetry": (_targets, _telemetry),
    "WasmPlugin": (_targets,),
    "TrafficExtension": (_targets,),
    "ServiceEntry": (_service_entry,),
    "WorkloadEntry": (lambda spec, add, root: _workload_entry(spec, add, root),),
    "PeerAuthentication": (_peer_authentication,),
    "DestinationRule": (_destination_rule,),
}


def twin_problems(kind: str, spec: Any, root: str = "spec") -> list[Problem]:
    """The webhook's wording of the rules above that `spec` breaks."""
    found: list[Problem] = []
    if not isinstance(spec, dict):
        return found
    for rule in _RULES.get(kind, ()):
        rule(spec, lambda path, message: found.append(Problem(path, message)), root)
    return found
