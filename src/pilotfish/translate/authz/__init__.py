"""AuthorizationPolicy and RequestAuthentication -> Envoy filters (Istio's authz/authn builders).

Owns: which policies apply to a proxy (`scope`), the rule model (`rules`: Istio's
`pilot/pkg/security/authz/model`, one `Policy` per rule, from the matchers of each attribute:
`attributes`), string/header/path matchers
(`matchers`), the RBAC and ext_authz filters in Istio's order CUSTOM -> DENY -> ALLOW
(`filters`), JWT (`jwt`), trust domain aliases in principals
(`trust_domains`). Called from the listener builders through one hook each
(`http_filters`, `network_filters`). Pure, like all of translate: imports only config, registry,
model and translate helpers; never grpc, xds, the agent, local, cli or kube.
"""

from pilotfish.translate.authz.filters import AuthzFilters, authz_filters, with_route_rbac

__all__ = ["AuthzFilters", "authz_filters", "with_route_rbac"]
