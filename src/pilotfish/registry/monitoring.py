"""The Prometheus Operator's `monitoring.coreos.com/v1` objects a local mesh accepts:
`PrometheusRule` (its `spec.groups` become a rule file of the mesh's Prometheus) and
`ServiceMonitor` (`spec.selector.matchLabels` + `spec.endpoints[].port|path|interval`; one
selecting the control plane's Service labels `istio: pilot` makes Prometheus scrape it).
Checked here with field paths; never raises for user mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PrometheusRule:
    name: str
    namespace: str
    groups: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class MonitorEndpoint:
    port: str = ""
    path: str = "/metrics"
    interval: str = ""


@dataclass(frozen=True)
class ServiceMonitor:
    name: str
    namespace: str
    selector: tuple[tuple[str, str], ...]
    endpoints: tuple[MonitorEndpoint, ...]


Errors = list[tuple[str, str]]


def parse_prometheus_rule(
    name: str, namespace: str, spec: Any, errors: Errors
) -> PrometheusRule | None:
    if not isinstance(spec, dict) or not isinstance(spec.get("groups"), list):
        errors.append(("spec.groups", "is required (a list of rule groups)"))
        return None
    groups = []
    for g, group in enumerate(spec["groups"]):
        where = f"spec.groups[{g}]"
        if not isinstance(group, dict) or not isinstance(group.get("name"), str):
            errors.append((f"{where}.name", "is required"))
            continue
        rules = group.get("rules")
        if not isinstance(rules, list) or not rules:
            errors.append((f"{where}.rules", "is required (a non-empty list)"))
            continue
        for r, rule in enumerate(rules):
            path = f"{where}.rules[{r}]"
            if not isinstance(rule, dict) or not isinstance(rule.get("expr"), str | int):
                errors.append((f"{path}.expr", "is required"))
            elif bool(rule.get("alert")) == bool(rule.get("record")):
                errors.append((path, "needs exactly one of alert or record"))
        groups.append(group)
    if len(groups) != len(spec["groups"]) or any(p.startswith("spec.groups") for p, _ in errors):
        return None
    return PrometheusRule(name, namespace, tuple(groups))


def parse_service_monitor(
    name: str, namespace: str, spec: Any, errors: Errors
) -> ServiceMonitor | None:
    if not isinstance(spec, dict):
        errors.append(("spec", "is required"))
        return None
    selector = spec.get("selector") or {}
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    if not isinstance(labels, dict) or not labels:
        errors.append(("spec.selector.matchLabels", "is required"))
        return None
    endpoints = []
    for i, raw in enumerate(spec.get("endpoints") or [{}]):
        if not isinstance(raw, dict):
            errors.append((f"spec.endpoints[{i}]", "must be a map"))
            return None
        endpoints.append(
            MonitorEndpoint(
                port=str(raw.get("port") or ""),
                path=str(raw.get("path") or "/metrics"),
                interval=str(raw.get("interval") or ""),
            )
        )
    return ServiceMonitor(
        name,
        namespace,
        tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        tuple(endpoints),
    )
