"""security.istio.io models: `PeerAuthenticationSpec`, `AuthorizationPolicySpec`,
`RequestAuthenticationSpec` and their messages (Istio's proto names). Imports nothing outside
`config.models`; a kind's module is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pilotfish.config.models.lazy import lazy_exports

if TYPE_CHECKING:
    from pilotfish.config.models.security.authorization_policy import (
        AuthorizationPolicySpec,
        Condition,
        ExtensionProvider,
        From,
        Operation,
        Rule,
        Source,
        To,
    )
    from pilotfish.config.models.security.peer_authentication import (
        MutualTLS,
        PeerAuthenticationSpec,
    )
    from pilotfish.config.models.security.request_authentication import (
        ClaimToHeader,
        JWTHeader,
        JWTRule,
        RequestAuthenticationSpec,
    )

_HOMES: dict[str, tuple[str, ...]] = {
    "authorization_policy": (
        "AuthorizationPolicySpec",
        "Condition",
        "ExtensionProvider",
        "From",
        "Operation",
        "Rule",
        "Source",
        "To",
    ),
    "peer_authentication": (
        "MutualTLS",
        "PeerAuthenticationSpec",
    ),
    "request_authentication": (
        "ClaimToHeader",
        "JWTHeader",
        "JWTRule",
        "RequestAuthenticationSpec",
    ),
}

__getattr__ = lazy_exports(__name__, _HOMES)

__all__ = [
    "AuthorizationPolicySpec",
    "ClaimToHeader",
    "Condition",
    "ExtensionProvider",
    "From",
    "JWTHeader",
    "JWTRule",
    "MutualTLS",
    "Operation",
    "PeerAuthenticationSpec",
    "RequestAuthenticationSpec",
    "Rule",
    "Source",
    "To",
]
