"""The authorization part of `pilotfish describe pod`: which AuthorizationPolicies apply to the
pod (translation's own scoping, `translate.authz.scope`, so the answer is what Envoy is given),
in Istio's evaluation order CUSTOM, DENY, ALLOW, AUDIT, and istioctl's `RBAC policies:` line
naming the Envoy RBAC policies (one per rule, `ns[NS]-policy[NAME]-rule[I]`). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from pilotfish.config.objects import ConfigObject
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import WorkloadInstance
from pilotfish.translate.authz.providers import policy_prefix
from pilotfish.translate.authz.rbac import policy_name
from pilotfish.translate.authz.scope import applied_policies, is_dry_run

INDENT = " " * 3


def pod_proxy(pod: WorkloadInstance) -> Proxy:
    """The proxy translation builds the pod's config for (gateways are told by their labels)."""
    return Proxy(
        type=ProxyType.SIDECAR,
        ip=pod.address,
        instance=pod.name,
        namespace=pod.namespace,
        labels=pod.labels,
        workload=pod.workload,
        service_account=pod.service_account,
    )


def _describe(policy: ConfigObject[Any], action: str) -> str:
    rules = len(policy.spec.rules or ())
    facts = [
        f"{rules} rule" + ("" if rules == 1 else "s") if rules else "no rules: matches nothing"
    ]
    if action == "CUSTOM":
        provider = policy.spec.provider.name if policy.spec.provider is not None else ""
        facts.insert(0, f"provider {provider or '<none>'}")
    if is_dry_run(policy):
        facts.append("dry-run: not enforced")
    name = f"{policy.meta.name}.{policy.meta.namespace}"
    return f"{INDENT}{action:<7}{name} ({', '.join(facts)})"


def _rule_names(policy: ConfigObject[Any], action: str) -> list[str]:
    prefix = ""
    if action == "CUSTOM":
        provider = policy.spec.provider.name if policy.spec.provider is not None else ""
        prefix = policy_prefix(provider or "")
    count = max(1, len(policy.spec.rules or ()))
    return [policy_name(policy, index, prefix) for index in range(count)]


def authz_lines(pod: WorkloadInstance, push: PushContext) -> list[str]:
    applied = applied_policies(pod_proxy(pod), push)
    if not applied:
        return ["AuthorizationPolicy: none applies to this pod (every request is allowed)"]
    lines = ["Applied AuthorizationPolicy:"]
    names: list[str] = []
    for action in ("CUSTOM", "DENY", "ALLOW", "AUDIT"):
        for policy in getattr(applied, action.lower()):
            lines.append(_describe(policy, action))
            names += _rule_names(policy, action)
    if not applied.allow:
        lines.append(f"{INDENT}no ALLOW policy: requests no DENY/CUSTOM rule stops are allowed")
    else:
        lines.append(f"{INDENT}ALLOW policies apply: a request no ALLOW rule matches is denied")
    lines.append(f"RBAC policies: {', '.join(names)}")
    return lines
