"""CUSTOM action: delegation to an external authorizer (Envoy `ext_authz`), as Istio builds it.

Per ext_authz provider of MeshConfig `extensionProviders` (`envoyExtAuthzHttp` /
`envoyExtAuthzGrpc`), every inbound and gateway HTTP chain has a pair of filters: an RBAC filter
(`pilotfish.authz.custom.<provider>`) whose `shadow_rules` only mark requests, then an
`ext_authz` filter enabled only when that shadow evaluation matched (`filter_enabled_metadata`).
The CUSTOM rules themselves (Istio's names, prefix `istio-ext-authz-<provider>-`) ride on the
routes as per-route config, like the other actions' rules: a CUSTOM policy applied or deleted
changes no listener, so a kept-alive connection cannot keep the old policy. Only requests a CUSTOM
rule selects are sent to the provider; dry-run CUSTOM policies are left out, with a warning.
Fail closed: a provider that is missing or unusable turns its rules into DENY rules
(`...-deny-due-to-bad-CUSTOM-action`, enforced with the DENY action's rules, as Istio denies
every matching request). A usable provider's rules are also DENY rules for a request that no
marking filter marked (`...-deny-unless-marked-for-CUSTOM`): a chain without the providers'
filters (a connection kept alive from before a provider was declared keeps its old chain until
its listener's drain ends) fails closed rather than open; where the pair runs, a request its
rules select is marked and the guard never matches. An unreachable provider answers 403
(`failOpen: false`, Istio's default) or `statusOnError`. TCP chains of proxies with CUSTOM
policies get the gRPC provider's network `ext_authz` in the listener (TCP rules live there, as
in Istio).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from pilotfish.config.mesh_security import ExtAuthzProvider
from pilotfish.config.objects import AuthorizationPolicy, Diagnostic
from pilotfish.model.push_context import PushContext
from pilotfish.translate.authz import providers, rbac
from pilotfish.translate.authz.scope import is_dry_run

BAD_CUSTOM_SUFFIX = "-deny-due-to-bad-CUSTOM-action"
UNMARKED_SUFFIX = "-deny-unless-marked-for-CUSTOM"
DRY_RUN_IGNORED = (
    "istio.io/dry-run on a CUSTOM policy: its rules are neither enforced nor sent to the provider"
)


@dataclass(frozen=True)
class CustomFilters:
    """The provider filters, the CUSTOM rules per route, and the DENY rules of bad providers."""

    http: tuple[hcm_pb2.HttpFilter, ...] = ()
    network: tuple[lc_pb2.Filter, ...] = ()
    per_route: dict[str, http_rbac_pb2.RBACPerRoute] = field(default_factory=dict)
    http_deny: rbac_pb2.RBAC | None = None


def usable_providers(push: PushContext) -> list[ExtAuthzProvider]:
    """The mesh's ext_authz providers CUSTOM policies can use, by name."""
    found = {p.name: p for p in push.mesh.extension_providers}
    return [
        provider
        for name in sorted(found)
        if isinstance(provider := providers.resolve(name, push), ExtAuthzProvider)
    ]


def _provider(policy: AuthorizationPolicy) -> str:
    provider = policy.spec.provider
    return (provider.name or "") if provider is not None else ""


def custom_filters(
    policies: Sequence[AuthorizationPolicy],
    push: PushContext,
    http_notes: list[Diagnostic],
    tcp_notes: list[Diagnostic],
) -> CustomFilters:
    http: list[hcm_pb2.HttpFilter] = []
    for provider in usable_providers(push):
        http.extend(providers.http_pair(provider, push))
    by_provider: dict[str, list[AuthorizationPolicy]] = {}
    for policy in policies:
        by_provider.setdefault(_provider(policy), []).append(policy)
    network: list[lc_pb2.Filter] = []
    per_route: dict[str, http_rbac_pb2.RBACPerRoute] = {}
    http_deny: rbac_pb2.RBAC | None = None
    for name in sorted(by_provider):
        group = by_provider[name]
        prefix = providers.policy_prefix(name)
        found = providers.resolve(name, push)
        if isinstance(found, str):
            for policy in group:
                http_notes.append(
                    rbac.note(
                        policy, "spec.provider.name", f"CUSTOM action denies: {found}", "error"
                    )
                )
            rules, shadow = rbac.build_rbac(
                group, rbac_pb2.RBAC.DENY, tcp=False, notes=http_notes, prefix=prefix
            )
            http_deny = _bad_custom(http_deny, rules, shadow)
            rules, shadow = rbac.build_rbac(
                group, rbac_pb2.RBAC.DENY, tcp=True, notes=tcp_notes, prefix=prefix
            )
            network.append(rbac.network_rbac(_bad_custom(None, rules, shadow), None))
            continue
        rules, shadow = rbac.build_rbac(
            group, rbac_pb2.RBAC.DENY, tcp=False, notes=http_notes, prefix=prefix
        )
        if shadow is not None:
            http_notes.extend(
                rbac.note(p, "metadata.annotations", DRY_RUN_IGNORED)
                for p in group
                if is_dry_run(p)
            )
        if rules is not None:
            per_route[providers.rbac_filter_name(name)] = providers.marking_rules(rules)
            http_deny = _unless_marked(http_deny, rules)
        if found.grpc:
            rules, _ = rbac.build_rbac(
                group, rbac_pb2.RBAC.DENY, tcp=True, notes=tcp_notes, prefix=prefix
            )
            if rules is not None:
                network.extend(providers.network_pair(found, push, rules))
    return CustomFilters(tuple(http), tuple(network), per_route, http_deny)


def _unless_marked(into: rbac_pb2.RBAC | None, rules: rbac_pb2.RBAC) -> rbac_pb2.RBAC:
    """Each CUSTOM rule, as a DENY of the requests it selects that carry no provider's mark."""
    deny = into if into is not None else rbac_pb2.RBAC(action=rbac_pb2.RBAC.DENY)
    unmarked = rbac_pb2.Principal(not_id=rbac_pb2.Principal(metadata=providers.any_mark()))
    for key, policy in rules.policies.items():
        guard = deny.policies[key + UNMARKED_SUFFIX]
        guard.CopyFrom(policy)
        del guard.principals[:]
        both = guard.principals.add().and_ids.ids
        both.add().or_ids.ids.extend(policy.principals)
        both.add().CopyFrom(unmarked)
    return deny


def _bad_custom(
    into: rbac_pb2.RBAC | None, rules: rbac_pb2.RBAC | None, shadow: rbac_pb2.RBAC | None
) -> rbac_pb2.RBAC:
    """Every CUSTOM rule of a provider that cannot be used becomes a DENY (dry-run ones too)."""
    deny = into if into is not None else rbac_pb2.RBAC(action=rbac_pb2.RBAC.DENY)
    for source in (rules, shadow):
        for key, policy in (source.policies if source is not None else {}).items():
            deny.policies[key + BAD_CUSTOM_SUFFIX].CopyFrom(policy)
    return deny
