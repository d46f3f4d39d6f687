"""Pods as `kubectl get pod -o yaml` shows them in Istio: what the injector writes, and the
core/v1 status fields kubectl's READY and RESTARTS columns are made from (pure parts)."""

from __future__ import annotations

import json
import time
from typing import Any

from pilotfish.cli import kube_cluster_views, kube_pods
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

    # its 4th run ended (exit 2) at ...380 after 10 s; its restart waits for the back-off
    message = "back-off 40s restarting failed container=reviews pod=reviews-v2-0_default(u)"
    crashed = SIDECAR | {
        "app_pid": None,
        "ready": False,
        "app_restarts": 3,
        "app_restarted_at": 1_700_000_340.0,
        "app_exit_code": 2,
        "app_last_started_at": 1_700_000_370.0,
        "app_finished_at": 1_700_000_380.0,
        "app_waiting": message,
        "envoy_restarts": 1,
        "envoy_restarted_at": 1_700_000_100.0,
    }
    pod = _pod({"api": INFO["api"], "proxies": {"reviews-v2-0.default": crashed}}, "reviews-v2-0")
    app, proxy = pod["status"]["containerStatuses"]
    assert (app["ready"], app["started"], app["restartCount"]) == (False, False, 3)
    assert app["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
    assert app["lastState"] == {"terminated": {
        "exitCode": 2, "reason": "Error", "startedAt": "2023-11-14T22:19:30Z",
        "finishedAt": "2023-11-14T22:19:40Z",
    }}  # fmt: skip
    assert kube_pods.status_column(pod) == "CrashLoopBackOff"
    assert (proxy["restartCount"], proxy["ready"]) == (1, True)  # it runs: ready, the pod not
    assert pod["status"]["phase"] == "Running"  # restarting: every container ran
    assert kube_pods.ready_containers(pod) == (1, 2)
    assert kube_pods.restarts(pod) == (4, "2023-11-14T22:19:40Z")
    assert _restarts_column(pod, 1_700_000_500.0) == "4 (2m ago)"  # kubectl: 4 (2m ago)
    # just ended, restarted at once (no back-off yet): the kubelet shows it terminated
    ended = crashed | {"app_waiting": ""}
    pod = _pod({"api": INFO["api"], "proxies": {"reviews-v2-0.default": ended}}, "reviews-v2-0")
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error"
    assert kube_pods.status_column(pod) == "Error"


def test_a_pod_of_several_containers_lists_each_with_its_own_status() -> None:
    """Each app container in the pod's order, then istio-proxy (`3/3`); a container ended for
    good (restartPolicy Never) is terminated with its exit code, and kubectl says Error; the
    pod's own default container wins over the injector's."""
    row = SIDECAR | {
        "app_containers": ["web", "job", "helper"],
        "containers": {
            "job": {"pid": 31, "restarts": 2, "restarted_at": 1_700_000_100.0},
            "helper": {"pid": 32, "restarts": 0},
        },
        "default_container": "helper",
    }
    pod = _pod({"proxies": {"reviews-v2-0.default": row}}, "reviews-v2-0")
    statuses = pod["status"]["containerStatuses"]
    assert [s["name"] for s in statuses] == ["web", "job", "helper", "istio-proxy"]
    assert [s["restartCount"] for s in statuses] == [0, 2, 0, 0]
    assert kube_pods.ready_containers(pod) == (4, 4)
    assert kube_pods.status_column(pod) == "Running"
    notes = pod["metadata"]["annotations"]
    assert notes["kubectl.kubernetes.io/default-container"] == "helper"
    ended = row | {
        "ready": False,
        "containers": {
            "job": {"pid": None, "exit_code": 3, "done": True, "finished_at": 1_700_000_200.0},
            "helper": {"pid": 32},
        },
    }
    pod = _pod({"proxies": {"reviews-v2-0.default": ended}}, "reviews-v2-0")
    job = pod["status"]["containerStatuses"][1]
    assert job["state"] == {
        "terminated": {"exitCode": 3, "reason": "Error", "finishedAt": "2023-11-14T22:16:40Z"}
    }
    assert kube_pods.ready_containers(pod) == (3, 4)
    assert kube_pods.status_column(pod) == "Error"
    done = ended | {"containers": ended["containers"] | {"job": {"exit_code": 0, "done": True}}}
    pod = _pod({"proxies": {"reviews-v2-0.default": done}}, "reviews-v2-0")
    assert kube_pods.status_column(pod) == "NotReady"  # Completed beside running ones


def test_probe_events_and_startup_as_kubectl_shows_them() -> None:
    """A container's probe events (the kubelet's, `agent.kubelet_probes`) become Event objects
    and `describe pod`'s Events table; a container whose startupProbe has not passed is
    running but not `started` (nor ready), and its pod stays Running."""
    now = time.time()
    events = [
        {"type": "Warning", "reason": "Unhealthy", "count": 3, "first": now - 20, "last": now - 10,
         "message": "Liveness probe failed: HTTP probe failed with statuscode: 404"},
        {"type": "Normal", "reason": "Killing", "count": 1, "first": now - 10, "last": now - 10,
         "message": "Container reviews failed liveness probe, will be restarted"},
    ]  # fmt: skip
    probed = SIDECAR | {"app_events": events, "app_started": False}
    info = INFO | {"proxies": {"reviews-v2-0.default": probed}}
    status = _pod(info, "reviews-v2-0")["status"]
    first = status["containerStatuses"][0]
    assert (first["started"], first["ready"], "running" in first["state"]) == (False, False, True)
    assert kube_pods.ready_containers(_pod(info, "reviews-v2-0")) == (1, 2)  # istio-proxy's
    assert status["phase"] == "Running"
    found = [e for e in kube_cluster_views.events(info) if "firstTimestamp" in e]
    assert [(e["reason"], e["count"], e["message"]) for e in found] == [
        ("Unhealthy", 3, events[0]["message"]),
        ("Killing", 1, events[1]["message"]),
    ]
    assert found[0]["firstTimestamp"] < found[0]["lastTimestamp"]
    assert kube_cluster_views.describe_events(info, "default", "reviews-v2-0") == [
        "Events:",
        "  Type     Reason     Age                From     Message",
        "  ----     ------     ----               ----     -------",
        "  Warning  Unhealthy  10s (x3 over 20s)  kubelet  " + str(events[0]["message"]),
        "  Normal   Killing    10s                kubelet  " + str(events[1]["message"]),
    ]
    assert kube_cluster_views.describe_events(INFO, "default", "reviews-v2-0") == []
