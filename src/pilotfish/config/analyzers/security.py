"""IST0113 (MTLSPolicyConflict, Error): a DestinationRule whose `trafficPolicy.tls.mode` says
mTLS (ISTIO_MUTUAL) or not (DISABLE, SIMPLE, MUTUAL) while the PeerAuthentication in force for
the host's workloads says DISABLE or STRICT respectively. The PeerAuthentication in force is the
most specific one with a mode other than UNSET: workload selector, then namespace, then root
namespace. (Who a policy selects, IST0127 and friends: `selectors`.) Pure: no I/O.
"""

from __future__ import annotations

from pilotfish.config.analyzers.inventory import Inventory, KnownWorkload
from pilotfish.config.analyzers.messages import (
    ROOT_NAMESPACE,
    AnalysisMessage,
    fqdn,
    message_for,
    selects,
)
from pilotfish.config.models.selectors import SidecarWorkloadSelector, WorkloadSelector
from pilotfish.config.objects import DestinationRule, PeerAuthentication


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
    mode = pa.spec.mtls.mode if pa.spec.mtls is not None else None
    return mode if mode is not None and mode != "UNSET" else None


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


def mtls_conflicts(
    rule: DestinationRule, policies: list[PeerAuthentication], inventory: Inventory
) -> list[AnalysisMessage]:
    policy = rule.spec.traffic_policy
    mode = policy.tls.mode if policy is not None and policy.tls is not None else None
    host = rule.spec.host
    if mode is None or host is None:
        return []
    wants_mtls = mode == "ISTIO_MUTUAL"
    target = fqdn(host, rule.meta.namespace)
    out: list[AnalysisMessage] = []
    reported: set[tuple[str, str]] = set()
    for service in inventory.services_for_host(target):
        workloads: list[KnownWorkload | None] = list(inventory.workloads_of(service)) or [None]
        for workload in workloads:
            labels = workload.label_map if workload is not None else None
            found = _policy_in_force(policies, service.namespace, labels)
            if found is None:
                continue
            pa, pa_mode = found
            conflict = (wants_mtls and pa_mode == "DISABLE") or (
                not wants_mtls and pa_mode == "STRICT"
            )
            key = (pa.meta.namespace, pa.meta.name)
            if not conflict or key in reported:
                continue
            reported.add(key)
            text = (
                f"A DestinationRule and Policy are in conflict with regards to mTLS for host "
                f'{target}. The DestinationRule "{rule.meta.namespace}/{rule.meta.name}" '
                f"specifies that mTLS must be {str(wants_mtls).lower()} but the Policy object "
                f'"{pa.meta.namespace}/{pa.meta.name}" specifies {pa_mode}.'
            )
            out.append(message_for(rule, "Error", "IST0113", text))
    return out
