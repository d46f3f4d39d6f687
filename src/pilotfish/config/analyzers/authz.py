"""Authorization analysis beyond Istio's AuthorizationPolicies analyzer (IST0127 and the IST0101
namespace check live in `selectors`, IST0149 JWT claim routing in `vs_rules`):

- PF0101 (Warning; istioctl has no code for it): an AuthorizationPolicy matches on peer identity
  (`principals`, `namespaces`, their `not*` forms, or `source.principal`/`source.namespace`
  conditions) for workloads whose PeerAuthentication in force is DISABLE: plaintext carries no
  identity, so an ALLOW rule never matches and a DENY rule with `not*` always does.
Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pilotfish.config.analyzers.kube import Kube
from pilotfish.config.analyzers.messages import ROOT_NAMESPACE, AnalysisMessage, message_for
from pilotfish.config.analyzers.security import _policy_in_force
from pilotfish.config.objects import AuthorizationPolicy, PeerAuthentication

if TYPE_CHECKING:
    from pilotfish.config.models.security import AuthorizationPolicySpec

IDENTITY_WITHOUT_MTLS = "PF0101"


def _selector(spec: AuthorizationPolicySpec) -> dict[str, str]:
    return dict(spec.selector.match_labels) if spec.selector is not None else {}


IDENTITY_KEYS = ("source.principal", "source.namespace")


def _uses_identity(policy: AuthorizationPolicy) -> bool:
    for rule in policy.spec.rules:
        for source in (f.source for f in rule.from_ if f.source is not None):
            if source.principals or source.not_principals:
                return True
            if source.namespaces or source.not_namespaces:
                return True
        if any((c.key or "") in IDENTITY_KEYS for c in rule.when):
            return True
    return False


def identity_without_mtls(
    policies: list[AuthorizationPolicy],
    peer_authentications: list[PeerAuthentication],
    kube: Kube,
) -> list[AnalysisMessage]:
    """PF0101 once per policy that names peer identities for a workload without mTLS."""
    out: list[AnalysisMessage] = []
    for policy in policies:
        spec = policy.spec
        if not _uses_identity(policy) or spec.target_refs or spec.target_ref is not None:
            continue
        namespace = None if policy.meta.namespace == ROOT_NAMESPACE else policy.meta.namespace
        for pod in kube.pods_selected(_selector(policy.spec), namespace):
            found = _policy_in_force(peer_authentications, pod.namespace, pod.labels)
            if found is not None and found[1] == "DISABLE":
                pa = found[0]
                text = (
                    f"The policy matches on peer identity (principals, namespaces) but the "
                    f'PeerAuthentication "{pa.meta.namespace}/{pa.meta.name}" disables mTLS for '
                    f"pod {pod.name}: plaintext requests carry no identity, so ALLOW rules on it "
                    "never match and DENY rules with not* forms always do."
                )
                out.append(message_for(policy, "Warning", IDENTITY_WITHOUT_MTLS, text))
                break
    return out
