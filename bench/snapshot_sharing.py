"""What the one snapshot cache (`pilotfish.xds.cache.SnapshotCache`) shares between proxies.

    .venv/bin/python bench/snapshot_sharing.py [--services 100] [--proxies 200]

Builds the scale benchmark's mesh (`scale_mesh.Topology`) in-process through `ControlPlane`
(apply, instances, then every proxy's snapshot), twice in one run: with the cache's sharing
(equal snapshots and equal per-type resource sets held once) and with it turned off, as before
the cache. Prints, for each, the distinct per-type resource sets held for all proxies and the
bytes of the wildcard CDS and LDS responses the server builds for them (each distinct resource
set builds its response once, however many streams send it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_mesh import Topology

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.xds import cache as cache_module
from pilotfish.xds.resources import CLUSTER, LISTENER, PUSH_ORDER, Snapshot


def measure(share: bool, services: int, proxies: int) -> dict[str, float]:
    topology = Topology(services, proxies)
    original = cache_module.SnapshotCache._shared
    if not share:

        def unshared(self: cache_module.SnapshotCache, snapshot: Snapshot) -> Snapshot:
            return snapshot

        cache_module.SnapshotCache._shared = unshared  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cp = ControlPlane(Path(tmp))
            cp.load_state()
            files = [("m.yaml", topology.manifest_yaml()), ("c.yaml", topology.config_yaml())]
            assert cp.apply(files).ok
            cp.connected = lambda: list(cp.proxies)
            instances = topology.instances()
            cp.set_instances([instance_from_json(i.row()) for i in instances])
            started = time.perf_counter()
            for instance in instances:
                cp.snapshot_for_node(instance.node_id, instance.metadata(9000))
            seconds = time.perf_counter() - started
            sets: set[int] = set()
            bodies: dict[int, int] = {}
            for node in cp.cache.nodes():
                snapshot = cp.cache.get(node)
                assert snapshot is not None
                sets.update(id(snapshot.resources(t)) for t in PUSH_ORDER)
                for type_url in (CLUSTER, LISTENER):  # wildcard: one response per resource set
                    view = snapshot.resources(type_url).sotw_view(None)
                    bodies[id(view.body)] = len(view.body)
            stats = cp.cache.stats()
            return {
                "nodes": stats.nodes,
                "snapshots": stats.snapshots,
                "type_sets": len(sets),
                "cds_lds_mb": sum(bodies.values()) / 1e6,
                "seconds": seconds,
            }
    finally:
        cache_module.SnapshotCache._shared = original  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--proxies", type=int, default=200)
    args = parser.parse_args()
    before = measure(False, args.services, args.proxies)
    after = measure(True, args.services, args.proxies)
    print(
        f"load average {os.getloadavg()[0]:.1f}; {args.services} services, {args.proxies} proxies"
    )
    print("| cache | snapshots held | per-type resource sets | wildcard CDS+LDS response MB |")
    print("|---|---|---|---|")
    for name, row in (("no sharing (before)", before), ("shared (after)", after)):
        sets, mb = row["type_sets"], row["cds_lds_mb"]
        print(f"| {name} | {row['snapshots']:.0f} | {sets:.0f} | {mb:.1f} |")
    ratio = before["cds_lds_mb"] / after["cds_lds_mb"]
    print(f"sharing: response bytes held {ratio:.1f}x fewer")


if __name__ == "__main__":
    main()
