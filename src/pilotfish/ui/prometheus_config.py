"""The configuration of a local mesh's Prometheus, as Istio's Prometheus addon scrapes a cluster.

`kubernetes-pods` is the addon's job: every pod declaring `prometheus.io/scrape: "true"` (which
injection adds to every sidecar and gateway, pointing at the agent's merged endpoint 15020
`/stats/prometheus`), with the addon's relabelling: the pod's labels become series labels, and
`namespace` / `pod` are added. Kubernetes service discovery is replaced by a file of targets
carrying the same `__meta_kubernetes_*` labels, so the relabelling is Istio's, unchanged.
A `ServiceMonitor` selecting the control plane's Service (`app: istiod, istio: pilot`) adds
Prometheus Operator's job for it (`serviceMonitor/<ns>/<name>/<i>`, `job="istiod"`).
`PrometheusRule` objects become rule files. Pure: returns texts; the caller writes them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pilotfish.registry.monitoring import PrometheusRule, ServiceMonitor

POD_JOB = "kubernetes-pods"
TARGETS_FILE = "targets.json"
RULES_DIR = "rules"
CONTROL_PLANE_LABELS = {"app": "istiod", "istio": "pilot"}
CONTROL_PLANE_PORTS = {"http-monitoring": 15014, "": 15014}
_LABEL = re.compile(r"[^A-Za-z0-9_]")


def _label_name(key: str) -> str:
    return _LABEL.sub("_", key)


MERGED = {"prometheus.io/scrape": "true", "prometheus.io/port": "15020",
          "prometheus.io/path": "/stats/prometheus"}  # fmt: skip
"""What Istio's injector sets when it merges metrics (every gateway here)."""


def pod_targets(proxies: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """file_sd entries for every pod Prometheus may scrape, with the meta labels Kubernetes SD
    gives it: its `prometheus.io/scrape|port|path` annotations as injection left them (mesh.json
    `prometheus`: the agent's 15020, or with `enablePrometheusMerge: false` the app's own)."""
    entries = []
    for key, proxy in sorted(proxies.items()):
        annotations = proxy.get("prometheus")
        if annotations is None:  # a gateway, or an older mesh.json: merged, if injected
            if proxy.get("sidecar") is False:
                continue
            annotations = MERGED
        port = annotations.get("prometheus.io/port") or next(iter(proxy.get("app_ports") or ()), "")
        if not port:
            continue
        pod = str(proxy.get("instance") or key.split(".")[0])  # mesh.json keys: NAME.NAMESPACE
        labels = {
            "__meta_kubernetes_namespace": proxy.get("namespace", "default"),
            "__meta_kubernetes_pod_name": pod,
            "__meta_kubernetes_pod_ip": proxy["ip"],
            "__meta_kubernetes_pod_phase": "Running",
        }
        for name, value in sorted(annotations.items()):
            labels[f"__meta_kubernetes_pod_annotation_{_label_name(name)}"] = str(value)
        for name, value in sorted((proxy.get("labels") or {}).items()):
            labels[f"__meta_kubernetes_pod_label_{_label_name(name)}"] = str(value)
        entries.append({"targets": [f"{proxy['ip']}:{port}"], "labels": labels})
    return entries


def _pods_job(targets_path: str) -> dict[str, Any]:
    annotation = "__meta_kubernetes_pod_annotation_prometheus_io_"
    return {
        "job_name": POD_JOB,
        "honor_labels": True,
        "file_sd_configs": [{"files": [targets_path], "refresh_interval": "5s"}],
        "relabel_configs": [
            {"action": "keep", "regex": "true", "source_labels": [f"{annotation}scrape"]},
            {"action": "drop", "regex": "true", "source_labels": [f"{annotation}scrape_slow"]},
            {"action": "replace", "regex": "(https?)", "source_labels": [f"{annotation}scheme"],
             "target_label": "__scheme__"},
            {"action": "replace", "regex": "(.+)", "source_labels": [f"{annotation}path"],
             "target_label": "__metrics_path__"},
            {"action": "replace", "regex": r"(\d+);((([0-9]+?)(\.|$)){4})",
             "replacement": "$2:$1", "target_label": "__address__",
             "source_labels": [f"{annotation}port", "__meta_kubernetes_pod_ip"]},
            {"action": "labelmap", "regex": f"{annotation}param_(.+)",
             "replacement": "__param_$1"},
            {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"},
            {"action": "replace", "source_labels": ["__meta_kubernetes_namespace"],
             "target_label": "namespace"},
            {"action": "replace", "source_labels": ["__meta_kubernetes_pod_name"],
             "target_label": "pod"},
            {"action": "drop", "regex": "Pending|Succeeded|Failed|Completed",
             "source_labels": ["__meta_kubernetes_pod_phase"]},
        ],
    }  # fmt: skip


def _monitor_jobs(monitor: ServiceMonitor, control_plane: str) -> list[dict[str, Any]]:
    """Prometheus Operator's jobs for one ServiceMonitor: only the control plane's Service
    exists to be selected in a local mesh."""
    if not all(CONTROL_PLANE_LABELS.get(k) == v for k, v in monitor.selector):
        return []
    jobs = []
    for index, endpoint in enumerate(monitor.endpoints):
        port = CONTROL_PLANE_PORTS.get(endpoint.port)
        if port is None:
            continue
        job: dict[str, Any] = {
            "job_name": f"serviceMonitor/{monitor.namespace}/{monitor.name}/{index}",
            "metrics_path": endpoint.path,
            "static_configs": [
                {
                    "targets": [f"{control_plane}:{port}"],
                    "labels": {
                        "job": "istiod",
                        "namespace": "istio-system",
                        "service": "istiod",
                        "pod": "istiod-0",
                        "endpoint": endpoint.port or str(port),
                    },
                }
            ],
        }
        if endpoint.interval:
            job["scrape_interval"] = endpoint.interval
        jobs.append(job)
    return jobs


def rule_file_name(rule: PrometheusRule) -> str:
    return f"{rule.namespace}-{rule.name}.yaml"


def rule_file(rule: PrometheusRule) -> str:
    """A Prometheus rule file (JSON is YAML) with the PrometheusRule's groups."""
    return json.dumps({"groups": list(rule.groups)}, indent=1, sort_keys=True)


def prometheus_config(
    directory: str,
    control_plane: str,
    monitors: tuple[ServiceMonitor, ...],
    scrape_interval: str = "15s",
) -> str:
    """prometheus.yml (as JSON, which Prometheus reads as YAML)."""
    jobs = [_pods_job(f"{directory}/{TARGETS_FILE}")]
    for monitor in monitors:
        jobs.extend(_monitor_jobs(monitor, control_plane))
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [f"{directory}/{RULES_DIR}/*.yaml"],
        "scrape_configs": jobs,
    }
    return json.dumps(config, indent=1, sort_keys=True)
