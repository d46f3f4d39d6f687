"""Istio's semantic checks of security.istio.io kinds: AuthorizationPolicy (actions, provider,
rules, conditions), PeerAuthentication (`portLevelMtls` needs a selector; port keys) and
RequestAuthentication (JWT rules: issuer, jwks vs jwksUri, headers)."""

from __future__ import annotations

from urllib.parse import urlparse

from pilotfish.config.models.security import (
    AuthorizationPolicySpec,
    PeerAuthenticationSpec,
    RequestAuthenticationSpec,
)
from pilotfish.config.schema import Problem
from pilotfish.config.validation.common import Findings


def validate_authorization_policy(spec: AuthorizationPolicySpec) -> list[Problem]:
    found = Findings()
    action = spec.action or "ALLOW"
    if action == "CUSTOM" and (spec.provider is None or not spec.provider.name):
        found.error("spec.provider", "provider must be specified for CUSTOM action")
    if action != "CUSTOM" and spec.provider is not None:
        found.error("spec.provider", f"provider must not be set for {action} action")
    if action in ("DENY", "CUSTOM") and not spec.rules:
        found.error("spec.rules", f"{action} action requires at least one rule")
    targets = [spec.selector, spec.target_ref, spec.target_refs or None]
    if sum(t is not None for t in targets) > 1:
        found.error("spec", "only one of selector, targetRef and targetRefs may be set")
    if spec.selector is not None:
        found.labels("spec.selector.matchLabels", spec.selector.match_labels)
    for index, rule in enumerate(spec.rules):
        path = f"spec.rules[{index}]"
        for f_index, source in enumerate(rule.from_):
            if source.source is None:
                found.error(f"{path}.from[{f_index}].source", "source must not be empty")
        for t_index, target in enumerate(rule.to):
            if target.operation is None:
                found.error(f"{path}.to[{t_index}].operation", "operation must not be empty")
            else:
                for p_index, port in enumerate(target.operation.ports):
                    if not port.isdigit() or not 0 < int(port) <= 65535:
                        found.error(
                            f"{path}.to[{t_index}].operation.ports[{p_index}]",
                            f'invalid port "{port}"',
                        )
        for c_index, condition in enumerate(rule.when):
            c_path = f"{path}.when[{c_index}]"
            if not condition.key:
                found.error(f"{c_path}.key", "condition key is required")
            if not condition.values and not condition.not_values:
                found.error(c_path, "condition must have values or notValues")
    return found.problems


def validate_peer_authentication(spec: PeerAuthenticationSpec) -> list[Problem]:
    found = Findings()
    has_selector = spec.selector is not None and bool(spec.selector.match_labels)
    if spec.port_level_mtls and not has_selector:
        found.error("spec.portLevelMtls", "portLevelMtls requires a workload selector")
    for key in spec.port_level_mtls:
        if not key.isdigit() or not 0 < int(key) <= 65535:
            found.error(f"spec.portLevelMtls.{key}", f'port "{key}" is out of range 1-65535')
    if spec.selector is not None:
        found.labels("spec.selector.matchLabels", spec.selector.match_labels)
    return found.problems


def validate_request_authentication(spec: RequestAuthenticationSpec) -> list[Problem]:
    found = Findings()
    for index, rule in enumerate(spec.jwt_rules):
        path = f"spec.jwtRules[{index}]"
        if not rule.issuer and not rule.jwks_uri:  # several rules may share an issuer
            found.error(f"{path}.issuer", "issuer or jwksUri must be non-empty string")
        if rule.jwks and rule.jwks_uri:
            found.error(path, "only one of jwks and jwksUri may be set")
        if rule.jwks_uri:
            found.add(f"{path}.jwksUri", _jwks_uri_problem(rule.jwks_uri))
        for h_index, header in enumerate(rule.from_headers):
            if not header.name:
                found.error(f"{path}.fromHeaders[{h_index}].name", "header name must be set")
        found.duration(f"{path}.timeout", rule.timeout)
    return found.problems


def _jwks_uri_problem(uri: str) -> str | None:
    """Istio's ParseJwksURI: an http or https URL whose port, if any, is a number."""
    url = urlparse(uri)
    if url.scheme not in ("http", "https") or not url.hostname:
        return f'invalid jwksUri "{uri}"'
    try:
        url.port  # noqa: B018  (urlparse raises on a port that is not a number)
    except ValueError:
        return f'invalid jwksUri "{uri}": the port is not a number'
    return None
