"""The status Istio's gateway controller writes on the Gateway API objects it serves, as `get`
shows it: `gateway_status(doc, pods)` for a Gateway (its address and the conditions `Accepted`
and `Programmed`, per listener too), `route_status` for an HTTPRoute (per parent: `Accepted`,
`ResolvedRefs`), `class_status` for a GatewayClass of Istio's controller (`Accepted`).

Local mode: a Gateway's address is that of its pod (its own deployment's, or for a Gateway
naming `istio-ingressgateway` in `spec.addresses`, the ingress gateway's), which is where its
listeners accept; it is `Programmed` once that pod runs and is ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pilotfish.config.gateway_api.convert import (
    DEFAULT_KINDS,
    attached_listeners,
    deployment_selector,
    route_meta,
    served_gateways,
)
from pilotfish.config.gateway_api.deployment import deployed_name
from pilotfish.config.gateway_api.l4_routes import service_entry_hosts
from pilotfish.config.gateway_api.models import (
    ROUTE_KINDS,
    GatewaySpec,
    Listener,
    RouteSpec,
    spec_of,
)
from pilotfish.config.hosts import CLUSTER_DOMAIN
from pilotfish.config.kinds import (
    CONTROLLER_NAME,
    GATEWAY_API_GROUP,
    ISTIO_CLASS_NAME,
    is_gateway_api_doc,
)


@dataclass(frozen=True)
class Pod:
    """A running pod as the status needs it."""

    namespace: str
    address: str
    labels: tuple[tuple[str, str], ...]
    ready: bool


ISTIO_CLASS: dict[str, Any] = {
    "apiVersion": f"{GATEWAY_API_GROUP}/v1",
    "kind": "GatewayClass",
    "metadata": {"name": ISTIO_CLASS_NAME},
    "spec": {"controllerName": CONTROLLER_NAME, "description": "The default Istio GatewayClass"},
}
"""The `istio` GatewayClass Istio's install creates."""


def _condition(kind: str, ok: bool, reason: str, message: str, when: str) -> dict[str, Any]:
    return {
        "lastTransitionTime": when,
        "message": message,
        "observedGeneration": 1,
        "reason": reason,
        "status": "True" if ok else "False",
        "type": kind,
    }


def _when(doc: dict[str, Any]) -> str:
    return str((doc.get("metadata") or {}).get("creationTimestamp") or "")


def gateway_status(
    doc: dict[str, Any], docs: list[dict[str, Any]], pods: list[Pod]
) -> dict[str, Any]:
    """`doc` with the status Istio writes (unchanged when its class is not Istio's)."""
    served = {id(d): s for d, s in served_gateways(docs)}
    spec = served.get(id(doc))
    if not isinstance(spec, GatewaySpec):
        return doc
    meta = doc.get("metadata") or {}
    name, namespace = str(meta.get("name")), str(meta.get("namespace") or "default")
    selector = deployment_selector(name, spec, namespace)
    manual = GATEWAY_API_GROUP not in next(iter(selector))
    chosen = [
        p
        for p in pods
        if (manual or p.namespace == namespace)
        and all(dict(p.labels).get(k) == v for k, v in selector.items())
    ]
    ready = [p for p in chosen if p.ready]
    when = _when(doc)
    service = (
        f"istio-ingressgateway.istio-system.svc.{CLUSTER_DOMAIN}"
        if manual
        else f"{deployed_name(name)}.{namespace}.svc.{CLUSTER_DOMAIN}"
    )
    ports = ",".join(sorted({str(listener.port) for listener in spec.listeners}))
    programmed = (
        _condition(
            "Programmed",
            True,
            "Programmed",
            f"Resource programmed, assigned to service(s) {service}:{ports}",
            when,
        )
        if ready
        else _condition(
            "Programmed",
            False,
            "AddressNotAssigned",
            f"Assigned to service(s) {service}:{ports}, but failed to assign to all requested"
            f' addresses: address pending for hostname "{service}"',
            when,
        )
    )
    attached = _attached_routes(doc, docs)
    status = {
        "addresses": [
            {"type": "IPAddress", "value": p.address}
            for p in sorted(ready, key=lambda p: p.address)[:1]
        ],
        "conditions": [
            _condition("Accepted", True, "Accepted", "Resource accepted", when),
            programmed,
        ],
        "listeners": [
            {
                "attachedRoutes": attached.get(listener.name or "", 0),
                "conditions": [
                    _condition("Accepted", True, "Accepted", "No errors found", when),
                    _condition("NoConflicts", False, "NoConflicts", "No errors found", when),
                    _condition("Programmed", True, "Programmed", "No errors found", when),
                    _condition("ResolvedRefs", True, "ResolvedRefs", "No errors found", when),
                ],
                "name": listener.name,
                "supportedKinds": _supported_kinds(listener),
            }
            for listener in spec.listeners
        ],
    }
    if not status["addresses"]:
        del status["addresses"]
    return {**doc, "status": status}


