"""Istio's workload-selector analyzers, over the pods the analysis knows (`Kube.pods`: the
inputs' Pods, pilotfish Workloads and WorkloadEntries, the running mesh's instances).

Sidecar (Istio's sidecar SelectorAnalyzer): IST0101 a selector matching no pod of its namespace,
IST0110 several Sidecars selecting one pod, IST0111 several selector-less Sidecars in a
namespace, IST0167 a Sidecar for an ambient pod or namespace (no sidecar runs there).
Telemetry: IST0101, IST0159 (several selecting one pod), IST0160 (several selector-less in a
namespace). AuthorizationPolicy: IST0127 (no matching pod in the mesh, sidecar or ambient: in its
namespace, or anywhere for the root namespace), IST0101 for a `source.namespaces` entry matching
no known Namespace (only checked when the inputs name Namespaces). Pure.
"""

from __future__ import annotations

from collections import defaultdict

from pilotfish.config.analyzers.kube import Kube, KubeObject
from pilotfish.config.analyzers.messages import (
    ROOT_NAMESPACE,
    AnalysisMessage,
    message_for,
    selector_text,
)
from pilotfish.config.analyzers.security import selector_labels
from pilotfish.config.models.security import AuthorizationPolicySpec
from pilotfish.config.models.telemetry import TelemetrySpec
from pilotfish.config.objects import AuthorizationPolicy, Sidecar, Telemetry


def _labels(obj: Sidecar | Telemetry) -> dict[str, str]:
    return selector_labels(obj.spec) or {}


def _selector_path(obj: Sidecar | Telemetry, labels: dict[str, str]) -> str:
    """Where Istio points a selector matching nothing: the line of one of its labels."""
    parent = (
        "spec.selector.matchLabels"
        if isinstance(obj.spec, TelemetrySpec)
        else "spec.workloadSelector.labels"
    )
    return f"{parent}.{sorted(labels)[0]}"


def _go_list(names: list[str]) -> str:
    return "[" + " ".join(sorted(names)) + "]"


def workload_selectors(
    objects: list[Sidecar] | list[Telemetry], kind: str, kube: Kube
) -> list[AnalysisMessage]:
    """IST0101 + IST0110/IST0111 (Sidecar) or IST0159/IST0160 (Telemetry)."""
    per_pod: dict[tuple[str, str], list[Sidecar | Telemetry]] = defaultdict(list)
    per_namespace: dict[str, list[Sidecar | Telemetry]] = defaultdict(list)
    out: list[AnalysisMessage] = []
    for obj in objects:
        if isinstance(obj.spec, TelemetrySpec) and _targeted(obj.spec):
            continue
        labels = _labels(obj)
        if not labels:
            per_namespace[obj.meta.namespace].append(obj)
            continue
        pods = kube.pods_selected(labels, obj.meta.namespace)
        if not pods:
            text = f'Referenced selector not found: "{selector_text(labels)}"'
            out.append(message_for(obj, "Error", "IST0101", text, _selector_path(obj, labels)))
        for pod in pods:
            per_pod[(pod.namespace, pod.name)].append(obj)
    same_pod, no_selector = ("IST0110", "IST0111") if kind == "Sidecar" else ("IST0159", "IST0160")
    plural = "Sidecars" if kind == "Sidecar" else "Telemetries"
    ineffective: set[str] = set()
    ambient_pods = {(p.namespace, p.name) for p in kube.pods if _ambient_pod(p)}
    for (namespace, pod_name), group in sorted(per_pod.items()):
        if kind == "Sidecar" and (namespace, pod_name) in ambient_pods:
            out += _no_impact(group, "selected workload is in ambient mode", ineffective)
            continue
        if len(group) < 2:
            continue
        names = _go_list([o.meta.name for o in group])
        text = (
            f'The {plural} {names} in namespace "{namespace}" select the same workload pod '
            f'"{pod_name}", which can lead to undefined behavior.'
        )
        out += [message_for(o, "Error", same_pod, text, "metadata.name") for o in group]
    for namespace, group in sorted(per_namespace.items()):
        if kind == "Telemetry" and namespace == ROOT_NAMESPACE:
            continue
        if kind == "Sidecar" and _ambient_namespace(kube.namespaces.get(namespace)):
            out += _no_impact(group, "namespace is in ambient mode", ineffective)
            continue
        if len(group) < 2:
            continue
        names = _go_list([o.meta.name for o in group])
        text = (
            f'The {plural} {names} in namespace "{namespace}" have no workload selector, which '
            "can lead to undefined behavior."
        )
        out += [message_for(o, "Error", no_selector, text, "metadata.name") for o in group]
    return out


