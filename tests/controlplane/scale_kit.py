"""bench's scale topology (`bench/scale_mesh.py`: 4 namespaces x 8 services, two versions each,
VirtualServices and DestinationRules) held by a control plane, for the on-demand scope tests:
`build` applies its manifest and config and sets its instances (every proxy counted as
connected), `connect` gives a proxy its first snapshot (delta by default, or state of the world).
The `on_demand_mesh` fixture (conftest.py) builds one under the test's own folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.model.node import DELTA_XDS_KEY

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scale_mesh import Instance, Topology

__all__ = ["Instance", "MakeMesh", "OnDemandMesh", "Topology", "build", "connect"]

OnDemandMesh = tuple[ControlPlane, Topology, list[Instance]]


class MakeMesh(Protocol):
    """The `on_demand_mesh` fixture: a mesh in the test's folder (or a sub-folder `name`)."""

    def __call__(
        self, name: str = "", *, clusters: bool = True, routes: bool = False
    ) -> OnDemandMesh: ...


def build(path: Path, clusters: bool, routes: bool) -> OnDemandMesh:
    """A control plane in `path` with on-demand clusters and/or virtual hosts as asked."""
    topo = Topology(4, 8)
    cp = ControlPlane(path, on_demand_clusters=clusters, on_demand_routes=routes)
    cp.load_state()
    assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
    cp.connected = lambda: list(cp.proxies)
    instances = topo.instances()
    cp.set_instances([instance_from_json(i.row()) for i in instances])
    return cp, topo, instances


def connect(cp: ControlPlane, instance: Instance, delta: bool = True) -> None:
    """The proxy's first snapshot, as its xDS stream (delta, or state of the world) asks it."""
    metadata = instance.metadata(9000) | ({DELTA_XDS_KEY: "true"} if delta else {})
    assert cp.snapshot_for_node(instance.node_id, metadata) is not None
