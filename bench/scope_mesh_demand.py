"""`scope_mesh.Mesh` with pilotfish's default on: on-demand clusters and virtual hosts.

Every proxy connects over delta xDS and, as bench/scale.py's sidecars do, asks for the clusters
and virtual hosts of two services and for a host no service has (`OUTSIDE_HOST`). After each
change, `DemandMesh.check` builds a fresh control plane from the same state (a copy of the
state directory, the same instance list) and gives it the same proxies, each with everything
it has asked for so far, at once: every proxy's published snapshot must be the one the fresh
control plane gives it (same content version). What is compared is what each proxy is sent, so
a proxy the live control plane left alone (it holds nothing a change touched) must hold what a
fresh generation gives it too. In process, no xDS, no Envoy.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from scale_mesh import OUTSIDE_HOST, Instance
from scope_mesh import Mesh

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.model.node import DELTA_XDS_KEY


class DemandMesh(Mesh):
    strict = False  # what on demand scopes is checked by equality with a fresh control plane

    def __init__(self, tmp: Path, seed: int) -> None:
        self.metadata: dict[str, dict[str, Any]] = {}  # node id -> its node metadata
        self.checks = 0
        super().__init__(tmp / "live", seed)

    def control_plane(self, state_dir: Path) -> ControlPlane:
        return ControlPlane(state_dir, on_demand_clusters=True, on_demand_routes=True)

    def connect(self, instance: Instance) -> None:
        """Connect over delta, then ask for two services' clusters and virtual hosts."""
        metadata = instance.metadata(9000) | {DELTA_XDS_KEY: "true"}
        self.metadata[instance.node_id] = metadata
        assert self.cp.snapshot_for_node(instance.node_id, metadata) is not None
        names = self.topo.names
        n = len(self.metadata)
        wanted = [names[(n + k) % len(names)] for k in (1, 7)]
        self.cp.demand(instance.node_id, tuple(self.topo.cluster(names.index(w)) for w in wanted))
        hosts = [f"http_proxy/{svc}.{ns}:8080" for ns, svc in wanted]
        self.cp.demand_hosts(instance.node_id, (*hosts, f"http_proxy/{OUTSIDE_HOST}"))

    def check(self, what: str) -> None:
        self.checks += 1
        state = self.tmp.parent / f"fresh-{self.checks}"  # self.tmp: the live state
        shutil.copytree(self.tmp, state)
        fresh = self.control_plane(state)
        fresh.load_state()
        fresh.connected = lambda: list(fresh.proxies)
        fresh.set_instances([instance_from_json(r) for r in self.rows])
        assert self.cp.proxies, "no proxy connected"
        for node_id in sorted(self.cp.proxies):
            assert fresh.snapshot_for_node(node_id, self.metadata[node_id]) is not None
            fresh.demand(node_id, tuple(sorted(self.cp.demanded.get(node_id, ()))))
            fresh.demand_hosts(node_id, tuple(sorted(self.cp.asked_hosts.get(node_id, ()))))
        for node_id in sorted(self.cp.proxies):
            live, scratch = self.cp.snapshots[node_id], fresh.snapshots[node_id]
            differ = [
                t
                for t in sorted(set(live.type_urls()) | set(scratch.type_urls()))
                if live.version_of(t) != scratch.version_of(t)
            ]
            assert not differ, f"{what}: {node_id} differs from a fresh control plane: {differ}"
        shutil.rmtree(state)