def _ambient_pod(pod: KubeObject) -> bool:
    return pod.annotations.get("ambient.istio.io/redirection") == "enabled"


def _ambient_namespace(namespace: KubeObject | None) -> bool:
    if namespace is None:
        return False
    labels = namespace.labels
    if labels.get("istio-injection") == "enabled" or labels.get("istio.io/rev"):
        return False
    return labels.get("istio.io/dataplane-mode") == "ambient"


def _no_impact(
    group: list[Sidecar | Telemetry], reason: str, reported: set[str]
) -> list[AnalysisMessage]:
    """IST0167 once per Sidecar: it cannot act where no sidecar runs."""
    out: list[AnalysisMessage] = []
    for obj in group:
        key = f"{obj.meta.namespace}/{obj.meta.name}"
        if key not in reported:
            reported.add(key)
            text = f"The policy has no impact: {reason}, the policy has no impact."
            out.append(message_for(obj, "Warning", "IST0167", text))
    return out


def _targeted(spec: TelemetrySpec | AuthorizationPolicySpec) -> bool:
    return spec.target_ref is not None or len(spec.target_refs) > 0


def _namespace_matches(namespace: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return namespace.endswith(pattern[1:])
    if pattern.endswith("*"):
        return namespace.startswith(pattern[:-1])
    return namespace.lower() == pattern.lower()


def authorization_policies(
    policies: list[AuthorizationPolicy], kube: Kube
) -> list[AnalysisMessage]:
    """IST0127 and IST0101 (namespace), as Istio's AuthorizationPoliciesAnalyzer."""
    meshed: list[KubeObject] = [p for p in kube.pods if kube.in_mesh(p) or _ambient_pod(p)]
    out: list[AnalysisMessage] = []
    template = "No matching workloads for this resource with the following labels: {}"
    for policy in policies:
        spec = policy.spec
        namespace = policy.meta.namespace
        targeted = _targeted(spec)
        selector = spec.selector
        labels = dict(selector.match_labels) if selector is not None else {}
        if targeted:
            pass
        elif namespace == ROOT_NAMESPACE:
            if selector is not None and not _any_selected(meshed, labels, None):
                out.append(
                    message_for(
                        policy, "Warning", "IST0127", template.format(selector_text(labels))
                    )
                )
        elif selector is None:
            if not any(p.namespace == namespace for p in meshed):
                out.append(message_for(policy, "Warning", "IST0127", template.format("")))
        elif not _any_selected(meshed, labels, namespace):
            out.append(
                message_for(policy, "Warning", "IST0127", template.format(selector_text(labels)))
            )
        if not kube.namespaces:
            continue
        for i, rule in enumerate(spec.rules):
            for j, src in enumerate(f.source for f in rule.from_):
                if src is None:
                    continue
                at = f"spec.rules[{i}].from[{j}].source"
                named = [(f"{at}.namespaces[{k}]", n) for k, n in enumerate(src.namespaces)]
                named += [(f"{at}.notNamespaces[{k}]", n) for k, n in enumerate(src.not_namespaces)]
                for path, name in named:
                    if not any(_namespace_matches(n, name) for n in kube.namespaces):
                        text = f'Referenced namespace not found: "{name}"'
                        out.append(message_for(policy, "Error", "IST0101", text, path))
    return out


def _any_selected(pods: list[KubeObject], labels: dict[str, str], namespace: str | None) -> bool:
    return any(
        (namespace is None or p.namespace == namespace)
        and all(p.labels.get(k) == v for k, v in labels.items())
        for p in pods
    )
