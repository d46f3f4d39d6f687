"""Route configurations shared by identical proxies: what it saves in push time, side by side.

    .venv/bin/python bench/route_sharing.py [--services 100] [--proxies 200] [--rounds 3]
                                            --compare-src /tmp/before/src

In-process (`ControlPlane`, as the API and the xDS server call it; no sockets), on the scale
benchmark's mesh (`scale_mesh.Topology`: 20 services per namespace, two versions each, a
DestinationRule and a VirtualService per service). Each round starts one fresh process per
source tree, alternately: this tree and `--compare-src` (another pilotfish `src/`, e.g. the commit
before the change, from `git archive`), so both see the same machine load. Each process measures:
- connect: every proxy's first snapshot (`snapshot_for_node`: translate, check, serialise);
- change: a VirtualService every proxy sees, applied (`ControlPlane.apply`: parse, validate,
  store, push context, every proxy translated again and its snapshot published); median of 3;
- what the proxies hold: distinct `http_proxy` route configuration objects and serialised copies,
  and the bytes of those copies.
Prints medians over the rounds and the before/after ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from meshbench import machine  # noqa: E402
from scale_mesh import Topology  # noqa: E402

ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"


def worker(services: int, proxies: int) -> dict[str, Any]:
    """One measurement in this process, with whichever pilotfish is on sys.path."""
    from pilotfish.controlplane.core import ControlPlane
    from pilotfish.controlplane.instances import instance_from_json

    topo = Topology(services, proxies)
    ns, svc = topo.names[0]
    with tempfile.TemporaryDirectory() as tmp:
        cp = ControlPlane(Path(tmp))
        cp.load_state()
        files = [("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]
        assert cp.apply(files).ok
        cp.connected = lambda: list(cp.proxies)
        cp.set_instances([instance_from_json(i.row()) for i in topo.instances()])
        started = time.perf_counter()
        for instance in topo.instances():
            assert cp.snapshot_for_node(instance.node_id, instance.metadata(9000)) is not None
        connect = time.perf_counter() - started
        changes = []
        for i in range(3):
            text = topo.virtual_service(ns, svc, 10 + i * 10)
            started = time.perf_counter()
            assert cp.apply([("vs.yaml", text)]).ok
            changes.append(time.perf_counter() - started)
        snapshots = [cp.snapshots[n] for n in cp.snapshots]
        routes = [s.messages(ROUTE)["http_proxy"] for s in snapshots]
        encoded = {id(e): e for e in (s.resources(ROUTE).by_name["http_proxy"] for s in snapshots)}
        return {
            "proxies": len(snapshots),
            "regenerated": cp.regenerated,
            "connect_s": connect,
            "change_s": statistics.median(changes),
            "route_objects": len({id(r) for r in routes}),
            "route_encodings": len(encoded),
            "route_mb": sum(len(e.any_bytes) for e in encoded.values()) / 1e6,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def run(src: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "--worker"]
    command += ["--services", str(args.services), "--proxies", str(args.proxies)]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--proxies", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare-src", type=Path, help="another pilotfish source tree's src/")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.services, args.proxies)))
        return 0
    trees = {"after": ROOT / "src"}
    if args.compare_src is not None:
        trees = {"before": args.compare_src.resolve(), **trees}
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, src in trees.items():
            found[name].append(run(src, args))
    print(f"{args.services} services, {args.proxies} proxies; medians of {args.rounds} rounds")
    print(f"machine: {machine()} (shared: compare the ratios)")
    keys = ["connect_s", "change_s", "route_objects", "route_encodings", "route_mb", "maxrss_mb"]
    print(f"{'':8}" + "".join(f"{k:>16}" for k in keys))
    medians = {
        n: {k: statistics.median(r[k] for r in rows) for k in keys} for n, rows in found.items()
    }
    for name, row in medians.items():
        print(f"{name:8}" + "".join(f"{row[k]:16.2f}" for k in keys))
    if "before" in medians:
        ratio = {k: medians["before"][k] / max(medians["after"][k], 1e-9) for k in keys}
        print(f"{'ratio':8}" + "".join(f"{ratio[k]:15.1f}x" for k in keys))
    print(
        "proxies regenerated by the change:",
        {n: rows[-1]["regenerated"] for n, rows in found.items()},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
