"""MeshConfig `enablePrometheusMerge` as Istio's injector applies it, end to end with a real
Prometheus (`pilotfish dashboard prometheus`, Istio's `kubernetes-pods` job): on (the default),
a pod's `prometheus.io/*` annotations point at the agent's 15020, which merges Envoy's, the
agent's and the app's metrics; `false` (mesh-wide, or a pod's
`prometheus.istio.io/merge-metrics: "false"`) leaves the pod's own annotations, so Prometheus
scrapes the app's port and path itself, and 15020 no longer merges the app.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.e2e.telemetrykit import fetch, poll, probe_manifest, scrape, total

MESH = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    enablePrometheusMerge: false
"""
MERGED_POD = """
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata:
  name: merged
  labels: {app: merged}
  annotations:
    prometheus.istio.io/merge-metrics: "true"
    prometheus.io/scrape: "true"
    prometheus.io/port: "8080"
spec:
  command: [{command}]
  ports: [8080]
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    apps = tmp_path_factory.mktemp("apps")
    (apps / "mesh.yaml").write_text(MESH)
    probe = probe_manifest(apps)
    (apps / "probe.yaml").write_text(probe)
    command = probe.split("command: [", 1)[1].split("]", 1)[0]
    (apps / "merged.yaml").write_text(MERGED_POD.replace("{command}", command))
    with running_mesh(tmp_path_factory, str(apps)) as mesh:
        result = mesh.pilotfish(
            "dashboard", "prometheus", "--no-browser", "--scrape-interval", "1s"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        yield mesh


def query(mesh: LocalMesh, promql: str) -> list[dict[str, Any]]:
    base = json.loads((mesh.home / "run" / "prometheus.json").read_text())["url"]
    body = json.loads(fetch(f"{base}/api/v1/query?query={urllib.parse.quote(promql)}"))
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_without_merge_prometheus_scrapes_the_app_and_15020_does_not_merge_it(
    mesh: LocalMesh,
) -> None:
    ip = mesh.proxy("probe-v1-0")["ip"]
    merged = f"http://{ip}:15020/stats/prometheus"
    samples = scrape(merged)
    assert total(samples, "envoy_server_live") == 1  # Envoy's and the agent's, still
    assert total(samples, "istio_build", component="proxy") == 1
    assert not [s for s in samples if s.name.startswith("probe_app_")]

    def scraped() -> bool:
        found = query(mesh, 'probe_app_hits_total{pod="probe-v1-0"}')
        return len(found) == 1 and found[0]["metric"]["instance"] == f"{ip}:8080"

    poll(scraped, 60, "Prometheus scraping probe's own /metrics on its port")
    assert query(mesh, 'envoy_server_live{pod="probe-v1-0"}') == []  # nothing scrapes 15020


def test_a_pods_own_merge_annotation_wins_over_the_mesh(mesh: LocalMesh) -> None:
    ip = mesh.proxy("merged-0")["ip"]
    samples = scrape(f"http://{ip}:15020/stats/prometheus")
    poll(lambda: total(scrape(f"http://{ip}:15020/stats/prometheus"), "envoy_server_live") == 1)
    assert "probe_app_hits_total" in {s.name for s in samples}  # merged into 15020

    def scraped() -> bool:
        found = query(mesh, 'probe_app_hits_total{pod="merged-0"}')
        return len(found) == 1 and found[0]["metric"]["instance"] == f"{ip}:15020"

    poll(scraped, 60, "Prometheus scraping merged-0's 15020")
