"""Istio's automated deployment of a Gateway (class `istio`, no `spec.addresses`): the objects
Istio's gateway controller creates beside it, all named `<gateway>-istio` and owned by it
(`ownerReferences`, so deleting the Gateway deletes them): a ServiceAccount, a LoadBalancer
Service with the listeners' ports (named after the listeners, `appProtocol` their protocol) and
Istio's `status-port` 15021, and the pod that is only its Envoy, labelled
`gateway.networking.k8s.io/gateway-name: <gateway>` (local mode: a `Workload` whose app waits,
as `install` runs the egress gateway). `owned_keys` finds what a deleted Gateway owns.
"""

from __future__ import annotations

from typing import Any

from pilotfish.config.gateway_api.models import GatewaySpec, spec_of
from pilotfish.config.kinds import (
    GATEWAY_API_GROUP,
    GATEWAY_NAME_LABEL,
    ISTIO_CLASS_NAME,
    is_gateway_api_doc,
)

CLASS_LABEL = "gateway.networking.k8s.io/gateway-class-name"
MANAGED_LABEL = "gateway.istio.io/managed"
STATUS_PORT = 15021
WAIT = ["python", "-c", "import signal; signal.pause()"]


def deployed_name(gateway: str) -> str:
    return f"{gateway}-istio"


def is_automated(spec: GatewaySpec) -> bool:
    return spec.gateway_class_name == ISTIO_CLASS_NAME and not spec.addresses


def deployment_documents(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """What Istio's controller creates for this Gateway document ([] for another document, or a
    Gateway deployed by hand: `spec.addresses`, another class)."""
    if not is_gateway_api_doc(doc, "Gateway"):
        return []
    spec = spec_of(doc)
    if not isinstance(spec, GatewaySpec) or not is_automated(spec):
        return []
    meta = doc.get("metadata") or {}
    gateway, namespace = str(meta.get("name")), str(meta.get("namespace") or "default")
    name = deployed_name(gateway)
    labels = {
        MANAGED_LABEL: "istio.io-gateway-controller",
        CLASS_LABEL: ISTIO_CLASS_NAME,
        GATEWAY_NAME_LABEL: gateway,
        "istio.io/dataplane-mode": "none",
    }
    owner = {"apiVersion": str(doc.get("apiVersion")), "kind": "Gateway", "name": gateway}
    common = {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]}
    ports: list[dict[str, Any]] = [
        {"appProtocol": "tcp", "name": "status-port", "port": STATUS_PORT, "protocol": "TCP"}
    ]
    seen = {STATUS_PORT}
    for listener in spec.listeners:
        if listener.port is None or listener.port in seen:
            continue
        seen.add(listener.port)
        ports.append(
            {
                "appProtocol": (listener.protocol or "").lower(),
                "name": listener.name,
                "port": listener.port,
                "protocol": "TCP",
            }
        )
    pod_labels = {
        **labels,
        "service.istio.io/canonical-name": name,
        "service.istio.io/canonical-revision": "latest",
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(common)},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": dict(common),
            "spec": {
                "type": "LoadBalancer",
                "selector": {GATEWAY_NAME_LABEL: gateway},
                "ports": ports,
            },
        },
        {
            "apiVersion": "pilotfish.io/v1alpha1",
            "kind": "Workload",
            "metadata": {**common, "labels": pod_labels},
            "spec": {"serviceAccount": name, "command": WAIT},
        },
    ]


def owned_by_gateway(doc: dict[str, Any]) -> bool:
    """Whether a document is one of a Gateway's automated deployment (owned by it)."""
    owners = (doc.get("metadata") or {}).get("ownerReferences") or []
    return any(
        str(o.get("apiVersion", "")).rpartition("/")[0] == GATEWAY_API_GROUP
        and o.get("kind") == "Gateway"
        for o in owners
        if isinstance(o, dict)
    )


def owned_keys(
    keys: list[tuple[str, str, str, str]], docs: list[dict[str, Any]]
) -> list[tuple[str, str, str, str]]:
    """Keys (group, kind, namespace, name) of the stored documents a Gateway among `keys` owns."""
    gateways = {(k[2], k[3]) for k in keys if (k[0], k[1]) == (GATEWAY_API_GROUP, "Gateway")}
    found = []
    for doc in docs:
        meta = doc.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        for owner in meta.get("ownerReferences") or []:
            group = str(owner.get("apiVersion", "")).rpartition("/")[0]
            if (group, owner.get("kind")) == (GATEWAY_API_GROUP, "Gateway") and (
                namespace,
                owner.get("name"),
            ) in gateways:
                api = str(doc.get("apiVersion", ""))
                found.append(
                    (api.rpartition("/")[0], str(doc.get("kind")), namespace, str(meta.get("name")))
                )
    return found