def _attached_routes(gateway: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, int]:
    """Routes attached to each listener of `gateway` (what the conversion attaches)."""
    gateways = {route_meta(d): (d, s) for d, s in served_gateways(docs)}
    found: dict[str, int] = {}
    for doc in docs:
        kind = str(doc.get("kind"))
        route = spec_of(doc) if is_gateway_api_doc(doc) and kind in ROUTE_KINDS else None
        for ref in getattr(route, "parent_refs", ()):
            for gw_ns, gw, listener in attached_listeners(ref, kind, route_meta(doc)[0], gateways):
                if (gw_ns, gw) == route_meta(gateway):
                    found[listener.name or ""] = found.get(listener.name or "", 0) + 1
    return found


def _supported_kinds(listener: Listener) -> list[dict[str, str]]:
    written = [k.kind for k in listener.allowed_routes.kinds if k.kind]
    kinds = written or DEFAULT_KINDS.get(listener.protocol or "", ())
    return [{"group": GATEWAY_API_GROUP, "kind": k} for k in kinds if k in ROUTE_KINDS]


def route_status(doc: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per parent: `Accepted` (the parent Gateway, of an Istio class, or Service exists) and
    `ResolvedRefs` (every backend Service exists)."""
    spec = spec_of(doc)
    if not isinstance(spec, RouteSpec):
        return doc
    when = _when(doc)
    namespace = str((doc.get("metadata") or {}).get("namespace") or "default")
    gateways = {_key(d) for d, _ in served_gateways(docs)}
    services = {_key(d) for d in docs if (d.get("apiVersion"), d.get("kind")) == ("v1", "Service")}
    missing = [
        f"{b.name}.{b.namespace or namespace}.svc.{CLUSTER_DOMAIN}"
        for rule in spec.rules
        for b in rule.backend_refs
        if b.kind == "Service" and (b.namespace or namespace, b.name) not in services
    ]
    resolved = (
        _condition(
            "ResolvedRefs", False, "BackendNotFound", f"backend({missing[0]}) not found", when
        )
        if missing
        else _condition("ResolvedRefs", True, "ResolvedRefs", "All references resolved", when)
    )
    parents = []
    entries = service_entry_hosts(docs)
    for ref in spec.parent_refs:
        key = (ref.namespace or namespace, ref.name)
        found = key in (
            gateways
            if ref.kind == "Gateway"
            else entries
            if ref.kind == "ServiceEntry"
            else services
        )
        what = "gateway" if ref.kind == "Gateway" else "service"
        accepted = (
            _condition("Accepted", True, "Accepted", "Route was valid", when)
            if found
            else _condition(
                "Accepted",
                False,
                "NoMatchingParent",
                f'parent {what}: "{ref.name}" not found',
                when,
            )
        )
        written = {
            "group": ref.group if ref.kind != "Gateway" else None,
            "kind": ref.kind if ref.kind != "Gateway" else None,
            "name": ref.name,
            "namespace": ref.namespace,
            "port": ref.port,
            "sectionName": ref.section_name,
        }
        parents.append(
            {
                "conditions": [accepted, resolved],
                "controllerName": CONTROLLER_NAME,
                "parentRef": {k: v for k, v in written.items() if v is not None},
            }
        )
    return {**doc, "status": {"parents": parents}}


def _key(doc: dict[str, Any]) -> tuple[str, str | None]:
    meta = doc.get("metadata") or {}
    return str(meta.get("namespace") or "default"), meta.get("name")


def class_status(doc: dict[str, Any]) -> dict[str, Any]:
    if (doc.get("spec") or {}).get("controllerName") != CONTROLLER_NAME:
        return doc
    when = _when(doc)
    return {
        **doc,
        "status": {
            "conditions": [
                _condition("Accepted", True, "Handled", "Handled by Istio controller", when)
            ]
        },
    }


def with_status(docs: list[dict[str, Any]], pods: list[Pod], kind: str) -> list[dict[str, Any]]:
    """The stored documents as `get` shows them: Gateway API objects with their status, and
    the built-in `istio` GatewayClass (when `kind` may be it and none is stored); served
    Ingresses with their load balancer status (`config.ingress.status`)."""
    from pilotfish.config.ingress.status import with_ingress_status  # it imports this

    docs = with_ingress_status(docs, pods)
    names = ("gateway", "gatewayclass", *(k.lower() for k in ROUTE_KINDS))
    if kind and kind not in {*names, *(n + "s" for n in names), "gatewayclasses"}:
        return docs
    out = []
    for doc in docs:
        if not is_gateway_api_doc(doc):
            out.append(doc)
        elif doc.get("kind") == "Gateway":
            out.append(gateway_status(doc, docs, pods))
        elif doc.get("kind") in ROUTE_KINDS:
            out.append(route_status(doc, docs))
        elif doc.get("kind") == "GatewayClass":
            out.append(class_status(doc))
        else:
            out.append(doc)
    if not any(
        is_gateway_api_doc(d, "GatewayClass")
        and (d.get("metadata") or {}).get("name") == ISTIO_CLASS_NAME
        for d in docs
    ):
        out.append(class_status(ISTIO_CLASS))
    return out
