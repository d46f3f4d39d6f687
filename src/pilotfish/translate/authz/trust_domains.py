"""Trust domains in AuthorizationPolicy principals, as Istio rewrites them (`trustdomain.Bundle`).

The bundle is MeshConfig `trustDomain` followed by `trustDomainAliases`. A principal whose trust
domain is in the bundle (a `*` prefix in the bundle matches by suffix), or is `cluster.local`
(which stands for the local trust domain), is written once for every trust domain of the bundle:
a policy written for `old-td/ns/foo/sa/sleep` keeps matching `sleep` after the mesh moves to
`new-td` with `old-td` as an alias. A principal that starts with `*` does not enforce a trust
domain and stays as it is, as does one from a trust domain outside the bundle (it can only match
peers from there). Applies to `principals`, `notPrincipals` and `source.principal` conditions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pilotfish.config.objects import ConfigObject

LOCAL = "cluster.local"


def _matches(pattern: str, domain: str) -> bool:
    return domain.endswith(pattern[1:]) if pattern.startswith("*") else domain == pattern


def expand(principals: Sequence[str], bundle: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for principal in principals:
        domain, sep, rest = principal.partition("/ns/")
        if principal.startswith("*") or not sep or not domain:
            out.append(principal)
            continue
        if domain != LOCAL and not any(_matches(td, domain) for td in bundle):
            out.append(principal)
            continue
        for td in bundle:
            rewritten = principal if _matches(td, domain) else f"{td}/ns/{rest}"
            if rewritten not in out:
                out.append(rewritten)
    return tuple(dict.fromkeys(out))


def _rule(rule: Any, bundle: Sequence[str]) -> Any:
    sources = []
    for item in rule.from_ or ():
        source = item.source
        if source is not None and (source.principals or source.not_principals):
            source = source.model_copy(
                update={
                    "principals": expand(source.principals, bundle),
                    "not_principals": expand(source.not_principals, bundle),
                }
            )
            item = item.model_copy(update={"source": source})
        sources.append(item)
    conditions = []
    for condition in rule.when or ():
        if condition.key == "source.principal":
            condition = condition.model_copy(
                update={
                    "values": expand(condition.values or (), bundle),
                    "not_values": expand(condition.not_values or (), bundle),
                }
            )
        conditions.append(condition)
    return rule.model_copy(update={"from_": tuple(sources), "when": tuple(conditions)})


def with_bundle(
    policies: tuple[ConfigObject[Any], ...], bundle: Sequence[str]
) -> tuple[ConfigObject[Any], ...]:
    """The policies with every principal written for each trust domain of the bundle."""
    out = []
    for policy in policies:
        rules = policy.spec.rules
        if rules:
            spec = policy.spec.model_copy(update={"rules": tuple(_rule(r, bundle) for r in rules)})
            policy = dataclasses.replace(policy, spec=spec)
        out.append(policy)
    return tuple(out)
