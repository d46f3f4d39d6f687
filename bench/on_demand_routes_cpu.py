"""Control-plane CPU and memory of on-demand virtual hosts, in-process (no xDS, no sockets).

    .venv/bin/python bench/on_demand_routes_cpu.py [--services 1000] [--proxies 2000] [--routes]
                                      [--profile connect|targeted|endpoint|meshwide]

`ControlPlane` as the API drives it, on the scale benchmark's mesh (`scale_mesh.Topology`): every
proxy connects as a delta sidecar with on-demand clusters (`--routes`: and on-demand virtual
hosts, PILOTFISH_ON_DEMAND_ROUTES) and asks for the clusters (and virtual hosts) of two
services (`--routes`: and a host no service has, `OUTSIDE_HOST`), as bench/scale.py's simulated
proxies do. Then, timed in process CPU seconds, in bench/scale.py's order: a targeted change
(one VirtualService's weights, twice), an endpoint change (one workload scaled and back), the
mesh-wide change (REGISTRY_ONLY, then `--flips` - 1 more flips of the policy), and with
`--rules` the mesh-wide DestinationRule change (every service's rule given a connection pool,
one apply, `--rule-changes` times, twice by default); the RSS after each step. `--profile`
prints the cProfile of the connect of every proxy, the second targeted change, the first
endpoint change, the last flip or the last DestinationRule change (cumulative, top 30;
`--profile-sort tottime` for self time). `--as-api`: collections paused during each change, as
the control plane's API pauses them (`gc_freeze.pause`), and the idle full collection after it
(`ControlPlane.release_idle`) timed apart; without it collections run inside the changes.
Run it once with and once without `--routes` to compare.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
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


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 1e6


SORT = "cumulative"
RELEASE: Callable[[], object] = gc.collect
PROFILE_OUT = ""


AS_API = False  # `--as-api`: collections paused during a change, the idle one timed apart


def timed(what: str, work: Callable[[], Any], profile: bool = False) -> None:
    profiler = cProfile.Profile() if profile else None
    if AS_API:
        gc_freeze.pause()  # as `controlplane.api` does around a change
    started = time.process_time()
    if profiler is not None:
        profiler.enable()
    work()
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - started
    RELEASE()
    idle = f" + {time.process_time() - started - cpu:.2f} s idle collection" if AS_API else ""
    print(f"{what}: {cpu:.2f} s CPU{idle}, RSS {rss_mb():.0f} MB", flush=True)
    if profiler is not None:
        if PROFILE_OUT:
            profiler.dump_stats(PROFILE_OUT)
        pstats.Stats(profiler, stream=sys.stdout).sort_stats(SORT).print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--proxies", type=int, default=2000)
    parser.add_argument("--routes", action="store_true", help="on-demand virtual hosts on")
    parser.add_argument(
        "--profile", choices=("connect", "targeted", "endpoint", "meshwide", "rules"), default=None
    )
    parser.add_argument("--profile-sort", default="cumulative", help="pstats sort key")
    parser.add_argument("--profile-out", default="", help="also dump the profile to this file")
    parser.add_argument("--flips", type=int, default=1, help="policy flips in a row")
    parser.add_argument("--rules", action="store_true", help="then every DestinationRule, twice")
    parser.add_argument(
        "--rule-changes", type=int, default=2, help="with --rules: how many DestinationRule changes"
    )
    parser.add_argument(
        "--as-api",
        action="store_true",
        help="collections paused during each change, the idle collection after it timed apart",
    )
    args = parser.parse_args()
    global SORT, PROFILE_OUT, AS_API
    SORT, PROFILE_OUT, AS_API = args.profile_sort, args.profile_out, args.as_api
    with tempfile.TemporaryDirectory(prefix="pilotfish-vhds-") as home:
        run(args, Path(home))


def run(args: argparse.Namespace, home: Path) -> None:
    topo = Topology(args.services, args.proxies)
    cp = ControlPlane(home, on_demand_clusters=True, on_demand_routes=args.routes)
    cp.load_state()
    gc_freeze.install()  # as the control plane runs (`main`), and its release after a change
    global RELEASE
    RELEASE = cp.release_idle
    assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
    cp.connected = lambda: list(cp.proxies)
    instances = topo.instances()
    cp.set_instances([instance_from_json(i.row()) for i in instances])
    names = topo.names

    def connect() -> None:
        for n, instance in enumerate(instances):
            metadata = instance.metadata(9000) | {DELTA_XDS_KEY: "true"}
            cp.snapshot_for_node(instance.node_id, metadata)
            called = [(n + k) % len(names) for k in (1, 7)]
            cp.demand(instance.node_id, tuple(topo.cluster(i) for i in called))
            if args.routes:
                hosts = tuple(f"http_proxy/{names[i][1]}.{names[i][0]}:8080" for i in called)
                hosts += (f"http_proxy/{OUTSIDE_HOST}",)
                cp.demand_hosts(instance.node_id, hosts)

    print(f"on-demand routes: {'on' if args.routes else 'off'}; RSS {rss_mb():.0f} MB")
    timed(f"connect {len(instances)} proxies", connect, args.profile == "connect")
    ns, svc = names[len(names) // 2]
    for weight in (80, 79):
        profile = args.profile == "targeted" and weight == 79
        change = [("vs.yaml", topo.virtual_service(ns, svc, weight))]
        timed(f"targeted VirtualService {ns}/{svc} ({weight})", partial(cp.apply, change), profile)
    scaled = topo.workloads()[len(topo.workloads()) // 3]
    for step, scale in enumerate((scaled, None)):
        rows = [instance_from_json(i.row()) for i in topo.instances(scaled=scale)]
        profile = args.profile == "endpoint" and step == 0
        timed(f"endpoint change {step + 1}", partial(cp.set_instances, rows), profile)
    for flip in range(args.flips):
        mode = ("REGISTRY_ONLY", "ALLOW_ANY")[flip % 2]
        timed(
            f"mesh-wide ({mode})",
            partial(cp.apply, [("mesh.yaml", topo.mesh_config(mode))]),
            args.profile == "meshwide" and flip == args.flips - 1,
        )
    for pending in range(512, 512 + args.rule_changes) if args.rules else ():
        timed(
            f"every DestinationRule (http1MaxPendingRequests {pending})",
            partial(cp.apply, [("dr.yaml", topo.pooled_rules(pending))]),
            args.profile == "rules" and pending == 511 + args.rule_changes,
        )


if __name__ == "__main__":
    main()
