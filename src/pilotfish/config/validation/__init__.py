"""Semantic validation with Istio's rules, per kind: `validate_spec(kind, spec)` → Problems.

Each module holds the checks of one kind; `common` holds the shared collector and checks.
Validators are pure and never raise for user mistakes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pilotfish.config.schema import Problem
from pilotfish.config.validation.destination_rule import validate_destination_rule
from pilotfish.config.validation.gateway import validate_gateway
from pilotfish.config.validation.security import (
    validate_authorization_policy,
    validate_peer_authentication,
    validate_request_authentication,
)
from pilotfish.config.validation.service_entry import validate_service_entry
from pilotfish.config.validation.virtual_service import validate_virtual_service

VALIDATORS: dict[str, Callable[[Any], list[Problem]]] = {
    "VirtualService": validate_virtual_service,
    "DestinationRule": validate_destination_rule,
    "Gateway": validate_gateway,
    "ServiceEntry": validate_service_entry,
    "AuthorizationPolicy": validate_authorization_policy,
    "PeerAuthentication": validate_peer_authentication,
    "RequestAuthentication": validate_request_authentication,
}


def validate_spec(kind: str, spec: Any) -> list[Problem]:
    validator = VALIDATORS.get(kind)
    return validator(spec) if validator is not None else []
