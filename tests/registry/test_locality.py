"""Where workloads are (`config.locality`): pods by their labels, WorkloadEntries and
ServiceEntry endpoints by their `locality`; and the mesh's `localityLbSetting`, checked as a
DestinationRule's."""

from __future__ import annotations

import pytest

from pilotfish.config import load
from pilotfish.config.locality import augmented, from_labels
from pilotfish.config.models.networking.destination_rule import LocalityLoadBalancerSetting
from pilotfish.registry.manifest import parse_manifest
from pilotfish.registry.service_entries import workload_entry_instances


@pytest.mark.parametrize(
    ("labels", "declared", "expected"),
    [
        ({"istio-locality": "region1.zone1"}, "", "region1/zone1"),
        ({"istio-locality": "us-east1.us-east1-b.rack7"}, "", "us-east1/us-east1-b/rack7"),
        (
            {"topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "z2"},
            "",
            "r1/z2",
        ),
        (
            {"istio-locality": "a.b", "topology.kubernetes.io/region": "r1"},
            "",
            "a/b",
        ),
        ({"istio-locality": "a.b"}, "r9/z9", "r9/z9"),
        ({"app": "x"}, "", ""),
        # Istio's GetLocalityLabel: topology.istio.io/locality first, then istio-locality
        ({"topology.istio.io/locality": "r2.z2.s2", "istio-locality": "a.b"}, "", "r2/z2/s2"),
        ({"topology.istio.io/locality": "r2/z2"}, "", "r2/z2"),  # already with slashes
    ],
)
def test_locality_from_labels_as_istio_reads_it(
    labels: dict[str, str], declared: str, expected: str
) -> None:
    assert from_labels(labels, declared) == expected


def test_topology_labels_of_a_locality_join_the_labels() -> None:
    assert augmented({"app": "x"}, "r1/z1") == {
        "app": "x",
        "topology.kubernetes.io/region": "r1",
        "topology.kubernetes.io/zone": "z1",
    }


def test_workload_entries_carry_their_locality() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: default}
spec: {address: 127.9.0.1, locality: region2/zone3, labels: {app: vm}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-2, namespace: default}
spec: {address: 127.9.0.2, labels: {app: vm, istio-locality: region1.zone1}}
"""
    result = load(text, "we.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    found = {i.name: i.resolved_locality for i in workload_entry_instances(result.objects)}
    assert found == {"vm-1": "region2/zone3", "vm-2": "region1/zone1"}


MESH = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    localityLbSetting:
SETTING
"""


def _mesh(setting: str) -> tuple[list[str], LocalityLoadBalancerSetting | None]:
    result = load(MESH.replace("SETTING", setting), "mesh.yaml")
    manifest, problems = parse_manifest(list(result.others))
    return [str(p) for p in problems], manifest.mesh.locality_lb


def test_the_mesh_locality_setting_is_read() -> None:
    problems, found = _mesh("      failover: [{from: region1, to: region3}]")
    assert problems == []
    assert found is not None and [f.to for f in found.failover] == ["region3"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "      failover: [{from: region1, to: region1}]",
            "localityLbSetting.failover[0]: locality lb failover settings must specify "
            "different regions",
        ),
        (
            "      distribute: [{from: 'region1/*', to: {'region2/*': 90}}]",
            "localityLbSetting.distribute[0].to: total locality weight 90 != 100",
        ),
        ("      enabeld: true", "localityLbSetting.enabeld: unknown field"),
    ],
)
def test_a_bad_mesh_locality_setting_is_refused_by_field(setting: str, message: str) -> None:
    problems, found = _mesh(setting)
    assert found is None
    assert problems == [f"mesh.yaml:6: ConfigMap istio at data.mesh: {message}"]
