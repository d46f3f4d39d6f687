"""security.istio.io models: `PeerAuthenticationSpec`, `AuthorizationPolicySpec`,
`RequestAuthenticationSpec` and their messages (Istio's proto names).
"""

from __future__ import annotations

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
