"""Authorization analysis beyond Istio's AuthorizationPolicies analyzer (IST0127 and the IST0101
namespace check live in `selectors`, IST0149 JWT claim routing in `vs_rules`):

- PF0101 (Warning; istioctl has no code for it): an AuthorizationPolicy matches on peer identity
  (`principals`, `namespaces`, their `not*` forms, or `source.principal`/`source.namespace`
  conditions) for workloads whose PeerAuthentication in force is DISABLE: plaintext carries no
  identity, so an ALLOW rule never matches and a DENY rule with `not*` always does.
Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from pilotfish.config.analyzers.kube import Kube
from pilotfish.config.analyzers.messages import ROOT_NAMESPACE, AnalysisMessage, message_for
from pilotfish.config.analyzers.security import _policy_in_force
from pilotfish.config.objects import ConfigObject

IDENTITY_WITHOUT_MTLS = "PF0101"


def _selector(spec: Any) -> dict[str, str]:
    selector = getattr(spec, "selector", None)
    return dict(getattr(selector, "match_labels", {}) or {})


IDENTITY_KEYS = ("source.principal", "source.namespace")


def _uses_identity(policy: ConfigObject[Any]) -> bool:
    for rule in getattr(policy.spec, "rules", None) or ():
        for source in getattr(rule, "from_", None) or ():
            src = getattr(source, "source", None)
            for field in ("principals", "not_principals", "namespaces", "not_namespaces"):
                if getattr(src, field, None):
                    return True
        if any((c.key or "") in IDENTITY_KEYS for c in getattr(rule, "when", None) or ()):
            return True
    return False


def identity_without_mtls(
    policies: list[ConfigObject[Any]], peer_authentications: list[ConfigObject[Any]], kube: Kube
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


def authz_messages(
    by_kind: dict[str, list[ConfigObject[Any]]], kube: Kube
) -> list[AnalysisMessage]:
    """Every message of this module, for the analysis' objects by kind."""
    return identity_without_mtls(
        by_kind["AuthorizationPolicy"], by_kind["PeerAuthentication"], kube
    )
