"""Istio's deprecation FieldAnalyzer: IST0002 for a VirtualService's `fault.delay.percent`
(replaced by `percentage`), a Sidecar's `outboundTrafficPolicy.egressProxy` (ignored), and the
CustomResourceDefinitions of the removed rbac.istio.io kinds. Pure.
"""

from __future__ import annotations

from pilotfish.config.analyzers.documents import as_list, as_map, doc_message, documents, spec_of
from pilotfish.config.analyzers.messages import AnalysisMessage, message_for
from pilotfish.config.load import LoadResult
from pilotfish.config.objects import AnyConfig, Sidecar, VirtualService

REMOVED_KINDS = (
    ("rbac.istio.io", "ClusterRbacConfig"),
    ("rbac.istio.io", "RbacConfig"),
    ("rbac.istio.io", "ServiceRole"),
    ("rbac.istio.io", "ServiceRoleBinding"),
)


def deprecated(obj: AnyConfig, detail: str, path: str = "") -> AnalysisMessage:
    return message_for(obj, "Warning", "IST0002", f"Deprecated: {detail}", path)


def deprecated_fields(
    virtual_services: list[VirtualService], sidecars: list[Sidecar]
) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []
    for vs in virtual_services:
        for index, route in enumerate(as_list(spec_of(vs).get("http"))):
            delay = as_map(as_map(as_map(route).get("fault")).get("delay"))
            percent = delay.get("percent")
            if isinstance(percent, int | float) and not isinstance(percent, bool) and percent > 0:
                detail = (
                    "HTTPRoute.fault.delay.percent is deprecated; "
                    "use HTTPRoute.fault.delay.percentage"
                )
                out.append(deprecated(vs, detail, f"spec.http[{index}].fault.delay.percent"))
    for sidecar in sidecars:
        policy = as_map(spec_of(sidecar).get("outboundTrafficPolicy"))
        if policy.get("egressProxy") is not None:
            path = "spec.outboundTrafficPolicy.egressProxy"
            out.append(deprecated(sidecar, "OutboundTrafficPolicy.EgressProxy ignored", path))
    return out


def removed_kinds(result: LoadResult) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []
    for crd in documents(result, "CustomResourceDefinition", "apiextensions.k8s.io"):
        spec = as_map(crd.data.get("spec"))
        group, kind = spec.get("group"), as_map(spec.get("names")).get("kind")
        if (group, kind) in REMOVED_KINDS:
            text = f"Deprecated: Custom resource type {group} {kind} is removed"
            out.append(doc_message(crd, "Warning", "IST0002", text))
    return out
