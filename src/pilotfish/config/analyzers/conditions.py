"""Istio's ConditionAnalyzer: IST0171 for a status condition that is negative for its kind
(a Service, ServiceEntry or WorkloadEntry not bound to its waypoint, an AuthorizationPolicy not
accepted by ztunnel or a waypoint, or accepted only partially, a Gateway API Gateway, HTTPRoute or
GRPCRoute not Accepted, Programmed or ResolvedRefs). Conditions of other types are ignored.
Pure.
"""

from __future__ import annotations

from typing import Any

from pilotfish.config.analyzers.documents import as_list, as_map, doc_message, istio_objects
from pilotfish.config.analyzers.kube import KUBE_GATEWAY_GROUP
from pilotfish.config.analyzers.messages import AnalysisMessage, message_for
from pilotfish.config.load import LoadResult

WAYPOINT = {"istio.io/WaypointBound": "False"}
GATEWAY_API = {"Accepted": "False", "Programmed": "False", "ResolvedRefs": "False"}
ISTIO_KINDS = {
    "ServiceEntry": WAYPOINT,
    "WorkloadEntry": WAYPOINT,
    "AuthorizationPolicy": {"ZtunnelAccepted": "False", "WaypointAccepted": "False"},
}
KUBE_KINDS = {  # (API group, kind) -> negative status per condition type
    ("", "Service"): WAYPOINT,
    (KUBE_GATEWAY_GROUP, "Gateway"): GATEWAY_API,
    (KUBE_GATEWAY_GROUP, "HTTPRoute"): GATEWAY_API,
    (KUBE_GATEWAY_GROUP, "GRPCRoute"): GATEWAY_API,
}


def _conditions(data: dict[str, Any]) -> list[dict[str, Any]]:
    status = as_map(data.get("status"))
    if data.get("kind") in ("HTTPRoute", "GRPCRoute"):
        return [
            as_map(c)
            for parent in as_list(status.get("parents"))
            for c in as_list(as_map(parent).get("conditions"))
        ]
    return [as_map(c) for c in as_list(status.get("conditions"))]


def _negative(data: dict[str, Any], negative: dict[str, str]) -> list[str]:
    out = []
    for condition in _conditions(data):
        kind, status = condition.get("type"), condition.get("status")
        reason, message = condition.get("reason") or "", condition.get("message") or ""
        text = (
            "A condition with a negative status is present: "
            f"type={kind}, reason={reason}, message={message}."
        )
        if isinstance(kind, str) and negative.get(kind) == status:
            out.append(text)
        if (
            data.get("kind") == "AuthorizationPolicy"
            and kind == "WaypointAccepted"
            and reason == "PartiallyInvalid"
        ):
            out.append(text)
    return out


def negative_conditions(result: LoadResult) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []
    for doc in result.others:
        negative = KUBE_KINDS.get((doc.api_version.rpartition("/")[0], doc.kind))
        if negative is not None:
            out += [
                doc_message(doc, "Warning", "IST0171", t) for t in _negative(doc.data, negative)
            ]
    for kind, negative in ISTIO_KINDS.items():
        for obj in istio_objects(result, kind):
            out += [message_for(obj, "Warning", "IST0171", t) for t in _negative(obj.raw, negative)]
    return out
