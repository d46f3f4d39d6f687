"""CUSTOM action: delegation to an external authorizer (Envoy `ext_authz`), as Istio builds it.

Per provider (MeshConfig `extensionProviders`, `envoyExtAuthzHttp` / `envoyExtAuthzGrpc`): an
RBAC filter whose `shadow_rules` hold the CUSTOM rules (prefix `istio_ext_authz_`, policy names
`istio-ext-authz-<provider>-ns[..]-policy[..]-rule[i]`), then an `ext_authz` filter enabled only
when that shadow evaluation matched (`filter_enabled_metadata`). So only requests a CUSTOM rule
selects are sent to the provider (dry-run CUSTOM policies are left out, with a warning).
Fail closed: a provider that is missing or invalid turns the
rules into a DENY (`...-deny-due-to-bad-CUSTOM-action`); an unreachable provider answers 403
(`failOpen: false`, Istio's default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from pilotfish.config.objects import AuthorizationPolicy, Diagnostic
from pilotfish.model.push_context import PushContext
from pilotfish.translate.authz import providers, rbac
from pilotfish.translate.authz.scope import is_dry_run

EXT_AUTHZ_PREFIX = "istio-ext-authz"
BAD_CUSTOM_SUFFIX = "-deny-due-to-bad-CUSTOM-action"
DRY_RUN_IGNORED = (
    "istio.io/dry-run on a CUSTOM policy: its rules are neither enforced nor sent to the provider"
)


@dataclass(frozen=True)
class CustomFilters:
    http: tuple[hcm_pb2.HttpFilter, ...] = ()
    network: tuple[lc_pb2.Filter, ...] = ()


def _provider(policy: AuthorizationPolicy) -> str:
    provider = policy.spec.provider
    return (provider.name or "") if provider is not None else ""


def custom_filters(
    policies: Sequence[AuthorizationPolicy],
    push: PushContext,
    http_notes: list[Diagnostic],
    tcp_notes: list[Diagnostic],
) -> CustomFilters:
    by_provider: dict[str, list[AuthorizationPolicy]] = {}
    for policy in policies:
        by_provider.setdefault(_provider(policy), []).append(policy)
    http: list[hcm_pb2.HttpFilter] = []
    network: list[lc_pb2.Filter] = []
    for name in sorted(by_provider):
        group = by_provider[name]
        prefix = f"{EXT_AUTHZ_PREFIX}-{name}-"
        found = providers.resolve(name, push)
        if isinstance(found, str):
            for policy in group:
                http_notes.append(
                    rbac.note(
                        policy, "spec.provider.name", f"CUSTOM action denies: {found}", "error"
                    )
                )
            for tcp in (False, True):
                notes = tcp_notes if tcp else http_notes
                rules, shadow = rbac.build_rbac(
                    group, rbac_pb2.RBAC.DENY, tcp=tcp, notes=notes, prefix=prefix
                )
                deny = _bad_custom(rules, shadow)
                if tcp:
                    network.append(rbac.network_rbac(deny, None))
                else:
                    http.append(rbac.http_rbac(deny, None))
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
        http.extend(providers.http_pair(found, push, rules, None))
        if found.grpc:
            rules, shadow = rbac.build_rbac(
                group, rbac_pb2.RBAC.DENY, tcp=True, notes=tcp_notes, prefix=prefix
            )
            network.extend(providers.network_pair(found, push, rules, None))
    return CustomFilters(tuple(http), tuple(network))


def _bad_custom(rules: rbac_pb2.RBAC | None, shadow: rbac_pb2.RBAC | None) -> rbac_pb2.RBAC:
    """Every CUSTOM rule of a provider that cannot be used becomes a DENY (dry-run ones too)."""
    deny = rbac_pb2.RBAC(action=rbac_pb2.RBAC.DENY)
    for source in (rules, shadow):
        for key, policy in (source.policies if source is not None else {}).items():
            deny.policies[key + BAD_CUSTOM_SUFFIX].CopyFrom(policy)
    return deny
