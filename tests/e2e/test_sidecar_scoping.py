"""The Sidecar resource on Bookinfo, through real Envoys: egress host scoping (measured as the
drop in clusters and config-dump bytes Envoy holds), workloadSelector, the root-namespace default
applying mesh-wide (outboundTrafficPolicy REGISTRY_ONLY), with the page still served.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.l4kit import http_server, proxy_get
from tests.e2e.meshctl import LocalMesh, http, running_mesh

REVIEWS_ONLY_RATINGS = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reviews}
spec:
  workloadSelector: {labels: {app: reviews}}
  egress:
  - hosts: ["./ratings.default.svc.cluster.local", "istio-system/*"]
"""

ROOT_REGISTRY_ONLY = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: istio-system}
spec:
  egress:
  - hosts: ["*/*"]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/bookinfo") as mesh:
        yield mesh


def _envoy_config(mesh: LocalMesh, instance: str) -> tuple[int, int]:
    """(dynamic clusters, config_dump bytes) as the instance's Envoy holds them."""
    ip = mesh.proxy(instance)["ip"]
    dump = http(f"http://{ip}:15000/config_dump?include_eds").body
    clusters = 0
    for section in json.loads(dump)["configs"]:
        clusters += len(section.get("dynamic_active_clusters", []))
    return clusters, len(dump.encode())


def test_egress_hosts_shrink_the_config_and_the_page_still_works(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    before = _envoy_config(mesh, "reviews-v2-0")
    other_before = _envoy_config(mesh, "productpage-v1-0")
    path = tmp_path / "sidecar.yaml"
    path.write_text(REVIEWS_ONLY_RATINGS)
    mesh.apply(str(path))
    mesh.wait_for(lambda: _envoy_config(mesh, "reviews-v2-0")[0] < before[0], what="scoping")
    after = _envoy_config(mesh, "reviews-v2-0")
    print(
        f"\nreviews-v2 Envoy: clusters {before[0]} -> {after[0]}, "
        f"config_dump bytes {before[1]} -> {after[1]}"
    )
    assert after[0] < before[0] and after[1] < before[1]
    assert _envoy_config(mesh, "productpage-v1-0")[0] == other_before[0]  # not selected
    pages = [mesh.get("/productpage").body for _ in range(12)]
    assert any('color="black"' in p for p in pages), "reviews-v2 must still reach ratings"


def test_root_namespace_sidecar_applies_mesh_wide(mesh: LocalMesh, tmp_path: Path) -> None:
    row = mesh.info["proxies"]["productpage-v1-0.default"]
    proxy = (row["ip"], row["outbound_port"])
    with http_server("outside") as (host, port):
        assert proxy_get(proxy, f"http://{host}:{port}/")[0] == 200
        path = tmp_path / "root.yaml"
        path.write_text(ROOT_REGISTRY_ONLY)
        mesh.apply(str(path))
        assert proxy_get(proxy, f"http://{host}:{port}/")[0] == 502
    assert mesh.get("/productpage").status == 200
