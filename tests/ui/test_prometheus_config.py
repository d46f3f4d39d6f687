"""Unit tests: the generated Prometheus configuration (Istio's addon job and relabelling, the
Prometheus Operator's ServiceMonitor job, PrometheusRule files), checked by Prometheus's own
`promtool` when it is installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pilotfish.registry.monitoring import (
    MonitorEndpoint,
    PrometheusRule,
    ServiceMonitor,
    parse_prometheus_rule,
    parse_service_monitor,
)
from pilotfish.ui.prometheus_config import pod_targets, prometheus_config, rule_file

PROXIES = {
    "reviews-v2-0.default": {  # mesh.json keys pods NAME.NAMESPACE
        "ip": "127.50.1.5",
        "namespace": "default",
        "labels": {"app": "reviews", "version": "v2", "service.istio.io/canonical-name": "r"},
    }
}


def test_pods_are_targets_with_kubernetes_meta_labels() -> None:
    (entry,) = pod_targets(PROXIES)
    assert entry["targets"] == ["127.50.1.5:15020"]
    labels = entry["labels"]
    assert labels["__meta_kubernetes_pod_name"] == "reviews-v2-0"
    assert labels["__meta_kubernetes_pod_label_app"] == "reviews"
    assert labels["__meta_kubernetes_pod_label_service_istio_io_canonical_name"] == "r"
    assert labels["__meta_kubernetes_pod_annotation_prometheus_io_path"] == "/stats/prometheus"


def test_config_has_istios_pod_job_and_the_service_monitor_job(tmp_path: Path) -> None:
    monitor = ServiceMonitor(
        "m", "istio-system", (("istio", "pilot"),), (MonitorEndpoint("http-monitoring"),)
    )
    other = ServiceMonitor("x", "default", (("app", "nothing"),), (MonitorEndpoint("web"),))
    config = json.loads(prometheus_config(str(tmp_path), "127.50.0.1", (monitor, other), "5s"))
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(jobs) == {"kubernetes-pods", "serviceMonitor/istio-system/m/0"}
    relabel = jobs["kubernetes-pods"]["relabel_configs"]
    assert {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"} in relabel
    target = jobs["serviceMonitor/istio-system/m/0"]["static_configs"][0]
    assert target["targets"] == ["127.50.0.1:15014"] and target["labels"]["job"] == "istiod"
    if shutil.which("promtool"):
        (tmp_path / "prometheus.yml").write_text(json.dumps(config))
        (tmp_path / "rules").mkdir()
        check = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                               capture_output=True, text=True)  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr


def test_prometheus_rule_is_checked_and_becomes_a_rule_file(tmp_path: Path) -> None:
    errors: list[tuple[str, str]] = []
    spec = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": "1m"}]}]}
    rule = parse_prometheus_rule("r", "default", spec, errors)
    assert errors == [] and isinstance(rule, PrometheusRule)
    if shutil.which("promtool"):
        (tmp_path / "r.yaml").write_text(rule_file(rule))
        check = subprocess.run(["promtool", "check", "rules", str(tmp_path / "r.yaml")],
                               capture_output=True, text=True)  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
    bad: list[tuple[str, str]] = []
    both = {"groups": [{"name": "g", "rules": [{"alert": "A", "record": "b", "expr": "1"}]}]}
    assert parse_prometheus_rule("r", "default", both, bad) is None
    assert bad == [("spec.groups[0].rules[0]", "needs exactly one of alert or record")]
    bad.clear()
    assert parse_service_monitor("m", "default", {"endpoints": []}, bad) is None
    assert bad == [("spec.selector.matchLabels", "is required")]


@pytest.mark.parametrize(
    ("expr", "unknown"),
    [
        (
            "sum(rate(istio_request_duration_seconds_bucket[5m])) by (le)",
            ["istio_request_duration_seconds_bucket"],
        ),
        (
            "histogram_quantile(0.9, sum(rate("
            "istio_request_duration_milliseconds_bucket[1m])) by (le))",
            [],
        ),
        ('sum(istio_requests_total{destination_service="istio_fake"})', []),
    ],
)
def test_unknown_istio_metrics(expr: str, unknown: list[str]) -> None:
    from pilotfish.config.istio_metrics import unknown_istio_metrics

    assert unknown_istio_metrics(expr) == unknown
