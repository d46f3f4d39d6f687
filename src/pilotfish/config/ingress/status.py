"""The status Istio's ingress status syncer writes on the Ingresses it serves:
`status.loadBalancer.ingress` with the address of the mesh's ingress gateway (the running,
ready pods in istio-system that the converted Gateway selects), so `get ingress` shows ADDRESS
as kubectl does. An Ingress Istio does not serve keeps the status it has."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pilotfish.config.ingress.convert import (
    INGRESS_NAMESPACE,
    mesh_ingress_settings,
    selector,
    served,
)
from pilotfish.config.kinds import is_ingress_doc

if TYPE_CHECKING:
    from pilotfish.config.gateway_api.status import Pod


def with_ingress_status(docs: list[dict[str, Any]], pods: list[Pod]) -> list[dict[str, Any]]:
    """`docs` with each served Ingress given its load balancer status (copies; none mutated)."""
    if not any(is_ingress_doc(d, "Ingress") for d in docs):
        return docs
    mesh = mesh_ingress_settings(docs)
    classes = {
        str((d.get("metadata") or {}).get("name")): str((d.get("spec") or {}).get("controller"))
        for d in docs
        if is_ingress_doc(d, "IngressClass")
    }
    wanted = selector(mesh).items()
    addresses = sorted(
        {
            p.address
            for p in pods
            if p.namespace == INGRESS_NAMESPACE and p.ready and wanted <= set(p.labels)
        }
    )
    status = {"loadBalancer": {"ingress": [{"ip": a} for a in addresses]}} if addresses else {}
    return [
        {**d, "status": status} if is_ingress_doc(d, "Ingress") and served(d, classes, mesh) else d
        for d in docs
    ]
