"""The sidecars of a real mesh read their own identity from their Envoy's environment
(`telemetry.identity_env`): their agents declare the variables, the control plane writes the
`%ENVIRONMENT(...)%` operators instead of the literals, and the metrics still carry the
workload's own labels (the full label checks are test_telemetry_metrics')."""

from __future__ import annotations

import json

import pytest
from tests.e2e.meshctl import LocalMesh
from tests.e2e.telemetrykit import fetch, poll, scrape, select

from pilotfish.telemetry import identity_env


@pytest.fixture(scope="module")
def mesh(shared_mesh: LocalMesh) -> LocalMesh:
    """The bookinfo group's mesh (tests/e2e/shared_meshes.py)."""
    return shared_mesh


def test_the_sidecars_listeners_read_the_identity_from_the_environment(mesh: LocalMesh) -> None:
    ip = mesh.proxy("productpage-v1-0")["ip"]
    dump = json.loads(fetch(f"http://{ip}:15000/config_dump"))
    listeners = json.dumps(
        [c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump")]
    )
    for variable in (*identity_env.VARIABLES.values(), identity_env.PEER_VARIABLE):
        assert identity_env.operator(variable) in listeners, variable
    # no own label as a literal in the loggers' fixed tags (the inbound service's are)
    assert "b=productpage-v1" not in listeners and "j=productpage-v1" not in listeners
    bootstrap = next(c for c in dump["configs"] if c["@type"].endswith("BootstrapConfigDump"))
    declared = bootstrap["bootstrap"]["node"]["metadata"][identity_env.METADATA_KEY]
    assert declared[identity_env.PEER_VARIABLE].startswith("productpage-v1;default;productpage;")


def test_its_metrics_carry_its_own_labels(mesh: LocalMesh) -> None:
    url = f"http://{mesh.proxy('productpage-v1-0')['ip']}:15090/stats/prometheus"

    def counted() -> bool:
        assert mesh.get("/productpage").status == 200
        samples = scrape(url)
        inbound = select(samples, "istio_requests_total", reporter="destination")
        outbound = select(samples, "istio_requests_total", reporter="source")
        return bool(inbound) and bool(outbound)

    poll(counted, 60, "productpage's requests counted")
    samples = scrape(url)
    for sample in select(samples, "istio_requests_total", reporter="destination"):
        assert sample.labels["destination_workload"] == "productpage-v1"
        assert sample.labels["destination_app"] == "productpage"
        assert sample.labels["destination_version"] == "v1"
        assert sample.labels["destination_canonical_service"] == "productpage"
    for sample in select(samples, "istio_requests_total", reporter="source"):
        assert sample.labels["source_workload"] == "productpage-v1"
        assert sample.labels["source_workload_namespace"] == "default"
        assert sample.labels["source_cluster"] == "Kubernetes"
