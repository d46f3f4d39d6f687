"""Bookinfo routing with every Envoy on incremental (delta) xDS: `pilotfish up --delta`, with
on-demand clusters off (`PILOTFISH_ON_DEMAND_CLUSTERS=false`): every sidecar holds every
service over delta xDS. (Delta with on-demand clusters is every other module's default mesh.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.e2e.meshctl import LocalMesh, running_mesh

NET = "samples/bookinfo/networking"


@pytest.fixture(scope="module")
def delta_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    env = {"PILOTFISH_ON_DEMAND_CLUSTERS": "false"}
    with running_mesh(tmp_path_factory, "samples/bookinfo", delta=True, env=env) as mesh:
        yield mesh


def test_routing_changes_over_delta_xds(delta_mesh: LocalMesh) -> None:
    seen = delta_mesh.served_by(30)
    assert set(seen) == {"reviews-v1-0", "reviews-v2-0", "reviews-v3-0"}, seen
    result = delta_mesh.apply(
        f"{NET}/destination-rule-all.yaml", f"{NET}/virtual-service-all-v1.yaml"
    )
    assert "converged:" in result.stdout
    assert delta_mesh.served_by(10) == {"reviews-v1-0": 10}
    delta_mesh.apply(f"{NET}/virtual-service-reviews-v3.yaml")
    assert delta_mesh.served_by(10) == {"reviews-v3-0": 10}
    bootstrap = (delta_mesh.home / "run" / "reviews-v1-0.default" / "envoy.json").read_text()
    assert '"DELTA_GRPC"' in bootstrap
    # on-demand clusters off: details (which calls nobody) holds every service's cluster
    held = delta_mesh.pilotfish("proxy-config", "cluster", "details-v1").stdout
    assert "ratings.default.svc.cluster.local" in held, held
