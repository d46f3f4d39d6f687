"""CPU of the scale benchmark's two small changes, repeated, in process, as the API runs them.

    .venv/bin/python bench/small_changes_cpu.py [--services 1000] [--proxies 2000]
                                                [--repeats 8] [--what targeted,endpoint]

`ControlPlane` with on-demand clusters and virtual hosts on the scale benchmark's mesh
(`scale_mesh.Topology`), every proxy connected as a delta sidecar asking for two services and a
host no service has, as `on_demand_routes_cpu.py --routes` sets it up. Then, `--repeats` times:
the targeted change (one VirtualService's weights, `ControlPlane.apply`) and the endpoint
change (one workload scaled and back: the instance list's JSON body read as the API reads it,
then `ControlPlane.set_instances`), each with collections paused (`gc_freeze.pause`) and
timed in process CPU, then the idle collection after it (`ControlPlane.release_idle`) timed
apart. Prints each change's milliseconds and the medians. Run it with another tree's `src` on
PYTHONPATH (this bench's own modules stay) to compare two trees side by side; a tree without
`InstanceRows` reads each row anew (`instance_from_json`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from scale_mesh import OUTSIDE_HOST, Topology

from pilotfish.controlplane import gc_freeze
from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.model.node import DELTA_XDS_KEY
from pilotfish.registry.types import WorkloadInstance


def row_reader() -> Callable[[list[Any]], list[WorkloadInstance]]:
    """How the API reads an instance list: `InstanceRows` where the tree has it."""
    try:
        from pilotfish.controlplane.instances import InstanceRows
    except ImportError:
        return lambda rows: [instance_from_json(r) for r in rows]
    reader: Callable[[list[Any]], list[WorkloadInstance]] = InstanceRows().read
    return reader


def connected(
    topo: Topology, home: Path, read: Callable[[list[Any]], list[WorkloadInstance]]
) -> ControlPlane:
    cp = ControlPlane(home, on_demand_clusters=True, on_demand_routes=True)
    cp.load_state()
    gc_freeze.install()
    assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
    cp.connected = lambda: list(cp.proxies)
    instances, names = topo.instances(), topo.names
    cp.set_instances(read([i.row() for i in instances]))  # as the launcher reports them
    gc_freeze.pause()
    for n, instance in enumerate(instances):
        cp.snapshot_for_node(instance.node_id, instance.metadata(9000) | {DELTA_XDS_KEY: "true"})
        called = [(n + k) % len(names) for k in (1, 7)]
        cp.demand(instance.node_id, tuple(topo.cluster(i) for i in called))
        hosts = tuple(f"http_proxy/{names[i][1]}.{names[i][0]}:8080" for i in called)
        cp.demand_hosts(instance.node_id, (*hosts, f"http_proxy/{OUTSIDE_HOST}"))
    cp.release_idle()
    return cp


def timed(cp: ControlPlane, change: Callable[[], int]) -> tuple[float, float, int]:
    """(change CPU s, idle collection CPU s, proxies pushed)."""
    gc_freeze.pause()  # as `controlplane.api` does around a change
    started = time.process_time()
    pushed = change()
    cpu = time.process_time() - started
    cp.release_idle()
    return cpu, time.process_time() - started - cpu, pushed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--proxies", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--what", default="targeted,endpoint")
    args = parser.parse_args()
    topo = Topology(args.services, args.proxies)
    with tempfile.TemporaryDirectory(prefix="pilotfish-small-") as home:
        read = row_reader()
        cp = connected(topo, Path(home), read)
        ns, svc = topo.names[len(topo.names) // 2]
        scaled = topo.workloads()[len(topo.workloads()) // 3]
        bodies = [
            json.dumps({"instances": [i.row() for i in topo.instances(scaled=s)]}).encode()
            for s in (scaled, None)
        ]

        def targeted(weight: int) -> int:
            change = [("vs.yaml", topo.virtual_service(ns, svc, weight))]
            result = cp.apply(change, None, time.monotonic())
            assert result.ok, result.diagnostics
            return len(result.affected)

        def endpoint(body: bytes) -> int:
            rows = read(list(json.loads(body)["instances"]))
            return len(cp.set_instances(rows, time.monotonic()))

        found: dict[str, list[tuple[float, float, int]]] = {"targeted": [], "endpoint": []}
        for repeat in range(args.repeats):
            if "targeted" in args.what:
                found["targeted"].append(timed(cp, partial(targeted, 80 - repeat % 20)))
            if "endpoint" in args.what:
                found["endpoint"].append(timed(cp, partial(endpoint, bodies[repeat % 2])))
    for name, runs in found.items():
        if runs:
            changes = " ".join(f"{c * 1000:.0f}" for c, _, _ in runs)
            idles = " ".join(f"{i * 1000:.0f}" for _, i, _ in runs)
            print(f"{name}: change {changes} ms; idle collection {idles} ms; ", end="")
            print(f"pushed {sorted({p for _, _, p in runs})}")
            change_ms = statistics.median(c for c, _, _ in runs) * 1000
            idle_ms = statistics.median(i for _, i, _ in runs) * 1000
            print(f"{name}: median change {change_ms:.1f} ms + idle collection {idle_ms:.1f} ms")


if __name__ == "__main__":
    main()
