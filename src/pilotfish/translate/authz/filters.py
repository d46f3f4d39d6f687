"""The authorization filters one proxy gets, in Istio's order: CUSTOM, JWT, AUDIT, DENY, ALLOW.

Each action is its own RBAC filter (`envoy.filters.http.rbac` on HTTP chains,
`envoy.filters.network.rbac` with stat prefix `tcp.` on TCP chains), with one RBAC policy per
rule named `ns[<ns>]-policy[<name>]-rule[<i>]`. Dry-run policies go into `shadow_rules` (stat
prefix `istio_dry_run_allow_` / `istio_dry_run_deny_`): evaluated, counted and recorded in
dynamic metadata, never enforced. A denied request gets Envoy's `403 RBAC: access denied`; a
denied TCP connection is closed.

On TCP chains HTTP-only fields cannot be checked: a rule of an ALLOW policy that uses one is
dropped, a DENY rule loses the element (so it denies more) -- each reported as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from pilotfish.config.objects import Diagnostic
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate.authz import custom, jwt, rbac
from pilotfish.translate.authz.scope import applied_policies, applied_request_authentications

ACTIONS = {"DENY": rbac_pb2.RBAC.DENY, "ALLOW": rbac_pb2.RBAC.ALLOW, "AUDIT": rbac_pb2.RBAC.LOG}


@dataclass(frozen=True)
class AuthzFilters:
    """Filters for the proxy's inbound (or gateway) HTTP chains and its TCP chains."""

    http: tuple[hcm_pb2.HttpFilter, ...] = ()
    network: tuple[lc_pb2.Filter, ...] = ()
    http_notes: tuple[Diagnostic, ...] = ()
    tcp_notes: tuple[Diagnostic, ...] = ()  # fail-safe warnings: report when a TCP port exists


def claim_routing(push: PushContext) -> bool:
    """Some VirtualService matches on `@request.auth.claims.*` headers: the JWT filter must clear
    the route cache so routes are chosen again with the verified claims (Istio does the same)."""
    return any(
        str(name).startswith("@request.auth.claims")
        for vs in push.kind("VirtualService")
        for route in vs.spec.http or ()
        for match in route.match or ()
        for name in (match.headers or {})
    )


def authz_filters(proxy: Proxy, push: PushContext) -> AuthzFilters:
    """Every authorization filter of the proxy, for its HTTP chains and its TCP chains."""
    applied = applied_policies(proxy, push)
    http_notes: list[Diagnostic] = []
    tcp_notes: list[Diagnostic] = []
    http: list[hcm_pb2.HttpFilter] = []
    network: list[lc_pb2.Filter] = []
    if applied.custom:
        built = custom.custom_filters(applied.custom, push, http_notes, tcp_notes)
        http.extend(built.http)
        network.extend(built.network)
    authentication = jwt.jwt_filter(
        applied_request_authentications(proxy, push),
        push,
        http_notes,
        clear_route_cache=proxy.is_gateway and claim_routing(push),
    )
    if authentication is not None:
        http.append(authentication)
    for action in ("AUDIT", "DENY", "ALLOW"):
        policies = getattr(applied, action.lower())
        if not policies:
            continue
        rules, shadow = rbac.build_rbac(policies, ACTIONS[action], tcp=False, notes=http_notes)
        http.append(rbac.http_rbac(rules, shadow))
        rules, shadow = rbac.build_rbac(policies, ACTIONS[action], tcp=True, notes=tcp_notes)
        network.append(rbac.network_rbac(rules, shadow))
    return AuthzFilters(tuple(http), tuple(network), tuple(http_notes), tuple(tcp_notes))
