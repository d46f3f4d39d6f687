"""Istio's analyzers of Deployments:

- deployment.ServiceAssociationAnalyzer: a Deployment in the mesh (not a waypoint) whose pods
  several Services of its namespace select, with one port under different protocols (IST0116)
  or one target port behind different service ports (IST0137);
- authn.BlockedCIDRsAnalyzer, IST0175: RequestAuthentications exist but the istiod Deployment
  (label app=istiod) sets no BLOCKED_CIDRS_IN_JWKS_URIS, so JWKS URIs may point anywhere. Pure.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pilotfish.config.analyzers.documents import as_list, as_map, as_strings, doc_message
from pilotfish.config.analyzers.kube import Kube, KubeObject
from pilotfish.config.analyzers.kube_objects import MANAGED
from pilotfish.config.analyzers.messages import AnalysisMessage, selects
from pilotfish.config.objects import RequestAuthentication

WAYPOINT_CONTROLLER = "istio.io-mesh-controller"


def _template_pod(deployment: KubeObject) -> KubeObject:
    template = as_map(deployment.spec.get("template"))
    meta = as_map(template.get("metadata"))
    return KubeObject(
        "Pod",
        deployment.name,
        deployment.namespace,
        as_strings(meta.get("labels")),
        as_strings(meta.get("annotations")),
        {"spec": as_map(template.get("spec"))},
    )


def _go_list(items: list[Any]) -> str:
    return "[" + " ".join(str(i) for i in items) + "]"


def _ports(service: KubeObject) -> list[dict[str, Any]]:
    return [as_map(p) for p in as_list(service.spec.get("ports"))]


def _deployment_messages(deployment: KubeObject, kube: Kube) -> list[tuple[str, str]]:
    pod = _template_pod(deployment)
    services = [
        s
        for s in kube.services
        if s.namespace == deployment.namespace
        and as_strings(s.spec.get("selector"))
        and selects(as_strings(s.spec.get("selector")), pod.labels)
    ]
    protocols: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    targets: dict[str, dict[int, str]] = defaultdict(dict)
    for service in services:
        for port in _ports(service):
            number = port.get("port")
            if not isinstance(number, int):
                continue
            protocol = str(port.get("protocol") or "TCP")
            protocols[number][protocol].append(service.full_name)
            target = port.get("targetPort")
            target_text = str(target) if target not in (None, 0, "", "0") else str(number)
            targets[target_text][number] = service.full_name
    out: list[tuple[str, str]] = []
    for number, by_protocol in protocols.items():
        if len(by_protocol) > 1:
            names = sorted(n for group in by_protocol.values() for n in group)
            out.append(
                (
                    "IST0116",
                    f"This deployment {deployment.name} is associated with multiple services using "
                    f"port {number} but different protocols: {_go_list(names)}",
                )
            )
    for target, by_port in targets.items():
        if len(by_port) > 1:
            out.append(
                (
                    "IST0137",
                    f"This deployment {deployment.name} is associated with multiple services "
                    f'{_go_list(sorted(by_port.values()))} using targetPort "{target}" but '
                    f"different ports: {_go_list(sorted(by_port))}.",
                )
            )
    return out


def service_associations(kube: Kube) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []
    for deployment in kube.deployments:
        if deployment.document is None or deployment.labels.get(MANAGED) == WAYPOINT_CONTROLLER:
            continue
        if not kube.in_mesh(_template_pod(deployment)):
            continue
        for code, text in _deployment_messages(deployment, kube):
            out.append(doc_message(deployment.document, "Warning", code, text))
    return out


def unrestricted_jwks(authns: list[RequestAuthentication], kube: Kube) -> list[AnalysisMessage]:
    if not authns:
        return []
    names = [f"{a.meta.namespace}/{a.meta.name}" for a in authns]
    shown = ", ".join(names[:5]) + (f", and {len(names) - 5} more" if len(names) > 5 else "")
    out: list[AnalysisMessage] = []
    for deployment in kube.deployments:
        if deployment.document is None or deployment.labels.get("app") != "istiod":
            continue
        containers = as_list(
            as_map(as_map(deployment.spec.get("template")).get("spec")).get("containers")
        )
        if any(
            as_map(env).get("name") == "BLOCKED_CIDRS_IN_JWKS_URIS" and as_map(env).get("value")
            for c in containers
            for env in as_list(as_map(c).get("env"))
        ):
            continue
        text = (
            f"BLOCKED_CIDRS_IN_JWKS_URIS is not configured but {len(names)} RequestAuthentication "
            f"resource(s) exist ({shown}). Consider configuring it to restrict JWKS URI fetches "
            "to trusted networks."
        )
        out.append(doc_message(deployment.document, "Warning", "IST0175", text))
    return out
