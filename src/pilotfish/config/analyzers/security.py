"""Which labels a policy selects workloads by, and which PeerAuthentication is in force for a
workload: the most specific one with a mode other than UNSET (workload selector, then namespace,
then root namespace). Used by `authz` and `selectors`. (No analyzer reports IST0113,
MTLSPolicyConflict, any more: Istio retired the code, pkg/config/analysis/msg/messages.yaml.)
Pure: no I/O.
"""

from __future__ import annotations

from pilotfish.config.analyzers.messages import ROOT_NAMESPACE, selects
from pilotfish.config.models.selectors import SidecarWorkloadSelector, WorkloadSelector
from pilotfish.config.objects import PeerAuthentication


def selector_labels(spec: object) -> dict[str, str] | None:
    """The labels a policy selects workloads by, or None when it has no selector."""
    for attribute in ("selector", "workload_selector"):
        value = getattr(spec, attribute, None)  # a kind's selector field is one of the two
        if isinstance(value, WorkloadSelector):
            return dict(value.match_labels)
        if isinstance(value, SidecarWorkloadSelector):
            return dict(value.labels)
    return None


def _mtls_mode(pa: PeerAuthentication) -> str | None:
    """The mode a policy sets (a number naming no mode: as written, matching none of them)."""
    mode = pa.spec.mtls.mode if pa.spec.mtls is not None else None
    return str(mode) if mode is not None and mode != "UNSET" else None


def _policy_in_force(
    policies: list[PeerAuthentication], namespace: str, labels: dict[str, str] | None
) -> tuple[PeerAuthentication, str] | None:
    levels: list[list[PeerAuthentication]] = [
        [
            pa
            for pa in policies
            if pa.meta.namespace == namespace
            and (selector := selector_labels(pa.spec))
            and labels is not None
            and selects(selector, labels)
        ],
        [pa for pa in policies if pa.meta.namespace == namespace and not selector_labels(pa.spec)],
        [
            pa
            for pa in policies
            if pa.meta.namespace == ROOT_NAMESPACE and not selector_labels(pa.spec)
        ],
    ]
    for level in levels:
        for pa in sorted(level, key=lambda p: p.meta.name):
            mode = _mtls_mode(pa)
            if mode is not None:
                return pa, mode
    return None
