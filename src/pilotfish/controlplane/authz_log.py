"""The control plane's `authorization` logging scope (istiod's own, "Istio Authorization
Policy", which Istio's pages turn on with `istioctl admin log --level authorization:debug`).

At debug, each time a proxy's listeners are translated (it connected, or a change reached it),
the AuthorizationPolicies that apply to it, in Istio's evaluation order (CUSTOM, DENY, ALLOW,
AUDIT), each with the names of the RBAC policies its rules become
(`ns[default]-policy[productpage-viewer]-rule[0]`: what the proxy's config dump and the
`rbac` stats name), in the shape of istiod's record (`Processed authorization policy with
details:`, then one `* ` line per fact), naming the proxy (`productpage-v1-0.default`), which
istiod's record leaves to its context. Dry-run policies say so; a policy with no rules
matches nothing (an ALLOW of that kind denies every request). Nothing is computed unless the
scope is at debug. Reads the push context; writes only the log.
"""

from __future__ import annotations

import logging

from pilotfish.config.objects import AuthorizationPolicy
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate.authz.rbac import policy_name
from pilotfish.translate.authz.scope import applied_policies, is_dry_run

LOGGER = "pilotfish.authorization"
log = logging.getLogger(LOGGER)


def log_applied(proxy: Proxy, push: PushContext) -> None:
    """Log, at debug, which AuthorizationPolicies apply to `proxy` in `push`."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    applied = applied_policies(proxy, push)
    if not applied:
        log.debug(
            "Processed authorization policy for %s: no AuthorizationPolicy applies",
            proxy.pod_name,
        )
        return
    details = [
        _said(action, policy)
        for action, policies in (
            ("CUSTOM", applied.custom),
            ("DENY", applied.deny),
            ("ALLOW", applied.allow),
            ("AUDIT", applied.audit),
        )
        for policy in policies
    ]
    log.debug(
        "Processed authorization policy for %s with details:\n\t* %s",
        proxy.pod_name,
        "\n\t* ".join(details),
    )


def _said(action: str, policy: AuthorizationPolicy) -> str:
    meta, spec = policy.meta, policy.spec
    what = f"{action} policy {meta.namespace}/{meta.name}"
    if action == "CUSTOM" and spec.provider is not None:
        what += f" (provider {spec.provider.name})"
    if is_dry_run(policy):
        what += " (dry-run: evaluated, not enforced)"
    rules = spec.rules or ()
    if not rules:
        return f"{what}: {policy_name(policy, 0)} matches nothing (no rules)"
    return f"{what}: " + ", ".join(policy_name(policy, i) for i in range(len(rules)))
