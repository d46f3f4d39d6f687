"""The peer exchange exists only while something reads it (`policy.peers_exchanged`), through
real Envoys: with every server-side metric off mesh-wide, no sidecar sends its identity (its
config holds no sending filter) and nothing is counted; a Telemetry turning the server-side
metrics of one namespace on again brings it back, and the servers' requests name their client
with Istio's labels."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from tests.e2e.httpkit import SidecarClient, apply_yaml
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.e2e.telemetrykit import fetch, poll, probe_manifest, scrape, select, total

from pilotfish.telemetry.exchange import IDENTITY_FILTER, PEER_HEADER

PROBE = "http://probe:8000/headers"
SERVER_METRICS = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: %s, namespace: %s}
spec:
  metrics: [{overrides: [{match: {metric: ALL_METRICS, mode: SERVER}, disabled: %s}]}]
"""
MESH_OFF = SERVER_METRICS % ("mesh-default", "istio-system", "true")
DEFAULT_ON = SERVER_METRICS % ("servers-counted", "default", "false")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, None) as mesh:
        apps = tmp_path_factory.mktemp("apps")
        (apps / "probe.yaml").write_text(probe_manifest(apps))
        mesh.apply("samples/sleep/sleep.yaml", str(apps / "probe.yaml"))
        for instance in ("sleep-0.default", "probe-v1-0.default"):
            mesh.wait_for(partial(_started, mesh, instance), 60, f"{instance} up")
        client = SidecarClient(mesh, "sleep-0")
        mesh.wait_for(lambda: client.request(PROBE).status == 200, 60, "probe reachable")
        yield mesh


def _started(mesh: LocalMesh, node: str) -> bool:
    return node in mesh.info["proxies"]


def _sends(mesh: LocalMesh) -> bool:
    """Whether sleep's sidecar has the filter that sends its identity (its config dump)."""
    ip = mesh.proxy("sleep-0")["ip"]
    dump = json.loads(fetch(f"http://{ip}:15000/config_dump"))
    listeners = [c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump")]
    return f'"{IDENTITY_FILTER}"' in json.dumps(listeners)


def _served(mesh: LocalMesh) -> float:
    ip = mesh.proxy("probe-v1-0")["ip"]
    samples = scrape(f"http://{ip}:15090/stats/prometheus")
    return total(samples, "istio_requests_total", reporter="destination", source_workload="sleep")


def test_no_server_counting_means_nothing_sent_and_a_counting_one_brings_it_back(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    client = SidecarClient(mesh, "sleep-0")
    assert _sends(mesh)  # Istio's default: every server counts
    apply_yaml(mesh, tmp_path, MESH_OFF, "off.yaml")
    try:
        assert not _sends(mesh)
        time.sleep(3)  # the replaced listeners drain for a second: later requests use the new
        before = _served(mesh)
        for _ in range(3):
            resp = client.request(PROBE)
            assert resp.status == 200
            assert PEER_HEADER not in {k.lower() for k in json.loads(resp.body)}, resp.body
        time.sleep(1)
        assert _served(mesh) == before  # nothing reads a client's identity: nothing counted
        # the consumer comes back: the namespace's servers count again, clients send again
        apply_yaml(mesh, tmp_path, DEFAULT_ON, "on.yaml")
        assert _sends(mesh)
        time.sleep(3)

        def counted() -> bool:
            resp = client.request(PROBE)
            assert resp.status == 200
            assert PEER_HEADER not in {k.lower() for k in json.loads(resp.body)}, resp.body
            return _served(mesh) >= before + 3

        poll(counted, 30, "probe's requests from sleep counted")
        ip = mesh.proxy("probe-v1-0")["ip"]
        samples = scrape(f"http://{ip}:15090/stats/prometheus")
        series = select(samples, "istio_requests_total", reporter="destination",
                        source_workload="sleep")  # fmt: skip
        assert series
        for sample in series:
            assert sample.labels["source_app"] == "sleep"
            assert sample.labels["source_workload_namespace"] == "default"
            assert sample.labels["source_canonical_service"] == "sleep"
            assert sample.labels["destination_workload"] == "probe-v1"
    finally:
        for name in ("servers-counted", "mesh-default"):
            namespace = "istio-system" if name == "mesh-default" else "default"
            mesh.pilotfish("delete", "telemetry", name, "-n", namespace)
