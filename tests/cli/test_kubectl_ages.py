"""kubectl's AGE and the columns around it, on the local mesh's objects (pure parts): the age
format of apimachinery's HumanDuration, AGE from the creation time the store writes (config
tables with the columns of Istio's CRDs, Deployments, namespaces), `get svc -o wide`'s SELECTOR,
and the LAST SEEN of `get events` from restart and readiness times."""

from __future__ import annotations

from typing import Any

import pytest

from pilotfish.cli import get, kube_cluster_views, kube_get, kube_namespaces, kube_pods, kube_views
from pilotfish.cli.kube_get import _table

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-2, "<invalid>"), (-1, "0s"), (0, "0s"), (1, "1s"), (70, "70s"), (119, "119s"),
        (120, "2m"), (190, "3m10s"), (599, "9m59s"), (600, "10m"), (70 * 60, "70m"),
        (3 * 3600, "3h"), (3 * 3600 + 12 * 60 + 5, "3h12m"), (8 * 3600, "8h"), (47 * 3600, "47h"),
        (49 * 3600, "2d1h"), (72 * 3600, "3d"), (8 * 86400 + 7200, "8d"), (367 * 86400, "367d"),
        (2 * 365 * 86400 + 86400 + 3600, "2y1d"), (3 * 365 * 86400, "3y"),
        (8 * 365 * 86400 + 7200, "8y"),
    ],
)  # fmt: skip
def test_age_reads_as_kubectl_prints_it(seconds: int, shown: str) -> None:
    assert kube_views.age(seconds) == shown


def _config(kind: str, spec: dict[str, Any], created: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "r", "namespace": "default"}
    if created:
        meta["creationTimestamp"] = created
    return {"kind": kind, "metadata": meta, "spec": spec}


def test_config_tables_have_the_crds_columns_and_age(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pilotfish.cli.get.time.time", lambda: NOW + 3 * 86400 + 3600)
    vs = _config("VirtualService", {"hosts": ["r"], "gateways": ["g"]}, "2023-11-14T22:13:20Z")
    rows = [line.split() for line in get._table("VirtualService", [vs], False).splitlines()]
    assert rows == [["NAME", "GATEWAYS", "HOSTS", "AGE"], ["r", '["g"]', '["r"]', "3d1h"]]
    entry = _config("WorkloadEntry", {"address": "10.0.0.1"}, "2023-11-14T22:13:20Z")
    rows = [line.split() for line in get._table("WorkloadEntry", [entry], True).splitlines()]
    assert rows == [["NAMESPACE", "NAME", "AGE", "ADDRESS"], ["default", "r", "3d1h", "10.0.0.1"]]
    gateway = _config("Gateway", {}, None)  # a CRD without printer columns: AGE alone
    rows = [line.split() for line in get._table("Gateway", [gateway], False).splitlines()]
    assert rows == [["NAME", "AGE"], ["r", "<unknown>"]]


INFO: dict[str, Any] = {
    "api": "http://127.9.0.1:15014",
    "control_plane_created": NOW,
    "written_at": NOW + 100,
    "proxies": {
        "web-0.shop": {
            "instance": "web-0", "workload": "web", "namespace": "shop", "type": "sidecar",
            "ip": "127.9.1.1", "labels": {"app": "web"}, "ready": False, "envoy_pid": 1,
            "app_pid": 2, "created": NOW + 10, "app_restarts": 2,
            "app_restarted_at": NOW + 40, "envoy_restarted_at": None,
            "app_events": [{  # its second restart waited for the back-off
                "type": "Warning", "reason": "BackOff", "count": 1, "first": NOW + 30,
                "last": NOW + 30, "message": "Back-off restarting failed container web in pod p",
            }],
        },
    },
}  # fmt: skip


def test_deployments_and_namespaces_age_from_their_documents() -> None:
    meta = {"name": "web", "namespace": "shop", "creationTimestamp": "2023-11-14T22:13:25Z"}
    web: dict[str, Any] = {"kind": "Deployment", "metadata": meta, "spec": {}}  # before its pod
    found = kube_views.deployments(INFO, [web])
    shop = next(d for d in found if d["metadata"]["name"] == "web")
    assert kube_views.age_of(shop["metadata"], NOW + 65) == "60s"
    docs = [{"kind": "Namespace", "metadata": {"name": "late", "creationTimestamp":
                                                "2023-11-14T22:15:00Z"}}, web]  # fmt: skip
    spaces = {
        n["metadata"]["name"]: kube_views.age_of(n["metadata"], NOW + 300)
        for n in kube_namespaces.namespaces(INFO, docs, kube_pods.pods(INFO))
    }
    assert spaces == {"default": "5m", "istio-system": "5m", "late": "3m20s", "shop": "4m55s"}


def test_services_wide_show_their_selector() -> None:
    svc = {
        "kind": "Service",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "creationTimestamp": "2023-11-14T22:13:20Z",
        },
        "spec": {"selector": {"version": "v1", "app": "web"}, "ports": [{"port": 80}]},
    }
    bare = {"kind": "Service", "metadata": {"name": "ext", "namespace": "shop"}, "spec": {}}
    table = _table("svc", [svc, bare], NOW + 30, "", False, True).splitlines()
    assert table[0].split() == [
        "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR",
    ]  # fmt: skip
    assert table[1].split()[-2:] == ["30s", "app=web,version=v1"]
    assert table[2].split()[-2:] == ["<unknown>", "<none>"]
    assert "SELECTOR" not in _table("svc", [svc], NOW, "", False, False)


def test_events_are_last_seen_at_the_back_off_and_the_readiness_read() -> None:
    """Two restarts, one of which waited: one BackOff event (the kubelet's, as it recorded it),
    not one per restart."""
    seen = {
        e["reason"]: e
        for e in kube_cluster_views.events(INFO)
        if e["metadata"]["namespace"] == "shop"
    }
    assert (
        seen["BackOff"]["lastTimestamp"] == "2023-11-14T22:13:50Z" and seen["BackOff"]["count"] == 1
    )
    assert seen["Unhealthy"]["lastTimestamp"] == "2023-11-14T22:15:00Z"
    assert seen["Scheduled"]["lastTimestamp"] == "2023-11-14T22:13:30Z"
    assert all(e["metadata"]["creationTimestamp"] == e["lastTimestamp"] for e in seen.values())


def test_deployments_wide_show_containers_images_and_selector() -> None:
    """kubectl's `get deploy -o wide`: the template's containers (the injected proxy is the
    pod's, not the template's) and images, and the selector."""
    meta = {"name": "web", "namespace": "shop", "labels": {"app": "web", "tier": "front"}}
    workload: dict[str, Any] = {"kind": "Workload", "metadata": meta, "spec": {}}
    found = {d["metadata"]["name"]: d for d in kube_views.deployments(INFO, [workload])}
    assert found["web"]["spec"]["template"]["spec"]["containers"] == [{"name": "web"}]
    assert kube_get.template_columns(found["web"]["spec"]) == [
        "web", "<none>", "app=web,tier=front",
    ]  # fmt: skip
    applied = {
        "selector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "track", "operator": "In", "values": ["b", "a"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        },
        "template": {"spec": {"containers": [{"name": "w", "image": "i:1"}, {"name": "s"}]}},
    }
    assert kube_get.template_columns(applied) == ["w,s", "i:1", "app=web,!canary,track in (a,b)"]
    assert kube_get.format_selector(None) == "<none>"
