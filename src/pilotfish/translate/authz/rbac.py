"""RBAC filters for the policies of one action: one Envoy `Policy` per rule.

Policy names are Istio's `ns[<ns>]-policy[<name>]-rule[<i>]` (CUSTOM adds a provider prefix). A
policy with no rules matches nothing. Dry-run policies (`istio.io/dry-run`) go into
`shadow_rules` with stat prefix `istio_dry_run_allow_` / `istio_dry_run_deny_`: evaluated,
counted (`rbac.istio_dry_run_*_shadow_allowed|denied`) and recorded in dynamic metadata, never
enforced; Istio's span tags read that metadata (`dry_run_trace_tags`). On TCP chains
(`envoy.filters.network.rbac`, stat prefix `tcp.`) the fail-safe of `rules` applies and is
reported: an ALLOW rule using HTTP-only fields is dropped, a DENY rule loses those fields (it
matches more).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as network_rbac_pb2
from envoy.type.metadata.v3 import metadata_pb2
from envoy.type.tracing.v3 import custom_tag_pb2

from pilotfish.config.objects import AuthorizationPolicy, ConfigObject, Diagnostic, Level
from pilotfish.translate.authz.attributes import Unsupported
from pilotfish.translate.authz.rules import MATCH_NEVER, InvalidRule, Views, rule_policy
from pilotfish.translate.authz.scope import is_dry_run
from pilotfish.translate.envoy_pb import pack

HTTP_RBAC = "envoy.filters.http.rbac"
NETWORK_RBAC = "envoy.filters.network.rbac"
TCP_STAT_PREFIX = "tcp."
# HTTP RBAC filters by action: distinct names, so routes can carry each one's rules
ACTION_FILTER = {
    "AUDIT": "pilotfish.authz.audit",
    "DENY": "pilotfish.authz.deny",
    "ALLOW": "pilotfish.authz.allow",
}
SpecT = TypeVar("SpecT")
SHADOW_PREFIX = {
    rbac_pb2.RBAC.ALLOW: "istio_dry_run_allow_",
    rbac_pb2.RBAC.DENY: "istio_dry_run_deny_",
}


def dry_run_trace_tags() -> list[custom_tag_pb2.CustomTag]:
    """Istio's span tags for dry-run policies (`istio.authorization.dry_run.{allow,deny}_policy.
    {name,result}`), read from the RBAC filters' dynamic metadata (Envoy writes it under
    `envoy.filters.http.rbac`, whatever the filter's name): absent when no dry-run policy ran."""
    tags = []
    for action, word in ((rbac_pb2.RBAC.ALLOW, "allow"), (rbac_pb2.RBAC.DENY, "deny")):
        for field, what in (
            ("shadow_effective_policy_id", "name"),
            ("shadow_engine_result", "result"),
        ):
            key = metadata_pb2.MetadataKey(
                key=HTTP_RBAC,
                path=[metadata_pb2.MetadataKey.PathSegment(key=SHADOW_PREFIX[action] + field)],
            )
            request = metadata_pb2.MetadataKind(request=metadata_pb2.MetadataKind.Request())
            tags.append(
                custom_tag_pb2.CustomTag(
                    tag=f"istio.authorization.dry_run.{word}_policy.{what}",
                    metadata=custom_tag_pb2.CustomTag.Metadata(kind=request, metadata_key=key),
                )
            )
    return tags


def policy_name(policy: ConfigObject[SpecT], index: int, prefix: str = "") -> str:
    return f"{prefix}ns[{policy.meta.namespace}]-policy[{policy.meta.name}]-rule[{index}]"


def note(policy: ConfigObject[SpecT], path: str, text: str, level: Level = "warning") -> Diagnostic:
    return policy.diagnostic(text, path, level)


def build_rbac(
    policies: Sequence[AuthorizationPolicy],
    action: rbac_pb2.RBAC.Action.ValueType,
    *,
    tcp: bool,
    notes: list[Diagnostic],
    prefix: str = "",
    path_view: bool = True,
) -> tuple[rbac_pb2.RBAC | None, rbac_pb2.RBAC | None]:
    """(enforced rules, dry-run rules) for policies of one action; None when there are none.
    With `path_view` (what proxies get), paths are also checked on the fully normalized path
    (`authz.path_view`): a DENY on either view, an ALLOW on both; without, as Istio does."""
    enforced = rbac_pb2.RBAC(action=action)
    shadow = rbac_pb2.RBAC(action=action)
    has_enforced = has_shadow = False
    strict = action == rbac_pb2.RBAC.ALLOW
    where = "TCP" if tcp else "HTTP"
    views: Views = "raw" if tcp or not path_view else ("both" if strict else "either")
    for policy in policies:
        target = shadow if is_dry_run(policy) else enforced
        if is_dry_run(policy):
            has_shadow = True
        else:
            has_enforced = True
        rules = policy.spec.rules or ()
        if not rules:
            target.policies[policy_name(policy, 0, prefix)].CopyFrom(MATCH_NEVER)
        for index, rule in enumerate(rules):
            name = policy_name(policy, index, prefix)
            path = f"spec.rules[{index}]"
            try:
                made = rule_policy(rule, policy.meta.namespace, tcp=tcp, strict=True, views=views)
                target.policies[name].CopyFrom(made)
                continue
            except InvalidRule as exc:
                notes.append(note(policy, path, f"rule skipped: {exc}"))
                continue
            except Unsupported:
                if strict:
                    notes.append(
                        note(
                            policy,
                            path,
                            f"rule ignored on {where} ports: it uses HTTP-only "
                            "fields or invalid values, so it allows nothing there",
                        )
                    )
                    continue
            target.policies[name].CopyFrom(
                rule_policy(rule, policy.meta.namespace, tcp=tcp, strict=False, views=views)
            )
            notes.append(
                note(
                    policy,
                    path,
                    f"rule widened on {where} ports: its HTTP-only fields or "
                    "invalid values are left out, so it matches more connections",
                )
            )
    return (enforced if has_enforced else None), (shadow if has_shadow else None)


def _http_config(rules: rbac_pb2.RBAC | None, shadow: rbac_pb2.RBAC | None) -> http_rbac_pb2.RBAC:
    config = http_rbac_pb2.RBAC()
    if rules is not None:
        config.rules.CopyFrom(rules)
    if shadow is not None:
        config.shadow_rules.CopyFrom(shadow)
        config.shadow_rules_stat_prefix = SHADOW_PREFIX.get(shadow.action, "")
    return config


def http_rbac(
    rules: rbac_pb2.RBAC | None,
    shadow: rbac_pb2.RBAC | None,
    name: str = HTTP_RBAC,
    shadow_prefix: str = "",
) -> hcm_pb2.HttpFilter:
    """An HTTP RBAC filter; `shadow_prefix` names the dry-run counters of rules that come later
    per route (Envoy takes stat prefixes from the filter, not from the route)."""
    config = _http_config(rules, shadow)
    if shadow_prefix:
        config.shadow_rules_stat_prefix = shadow_prefix
    return hcm_pb2.HttpFilter(name=name, typed_config=pack(config))


def per_route(
    rules: rbac_pb2.RBAC | None, shadow: rbac_pb2.RBAC | None
) -> http_rbac_pb2.RBACPerRoute:
    return http_rbac_pb2.RBACPerRoute(rbac=_http_config(rules, shadow))


def network_rbac(rules: rbac_pb2.RBAC | None, shadow: rbac_pb2.RBAC | None) -> lc_pb2.Filter:
    config = network_rbac_pb2.RBAC(stat_prefix=TCP_STAT_PREFIX)
    if rules is not None:
        config.rules.CopyFrom(rules)
    if shadow is not None:
        config.shadow_rules.CopyFrom(shadow)
        config.shadow_rules_stat_prefix = SHADOW_PREFIX.get(shadow.action, "")
    return lc_pb2.Filter(name=NETWORK_RBAC, typed_config=pack(config))
