"""Where a proxy bound to loopback connects to a service from follows its endpoints through
incremental pushes (`translate.source_bind`): a MESH_INTERNAL STATIC ServiceEntry selecting the
pods of one service binds 0.0.0.0 once every pod it selects is off the host's loopback, and the
proxy's pod address again once one is back on it. Endpoint moves alone (`set_instances`, an
EDS push) flip it, and every connected proxy's pushed resources equal a translation from
scratch, message for message. Not a timed test."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf import any_pb2

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.model.node import DELTA_XDS_KEY
from pilotfish.translate.generate import generate
from pilotfish.type_urls import CLUSTER as CLUSTER_TYPE

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scale_mesh import PORT, Instance, Topology
from scope_mesh import _dump, _pushed

ENTRY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: vm, namespace: {ns}}}
spec:
  hosts: [vm.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP, targetPort: {port}}}]
  workloadSelector: {{labels: {{app: {app}}}}}
"""
CLUSTER = "outbound|80||vm.example"


def _binds_any(cp: ControlPlane, node_id: str) -> bool:
    """What the proxy's snapshot (what its Envoy is sent) holds of the cluster."""
    held = cp.snapshots[node_id].resources(CLUSTER_TYPE).by_name[CLUSTER].any_bytes
    cluster = cluster_pb2.Cluster()
    assert any_pb2.Any.FromString(held).Unpack(cluster)
    return bool(cluster.upstream_bind_config.source_address.address == "0.0.0.0")


def test_an_endpoint_move_off_loopback_and_back_reaches_the_cluster(tmp_path: Path) -> None:
    topo = Topology(2, 3)
    cp = ControlPlane(tmp_path)
    cp.load_state()
    ns, svc = topo.names[0]
    entry = ENTRY.format(ns=ns, port=PORT, app=svc)
    config = [("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml() + "---\n" + entry)]
    assert cp.apply(config).ok
    cp.connected = lambda: list(cp.proxies)
    instances = topo.instances()
    cp.set_instances([instance_from_json(i.row()) for i in instances])
    clients = [i for i in instances if i.labels.get("app") != svc][:3]
    for client in clients:
        metadata = client.metadata(9000) | {DELTA_XDS_KEY: "true"}
        assert cp.snapshot_for_node(client.node_id, metadata) is not None

    def moved(off: set[str]) -> list[Instance]:
        return [
            replace(i, address=f"10.{i.address.split('.', 1)[1]}") if i.name in off else i
            for i in instances
        ]

    selected = {i.name for i in instances if i.labels.get("app") == svc}
    assert len(selected) > 1
    steps = [
        ("every selected pod off loopback", selected, True),
        ("one back on loopback", selected - {min(selected)}, False),
        ("every one off again", selected, True),
        ("all back", set(), False),
    ]
    for what, off, expected in steps:
        cp.set_instances([instance_from_json(i.row()) for i in moved(off)])
        fresh = cp.push_context()
        for client in clients:
            assert _binds_any(cp, client.node_id) is expected, (what, client.node_id)
            scratch = generate(cp.proxies[client.node_id], fresh)
            assert _dump(_pushed(cp, client.node_id)) == _dump(scratch), (what, client.node_id)
