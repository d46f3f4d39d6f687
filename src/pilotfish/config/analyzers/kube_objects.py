"""Istio's analyzers of the Kubernetes objects themselves (Services, Pods, Deployments,
Namespaces given beside the config): IST0118/IST0150 (Service port names, as Istio's
PortNameAnalyzer), IST0144 (an application running as UID 1337, the proxy's), and the injection
analyzer: IST0102 (namespace not labelled for injection), IST0148 (injection on by default, from
the `istio-sidecar-injector` ConfigMap), IST0123 (several injection labels), IST0103 (a pod of an
injected namespace without its proxy). istio-system and control-plane objects are skipped, as
Istio does. Pure.
"""

from __future__ import annotations

import json
from typing import Any

from pilotfish.config.analyzers.kube import (
    INJECT,
    INJECTION_LABEL,
    PROXY_CONTAINER,
    Kube,
    KubeObject,
)
from pilotfish.config.analyzers.messages import AnalysisMessage, Severity
from pilotfish.config.objects import Source
from pilotfish.config.protocols import kube_port_protocol

REVISION = "istio.io/rev"
DATAPLANE = "istio.io/dataplane-mode"
UID = 1337
SIDECARS = (PROXY_CONTAINER, "istio-operator")
MANAGED = "gateway.istio.io/managed"
MANAGED_BY_ISTIO = frozenset(
    ["istio.io-gateway-controller", "istio.io-mesh-controller", "istio.io-eastwest-controller"]
)
SYSTEM_NAMESPACES = frozenset(
    ["kube-system", "kube-public", "kube-node-lease", "local-path-storage"]
)


def _message(obj: KubeObject, severity: Severity, code: str, text: str) -> AnalysisMessage:
    name = obj.name if obj.kind == "Namespace" else f"{obj.name}.{obj.namespace}"
    source = obj.document.source if obj.document is not None else Source()
    return AnalysisMessage(severity, code, obj.kind, name, text, source)


def _control_plane(obj: KubeObject) -> bool:
    return (
        "istio" in obj.labels
        or obj.labels.get("release") == "istio"
        or obj.labels.get(MANAGED) in MANAGED_BY_ISTIO
        or obj.namespace in SYSTEM_NAMESPACES
    )


def _protocol_known(port: dict[str, Any]) -> bool:
    app_protocol = port.get("appProtocol")
    number = port.get("port")
    return bool(
        kube_port_protocol(
            number if isinstance(number, int) else 0,
            str(port.get("name") or ""),
            str(port.get("protocol") or "TCP"),
            None if app_protocol is None else str(app_protocol),
        )
    )


def port_names(kube: Kube) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []
    for service in kube.services:
        if service.document is None or _control_plane(service):
            continue
        external = service.spec.get("type") == "ExternalName"
        for port in service.spec.get("ports") or []:
            if not isinstance(port, dict):
                continue
            if _protocol_known(port) and not (external and port.get("name") == "tcp"):
                continue
            if external:
                text = (
                    "Port name for ExternalName service is invalid. Proxy may prevent tcp named "
                    "ports and unmatched traffic for ports serving TCP protocol from being "
                    "forwarded correctly"
                )
                out.append(_message(service, "Warning", "IST0150", text))
                continue
            target = port.get("targetPort", port.get("port"))
            text = (
                f"Port name {port.get('name', '')} (port: {port.get('port')}, targetPort: "
                f"{target}) doesn't follow the naming convention of Istio port."
            )
            out.append(_message(service, "Info", "IST0118", text))
    return out


def _runs_as_proxy_uid(spec: dict[str, Any]) -> int:
    hits = int((spec.get("securityContext") or {}).get("runAsUser") == UID)
    for container in spec.get("containers") or []:
        if isinstance(container, dict) and container.get("name") not in (
            PROXY_CONTAINER,
            "istio-operator",
        ):
            hits += int((container.get("securityContext") or {}).get("runAsUser") == UID)
    return hits


def application_uid(kube: Kube) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []
    text = "User ID (UID) 1337 is reserved for the sidecar proxy."
    for obj in [*kube.pods, *kube.deployments]:
        if obj.document is None or _control_plane(obj):
            continue
        spec = obj.spec
        if obj.kind == "Deployment":
            spec = (spec.get("template") or {}).get("spec") or {}
        out += [_message(obj, "Warning", "IST0144", text)] * _runs_as_proxy_uid(spec)
    return out


def _enabled_by_default(kube: Kube, revision: str | None) -> bool:
    name = f"istio-sidecar-injector-{revision}" if revision else "istio-sidecar-injector"
    for config_map in kube.config_maps:
        if config_map.name == name:
            try:
                values = json.loads(str((config_map.data.get("data") or {}).get("values", "")))
                return bool(values["sidecarInjectorWebhook"]["enableNamespacesByDefault"])
            except (ValueError, KeyError, TypeError):
                return False
    return False


def injection(kube: Kube) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []
    injected: set[str] = set()
    for namespace in kube.namespaces.values():
        if namespace.name == "istio-system" or namespace.document is None:
            continue
        labels = namespace.labels
        value = labels.get(INJECTION_LABEL)
        found = [f"{INJECTION_LABEL}={value}"] if value is not None else []
        for key in (REVISION, DATAPLANE):
            if key in labels and (value is None or value == "enabled"):
                found.append(f"{key}={labels[key]}")
        if len(found) > 1:
            text = (
                f"The namespace has more than one type of injection labels [{' '.join(found)}], "
                "which may lead to undefined behavior. Make sure only one injection label exists."
            )
            out.append(_message(namespace, "Warning", "IST0123", text))
        if labels.get(DATAPLANE) == "ambient":
            continue
        if not value and REVISION not in labels:
            if _enabled_by_default(kube, labels.get(REVISION)):
                text = (
                    "is enabled for Istio injection, as Istio is installed with "
                    "enableNamespacesByDefault as true."
                )
                out.append(_message(namespace, "Info", "IST0148", text))
                continue
            text = (
                "The namespace is not enabled for Istio injection. Run 'kubectl label namespace "
                f"{namespace.name} istio-injection=enabled' to enable it, or 'kubectl label "
                f"namespace {namespace.name} istio-injection=disabled' to explicitly mark it as "
                "not needing injection."
            )
            out.append(_message(namespace, "Info", "IST0102", text))
            continue
        if value == "enabled":
            injected.add(namespace.name)
    for pod in kube.pods:
        if pod.namespace not in injected or pod.document is None:
            continue
        wanted = pod.labels.get(INJECT, pod.annotations.get(INJECT, ""))
        if wanted.lower() == "false" or pod.spec.get("hostNetwork"):
            continue
        if not any(c.get("name") == PROXY_CONTAINER and c.get("image") for c in pod.containers()):
            text = (
                f"The pod {pod.namespace}/{pod.name} is missing the Istio proxy. This can often "
                "be resolved by restarting or redeploying the workload."
            )
            out.append(_message(pod, "Warning", "IST0103", text))
    return out


def kube_object_messages(kube: Kube) -> list[AnalysisMessage]:
    return [*port_names(kube), *application_uid(kube), *injection(kube)]
