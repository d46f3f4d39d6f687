"""The authorization filters one proxy gets, in Istio's order: CUSTOM, JWT, AUDIT, DENY, ALLOW.
(The DENY rules of a CUSTOM policy whose provider is unusable are enforced with the DENY rules.)
Before them all, the filter that writes the fully normalized path (`path_view`), turned off on the
routes of proxies whose policies do not match on paths; the others' routes drop its header
before forwarding.

Each action is its own RBAC filter (`pilotfish.authz.audit|deny|allow` on HTTP chains,
`envoy.filters.network.rbac` with stat prefix `tcp.` on TCP chains), with one RBAC policy per
rule named `ns[<ns>]-policy[<name>]-rule[<i>]`. On HTTP the filters are always present and empty;
their rules are per-route config on every virtual host of the inbound/gateway route
configurations (`with_route_rbac`), delivered by RDS: a policy change never drains a listener, so
kept-alive connections cannot go on with the old policy. TCP rules live in the listener (a new
rule applies to new connections, as in Istio); CUSTOM and JWT stay in the listener too.
Dry-run policies go into `shadow_rules` (stat prefix `istio_dry_run_allow_` /
`istio_dry_run_deny_`): evaluated, counted and recorded in dynamic metadata, never enforced.
A denied request gets Envoy's `403 RBAC: access denied`; a denied TCP connection is closed.

On TCP chains HTTP-only fields cannot be checked: a rule of an ALLOW policy that uses one is
dropped, a DENY rule loses the element (so it denies more) -- each reported as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf.message import Message

from pilotfish.config.objects import Diagnostic, RequestAuthentication
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate.authz import custom, jwt, path_view, rbac
from pilotfish.translate.authz.scope import (
    Applied,
    applied_policies,
    applied_request_authentications,
)
from pilotfish.translate.authz.trust_domains import with_bundle
from pilotfish.translate.envoy_pb import pack

ACTIONS = {"DENY": rbac_pb2.RBAC.DENY, "ALLOW": rbac_pb2.RBAC.ALLOW, "AUDIT": rbac_pb2.RBAC.LOG}


@dataclass(frozen=True)
class AuthzFilters:
    """Filters for the proxy's inbound (or gateway) HTTP chains and its TCP chains."""

    http: tuple[hcm_pb2.HttpFilter, ...] = ()
    network: tuple[lc_pb2.Filter, ...] = ()
    http_notes: tuple[Diagnostic, ...] = ()
    tcp_notes: tuple[Diagnostic, ...] = ()  # fail-safe warnings: report when a TCP port exists
    per_route: dict[str, Message] = field(default_factory=dict)  # filter name -> its config


def claim_routing(push: PushContext) -> bool:
    """Some VirtualService matches on `@request.auth.claims.*` headers: the JWT filter must clear
    the route cache so routes are chosen again with the verified claims (Istio does the same)."""
    return any(
        str(name).startswith("@request.auth.claims")
        for vs in push.kind("VirtualService")
        for route in vs.spec.http or ()
        for match in route.match or ()
        for name in [*(match.headers or {}), *(match.without_headers or {})]
    )


def authz_filters(proxy: Proxy, push: PushContext) -> AuthzFilters:
    """Every authorization filter of the proxy, for its HTTP chains and its TCP chains: built
    once per push context for every proxy the same policies and request authentications
    apply to, in the same order (all they are made of but `push` and whether the proxy is a
    gateway), one object for all (shared: never mutate it or its messages)."""
    found = applied_policies(proxy, push)
    authentications = applied_request_authentications(proxy, push)
    ids = (tuple(map(id, found.all)), tuple(map(id, authentications)))
    key = ("pilotfish.translate.authz.filters", proxy.is_gateway, *ids)
    known: tuple[tuple[object, ...], AuthzFilters] | None = push.memo.get(key)
    held = (*found.all, *authentications)  # kept with it: the ids are theirs
    if (
        known is None
        or len(known[0]) != len(held)
        or any(a is not b for a, b in zip(known[0], held, strict=True))
    ):
        known = push.memo[key] = (held, _built(proxy.is_gateway, found, authentications, push))
    return known[1]


def _built(
    gateway: bool,
    found: Applied,
    authentications: list[RequestAuthentication],
    push: PushContext,
) -> AuthzFilters:
    bundle = (push.mesh.trust_domain, *push.mesh.trust_domain_aliases)
    applied = Applied(
        custom=with_bundle(found.custom, bundle),
        deny=with_bundle(found.deny, bundle),
        allow=with_bundle(found.allow, bundle),
        audit=with_bundle(found.audit, bundle),
        all=found.all,
    )
    http_notes: list[Diagnostic] = []
    tcp_notes: list[Diagnostic] = []
    http: list[hcm_pb2.HttpFilter] = [path_view.http_filter()]
    network: list[lc_pb2.Filter] = []
    built = custom.custom_filters(applied.custom, push, http_notes, tcp_notes)
    http.extend(built.http)
    network.extend(built.network)
    authentication = jwt.jwt_filter(
        authentications, push, http_notes, clear_route_cache=gateway and claim_routing(push)
    )
    if authentication is not None:
        http.append(authentication)
    per_route: dict[str, Message] = dict(built.per_route)
    if not path_view.uses_paths(found.all):
        per_route[path_view.FILTER] = path_view.turned_off()
    for action in ("AUDIT", "DENY", "ALLOW"):
        # The HTTP filter is always there with no rules; the rules ride on the routes (RDS), so
        # a policy change never replaces the listener: open connections see it on their next
        # request, and a DENY acknowledged by Envoy applies to every request after it.
        prefix = rbac.SHADOW_PREFIX.get(ACTIONS[action], "")
        http.append(rbac.http_rbac(None, None, rbac.ACTION_FILTER[action], prefix))
        policies = getattr(applied, action.lower())
        bad_custom = built.http_deny if action == "DENY" else None
        if not policies and bad_custom is None:
            continue
        rules, shadow = rbac.build_rbac(policies, ACTIONS[action], tcp=False, notes=http_notes)
        if bad_custom is not None:
            rules = _merged(bad_custom, rules)
        per_route[rbac.ACTION_FILTER[action]] = rbac.per_route(rules, shadow)
        if not policies:
            continue
        rules, shadow = rbac.build_rbac(policies, ACTIONS[action], tcp=True, notes=tcp_notes)
        network.append(rbac.network_rbac(rules, shadow))
    return AuthzFilters(tuple(http), tuple(network), tuple(http_notes), tuple(tcp_notes), per_route)


def _merged(first: rbac_pb2.RBAC, then: rbac_pb2.RBAC | None) -> rbac_pb2.RBAC:
    merged = rbac_pb2.RBAC()
    merged.CopyFrom(first)
    for key, policy in (then.policies if then is not None else {}).items():
        merged.policies[key].CopyFrom(policy)
    return merged


def with_route_rbac(
    config: route_pb2.RouteConfiguration, per_route: dict[str, Message]
) -> route_pb2.RouteConfiguration:
    """A copy of `config` whose every virtual host carries the proxy's RBAC rules (and, with the
    path view on, removes its internal header before forwarding)."""
    if not per_route:
        return config
    found = route_pb2.RouteConfiguration()
    found.CopyFrom(config)
    for vhost in found.virtual_hosts:
        for name, rules in sorted(per_route.items()):
            vhost.typed_per_filter_config[name].CopyFrom(pack(rules))
        if path_view.is_on(per_route):
            vhost.request_headers_to_remove.append(path_view.HEADER)
    return found
