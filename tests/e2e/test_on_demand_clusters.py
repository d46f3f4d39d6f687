"""Bookinfo with on-demand clusters (`PILOTFISH_ON_DEMAND_CLUSTERS=true`, translate.on_demand):
sidecars start with no outbound service cluster, a first request to a service is held by
Envoy's on-demand filter until the control plane sends its cluster, and from then on the
sidecar holds the clusters of the services it called and nothing else. Subset routing, a
mesh-wide STRICT PeerAuthentication (auto mTLS) and the gateway work as without the option.

The tests share one mesh and run in order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tests.e2e.meshctl import LocalMesh, running_mesh

NET = "samples/bookinfo/networking"
STRICT = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    env = {"PILOTFISH_ON_DEMAND_CLUSTERS": "true"}
    with running_mesh(tmp_path_factory, "samples/bookinfo", env=env) as running:
        yield running


def service_clusters(mesh: LocalMesh, pod: str) -> set[str]:
    """The outbound service hosts whose clusters the pod's Envoy holds (`proxy-config`)."""
    result = mesh.pilotfish("proxy-config", "cluster", pod)
    assert result.returncode == 0, result.stdout + result.stderr
    return {
        line.split()[0]
        for line in result.stdout.splitlines()
        if len(line.split()) >= 5 and line.split()[3] == "outbound"
    }


def page_ok(body: str) -> bool:
    return "Reviews served by:" in body and "Error fetching" not in body


def test_sidecars_start_with_no_service_cluster(mesh: LocalMesh) -> None:
    for pod in ("productpage-v1", "reviews-v2", "ratings-v1"):
        assert service_clusters(mesh, pod) == set(), pod
    gateway = mesh.pilotfish("proxy-config", "cluster", "istio-ingressgateway.istio-system")
    assert "productpage.default.svc.cluster.local" in gateway.stdout  # gateways: everything


def test_first_request_succeeds_and_brings_only_the_called_clusters(mesh: LocalMesh) -> None:
    started = time.monotonic()
    first = mesh.get("/productpage")
    first_seconds = time.monotonic() - started
    assert first.status == 200 and page_ok(first.body), first.body[-600:]
    later = []
    for _ in range(5):
        started = time.monotonic()
        assert page_ok(mesh.get("/productpage").body)
        later.append(time.monotonic() - started)
    print(f"first /productpage {first_seconds * 1000:.0f} ms, then {min(later) * 1000:.0f} ms")
    called = {"details.default.svc.cluster.local", "reviews.default.svc.cluster.local"}
    assert service_clusters(mesh, "productpage-v1") == called
    served = mesh.served_by(20)
    assert set(served) == {"reviews-v1-0", "reviews-v2-0", "reviews-v3-0"}, served
    ratings = {"ratings.default.svc.cluster.local"}
    assert service_clusters(mesh, "reviews-v2") == ratings
    assert service_clusters(mesh, "reviews-v3") == ratings
    assert service_clusters(mesh, "reviews-v1") == set()  # v1 shows no stars: calls nobody
    assert service_clusters(mesh, "details-v1") == set()


def test_subset_routing(mesh: LocalMesh) -> None:
    result = mesh.apply(f"{NET}/destination-rule-all.yaml", f"{NET}/virtual-service-all-v1.yaml")
    assert "converged:" in result.stdout, result.stdout
    assert mesh.served_by(10) == {"reviews-v1-0": 10}
    mesh.apply(f"{NET}/virtual-service-reviews-jason-v2-v3.yaml")
    assert mesh.served_by(10, cookie=mesh.login("jason")) == {"reviews-v2-0": 10}
    assert mesh.served_by(10) == {"reviews-v3-0": 10}
    # still only what productpage called: the subsets of its two services
    hosts = service_clusters(mesh, "productpage-v1")
    assert hosts == {"details.default.svc.cluster.local", "reviews.default.svc.cluster.local"}
    subsets = mesh.pilotfish("proxy-config", "cluster", "productpage-v1").stdout
    assert all(f" {v} " in subsets for v in ("v1", "v2", "v3")), subsets


def test_strict_mtls_with_auto_detection(mesh: LocalMesh) -> None:
    result = mesh.pilotfish("apply", "-f", "-", stdin=STRICT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "converged:" in result.stdout, result.stdout
    for _ in range(5):  # every request of the page (details, reviews v3, ratings) over mTLS
        page = mesh.get("/productpage")
        assert page.status == 200 and page_ok(page.body), page.body[-600:]
        assert 'color="red"' in page.body  # reviews-v3 called ratings
    assert service_clusters(mesh, "reviews-v3") == {"ratings.default.svc.cluster.local"}
