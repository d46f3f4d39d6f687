"""Pods as `kubectl get pod -o yaml` shows them in Istio: what the injector writes, and the
core/v1 status fields kubectl's READY and RESTARTS columns are made from (pure parts)."""

from __future__ import annotations

import json
from typing import Any

from pilotfish.cli import kube_pods
from pilotfish.cli.kube_get import _restarts_column

SIDECAR: dict[str, Any] = {
    "instance": "reviews-v2-0",
    "workload": "reviews-v2",
    "namespace": "default",
    "type": "sidecar",
    "app": "reviews",
    "ip": "127.9.1.1",
    "labels": {"app": "reviews", "version": "v2"},
    "ready": True,
    "envoy_pid": 11,
    "app_pid": 12,
    "created": 1_700_000_000.0,
    "prometheus": {"prometheus.io/scrape": "true", "prometheus.io/port": "15020"},
}
PLAIN = SIDECAR | {"instance": "legacy-0", "workload": "legacy", "sidecar": False, "labels": {}}
INFO: dict[str, Any] = {
    "api": "http://127.9.0.1:15014",
    "proxies": {"reviews-v2-0.default": SIDECAR, "legacy-0.default": PLAIN},
}


def _pod(info: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in kube_pods.pods(info) if p["metadata"]["name"] == name)


def test_an_injected_pod_has_the_injectors_labels_and_annotations() -> None:
    meta = _pod(INFO, "reviews-v2-0")["metadata"]
    assert meta["labels"] == {
        "app": "reviews",
        "version": "v2",
        "security.istio.io/tlsMode": "istio",
        "service.istio.io/canonical-name": "reviews",
        "service.istio.io/canonical-revision": "v2",
    }
    notes = meta["annotations"]
    assert json.loads(notes["sidecar.istio.io/status"])["containers"] == ["istio-proxy"]
    assert notes["istio.io/rev"] == "default"
    assert notes["kubectl.kubernetes.io/default-container"] == "reviews"
    assert notes["kubectl.kubernetes.io/default-logs-container"] == "reviews"
    assert notes["prometheus.io/port"] == "15020"
    plain = _pod(INFO, "legacy-0")["metadata"]  # no sidecar: nothing of the injector's
    assert "sidecar.istio.io/status" not in plain.get("annotations", {})
    assert "security.istio.io/tlsMode" not in plain["labels"]


def test_container_statuses_make_kubectls_ready_and_restarts() -> None:
    pod = _pod(INFO, "reviews-v2-0")
    statuses = pod["status"]["containerStatuses"]
    assert [s["name"] for s in statuses] == ["reviews", "istio-proxy"]
    assert all(s["ready"] and s["started"] and "running" in s["state"] for s in statuses)
    assert kube_pods.ready_containers(pod) == (2, 2)
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"
    assert kube_pods.restarts(pod) == (0, None)
    assert _restarts_column(pod, 1_700_000_500.0) == "0"

    crashed = SIDECAR | {
        "app_pid": None,
        "ready": False,
        "app_restarts": 3,
        "app_restarted_at": 1_700_000_380.0,
        "envoy_restarts": 1,
        "envoy_restarted_at": 1_700_000_100.0,
    }
    pod = _pod({"api": INFO["api"], "proxies": {"reviews-v2-0.default": crashed}}, "reviews-v2-0")
    app, proxy = pod["status"]["containerStatuses"]
    assert (app["ready"], app["started"], app["restartCount"]) == (False, False, 3)
    assert app["state"] == {"waiting": {"reason": "CrashLoopBackOff"}}
    assert app["lastState"] == {"terminated": {"finishedAt": "2023-11-14T22:19:40Z"}}
    assert (proxy["restartCount"], proxy["ready"]) == (1, False)
    assert pod["status"]["phase"] == "Pending"
    assert kube_pods.ready_containers(pod) == (0, 2)
    assert kube_pods.restarts(pod) == (4, "2023-11-14T22:19:40Z")
    assert _restarts_column(pod, 1_700_000_500.0) == "4 (2m ago)"  # kubectl: 4 (2m ago)
