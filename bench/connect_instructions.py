"""The in-process connect storm of `on_demand_routes_cpu.py --routes`, counted in instructions.

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce \\
        .venv/bin/python bench/connect_instructions.py [--services 100] [--proxies 200]

Every proxy connects as a delta sidecar with on-demand clusters and virtual hosts and asks for
two services' clusters and virtual hosts and a host no service has, as
`on_demand_routes_cpu.py` does. The connect loop alone runs inside `functools.reduce` (which
translation never calls), so callgrind's `--toggle-collect=functools_reduce` counts it and
nothing of the setup: its "Collected" figure does not move with the machine's load (CPU
seconds do, ±15 % on this 2-core VM when other work runs), so two versions can be compared
side by side. Without valgrind it prints the connect's CPU seconds.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

from scale_mesh import OUTSIDE_HOST, Topology

from pilotfish.controlplane import gc_freeze
from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.model.node import DELTA_XDS_KEY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--proxies", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pilotfish-connect-") as home:
        topo = Topology(args.services, args.proxies)
        cp = ControlPlane(Path(home), on_demand_clusters=True, on_demand_routes=True)
        cp.load_state()
        gc_freeze.install()
        assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
        cp.connected = lambda: list(cp.proxies)
        instances = topo.instances()
        cp.set_instances([instance_from_json(i.row()) for i in instances])
        names = topo.names
        metadata = [i.metadata(9000) | {DELTA_XDS_KEY: "true"} for i in instances]

        def connect(_: object, __: object) -> None:
            for n, instance in enumerate(instances):
                cp.snapshot_for_node(instance.node_id, metadata[n])
                called = [(n + k) % len(names) for k in (1, 7)]
                cp.demand(instance.node_id, tuple(topo.cluster(i) for i in called))
                hosts = tuple(f"http_proxy/{names[i][1]}.{names[i][0]}:8080" for i in called)
                cp.demand_hosts(instance.node_id, (*hosts, f"http_proxy/{OUTSIDE_HOST}"))

        gc_freeze.pause()  # as the control plane's API does around a change
        started = time.process_time()
        functools.reduce(connect, [None], None)  # the counted part
        print(f"connect {len(instances)} proxies: {time.process_time() - started:.2f} s CPU")


if __name__ == "__main__":
    main()
