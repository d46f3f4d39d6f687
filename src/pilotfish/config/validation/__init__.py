"""Semantic validation with Istio's rules, per kind: `validate_spec(kind, spec)` → Problems.

Each module holds the checks of one kind; `common` holds the shared collector and checks.
Validators are pure and never raise for user mistakes. A kind's module is imported the first time
a document of that kind is validated (it imports that kind's models). Imports only the rest of
`config`: never model, registry, translate or the analyzers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pilotfish.config.schema import Problem

VALIDATORS: dict[str, str] = {
    "VirtualService": "virtual_service:validate_virtual_service",
    "DestinationRule": "destination_rule:validate_destination_rule",
    "Gateway": "gateway:validate_gateway",
    "ServiceEntry": "service_entry:validate_service_entry",
    "AuthorizationPolicy": "security:validate_authorization_policy",
    "PeerAuthentication": "security:validate_peer_authentication",
    "RequestAuthentication": "security:validate_request_authentication",
    "Sidecar": "sidecar:validate_sidecar",
    "EnvoyFilter": "envoy_filter:validate_envoy_filter",
    "ProxyConfig": "envoy_filter:validate_proxy_config",
}


_FOUND: dict[str, Callable[[Any], list[Problem]]] = {}  # `validator_for`, once per kind


def validator_for(kind: str) -> Callable[[Any], list[Problem]] | None:
    """The semantic validator of `kind` (imported on first use), or None."""
    found = _FOUND.get(kind)
    if found is not None:
        return found
    where = VALIDATORS.get(kind)
    if where is None:
        return None
    module, _, name = where.partition(":")
    made: Callable[[Any], list[Problem]] = getattr(
        importlib.import_module(f"{__name__}.{module}"), name
    )
    _FOUND[kind] = made
    return made


def validate_spec(kind: str, spec: Any) -> list[Problem]:
    """The kind's own checks, then the CRD's CEL rules where those found nothing at that path."""
    webhook, crd = split_spec_problems(kind, spec)
    return webhook + crd


def split_spec_problems(kind: str, spec: Any) -> tuple[list[Problem], list[Problem]]:
    """(the kind's own checks: Istio's webhook rules, the CRD's CEL rules where those found
    nothing at that path). istioctl analyze reports the first only (IST0106, IST0133)."""
    from pilotfish.config.validation.cel import cel_problems

    validator = validator_for(kind)
    problems = validator(spec) if validator is not None else []
    flagged = {p.path for p in problems if p.level == "error"}
    return problems, [p for p in cel_problems(spec) if p.path not in flagged]
