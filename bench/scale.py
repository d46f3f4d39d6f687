"""The control plane at scale: N services, M proxies, every change to every affected proxy.

    .venv/bin/python bench/scale.py [--services 1000] [--proxies 2000] [--envoys 3]
                                    [--client-processes 2] [--repeats 1]

Starts the real control plane process (`python -m pilotfish.controlplane`) on a free loopback
block and feeds it through its HTTP API, as `pilotfish apply` and the launcher do: the manifest
(services, Workloads), the Istio config (a DestinationRule with subsets and a VirtualService per
service, Gateways) and the instance list. Then M proxies connect over ADS with their real node ids
and metadata: M minus --envoys simulated ones (bench/scale_clients.py, in --client-processes
separate processes; half SotW, half delta; they subscribe and ACK as Envoy does) and --envoys real
Envoys with the agent's bootstrap, whose config_dump is checked after every change.

Measured in one run, side by side:
- connect storm: all proxies connect at once -> every one has received CDS, EDS, LDS and RDS;
- targeted change: one VirtualService's weights -> per proxy, time to its last response ACKed;
- endpoint change: one Workload scaled from its replicas to one more (instance list PUT);
- mesh-wide change: the mesh ConfigMap's outboundTrafficPolicy (every sidecar sees it; with
  on-demand routes each has called a host no service has, `OUTSIDE_HOST`, and holds the
  catch-all's answer for it, which the policy decides);
- mesh-wide DestinationRule change: every service's rule given a connection pool (every
  cluster of every sidecar: `Topology.pooled_rules` says why not one root-namespace rule);
- control-plane RSS, CPU seconds and bytes sent per change; `pilot_proxy_convergence_time`,
  `pilot_xds_pushes` and `pilot_xds_config_size_bytes` read from :15014/metrics and checked
  against the clients' own counts (a line each, `agree` or `DISAGREE`); `real Envoys ms` is
  each real Envoy's own time of applying it (`RealEnvoys.wait_for`; none for the endpoint
  change, whose new replica each Envoy holding the service must hold: a config_dump gives
  endpoints no update time).
With --on-demand: PILOTFISH_ON_DEMAND_CLUSTERS=true (else false), every proxy speaks delta,
each simulated one asks for the clusters of two services after its first CDS response, and a
first and a second request go through each real Envoy to 5 services it never called (medians).
A change is over when no proxy has received anything for --quiet seconds. Last line: `scale:
services=N proxies=M connect_s=... targeted_p99_ms=... endpoint_ms=... meshwide_s=...
meshwide_dr_s=... rss_mb=...`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from meshbench import machine  # noqa: E402
from scale_api import (  # noqa: E402
    TOKEN,
    apply_file,
    call,
    convergence_check,
    convergence_metric,
    free_port,
    instances_body,
    proc_stats,
    put_instances,
    sent_check,
    synced_proxies,
    xds_sent,
)
from scale_mesh import OUTSIDE_HOST, Topology  # noqa: E402
from scale_proxies import Clients, RealEnvoys, Received, outside_policy, settle  # noqa: E402


@dataclass
class ChangeResult:
    name: str
    pushed: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    responses: int
    bytes: int
    cpu_s: float
    api_ms: float = 0.0
    metric_mean_ms: float = float("nan")
    envoy_ms: float = float("nan")
    mean_ms: float = float("nan")


def summarize(
    name: str, received: Received, start: float, cpu: float, api_ms: float = 0.0
) -> ChangeResult:
    events = received.since(start)
    last: dict[int, float] = {}
    for index, _, _, at in events:
        last[index] = max(last.get(index, 0.0), at)
    times = sorted((t - start) * 1000 for t in last.values()) or [0.0]
    return ChangeResult(
        name=name,
        pushed=len(last),
        p50_ms=statistics.median(times),
        p99_ms=times[min(len(times) - 1, int(len(times) * 0.99))],
        max_ms=times[-1],
        responses=len(events),
        bytes=sum(e[2] for e in events),
        cpu_s=cpu,
        api_ms=api_ms,
        mean_ms=statistics.mean(times),
    )


async def run(args: argparse.Namespace) -> list[ChangeResult]:
    block = random.randint(100, 250)
    host = f"127.{block}.0.1"
    topo = Topology(args.services, args.proxies, block=block)
    xds_port, http_port = free_port(host), free_port(host)
    base = f"http://{host}:{http_port}"
    tmp = Path(tempfile.mkdtemp(prefix="pilotfish-scale-"))
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    args.on_demand = args.on_demand or args.on_demand_routes
    env["PILOTFISH_ON_DEMAND_CLUSTERS"] = "true" if args.on_demand else "false"
    env["PILOTFISH_ON_DEMAND_ROUTES"] = "true" if args.on_demand_routes else "false"
    cp = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pilotfish.controlplane",
            "--state-dir",
            str(tmp / "state"),
            "--address",
            host,
            "--xds-port",
            str(xds_port),
            "--http-port",
            str(http_port),
            "--log-level",
            "WARNING",
        ],
        env=env,
        stderr=(tmp / "controlplane.log").open("wb"),
    )
    results: list[ChangeResult] = []
    clients: Clients | None = None
    envoys: RealEnvoys | None = None
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError, ValueError):
                if call(base, "GET", "/ready", timeout=2):
                    break
            if time.monotonic() > deadline or cp.poll() is not None:
                raise RuntimeError((tmp / "controlplane.log").read_text()[-3000:])
            await asyncio.sleep(0.1)
        TOKEN["token"] = (tmp / "state" / "admin-token").read_text().strip()
        started = time.monotonic()
        files = [["manifest.yaml", topo.manifest_yaml()], ["config.yaml", topo.config_yaml()]]
        answer = call(base, "POST", "/api/v1/apply", {"files": files, "wait": False})
        if not answer.get("ok"):
            raise RuntimeError(f"apply failed: {answer.get('diagnostics', [])[:3]}")
        instances = topo.instances()
        call(base, "PUT", "/api/v1/instances", {"instances": [i.row() for i in instances]})
        while call(base, "GET", "/ready").get("registry_applied", 0) < 1:
            await asyncio.sleep(0.1)
        setup_s = time.monotonic() - started
        print(f"setup (apply {args.services} services + instances): {setup_s:.1f} s", flush=True)

        real = instances[:: max(1, len(instances) // max(args.envoys, 1))][: args.envoys]
        simulated = [i for i in instances if i not in real]
        nodes: list[dict[str, Any]] = [
            {"id": i.node_id, "metadata": i.metadata(), "delta": n % 2 == 1}
            for n, i in enumerate(simulated)
        ]
        if args.on_demand:
            for n, node in enumerate(nodes):
                node["delta"] = True
                node["metadata"] = node["metadata"] | {"PILOTFISH_DELTA_XDS": "true"}
                node["demand"] = [topo.cluster((n + k) % len(topo.names)) for k in (1, 7)]
                node["demand_hosts"] = [
                    "http_proxy/{1}.{0}:8080".format(*topo.names[(n + k) % len(topo.names)])
                    for k in (1, 7)
                ] + [f"http_proxy/{OUTSIDE_HOST}"]
        clients = Clients(f"{host}:{xds_port}", nodes, args.client_processes, tmp)
        envoys = RealEnvoys(real, (host, xds_port), tmp, all_delta=args.on_demand)
        await clients.start()
        await envoys.start_sds()
        (cpu0, _), sent0 = proc_stats(cp.pid), xds_sent(base)
        start, wall = time.monotonic(), time.time()
        clients.go()
        envoys.start()
        # connect storm: every simulated proxy has had CDS, EDS, LDS and RDS
        seen: dict[int, set[str]] = {}
        while True:
            for index, short, _, _ in clients.received.events[sum(map(len, seen.values())) :]:
                seen.setdefault(index, set()).add(short)
            done = sum(1 for s in seen.values() if len(s) >= 4)
            if done == len(nodes):
                break
            if time.monotonic() - start > args.timeout:
                raise RuntimeError(
                    f"connect storm: only {done}/{len(nodes)} proxies synced; "
                    f"{clients.reset_summary()}"
                )
            await asyncio.sleep(0.05)
        await settle(clients.received, start, args.quiet, args.timeout)
        cpu1, _ = proc_stats(cp.pid)
        storm = summarize("connect storm", clients.received, start, cpu1 - cpu0)
        mark = "outbound_http_proxy" if args.on_demand else "outbound|8080|v1|"
        # the real Envoys' SDS servers answer on this event loop: every wait for an Envoy
        # runs in a thread, or a cluster waiting for its secrets would wait for the wait
        storm.envoy_ms = await asyncio.to_thread(envoys.wait_for, lambda d: mark in d, 60, wall)
        results.append(storm)
        print(_row(storm), flush=True)
        print(sent_check(sent0, xds_sent(base), clients.received.since(start), len(real)))
        memory = await asyncio.to_thread(envoys.memory)
        print(clients.received.by_type(start), memory, sep="\n", flush=True)
        fresh = [topo.names[(len(topo.names) // 4 + 7 * k) % len(topo.names)] for k in range(5)]
        print(await asyncio.to_thread(envoys.first_requests, fresh), flush=True)
        if args.on_demand_routes:  # the real Envoys hold the targeted service's virtual host
            await asyncio.to_thread(envoys.first_requests, [topo.names[len(topo.names) // 2]])
            outside = await asyncio.to_thread(envoys.call_outside, OUTSIDE_HOST)
            print(f"outside host {OUTSIDE_HOST}: {sorted(outside)}")

        changed = functools.partial(change, base, cp.pid, clients, envoys, args)
        for repeat in range(args.repeats):
            # targeted change: one VirtualService's weights
            ns, svc = topo.names[len(topo.names) // 2]
            weight = 80 - repeat
            results.append(
                await changed(
                    f"targeted (VS {ns}/{svc})",
                    lambda ns=ns, svc=svc, weight=weight: apply_file(
                        base, "vs.yaml", topo.virtual_service(ns, svc, weight), args.timeout
                    ),
                    lambda d, w=weight: f'"weight": {w}' in d,
                )
            )
            # endpoint change: one workload scaled by one replica
            scaled = topo.workloads()[len(topo.workloads()) // 3]
            rows = [i.row() for i in topo.instances(scaled=scaled if repeat % 2 == 0 else None)]
            body = instances_body(rows)
            # a real Envoy holding the service's cluster holds the new replica's endpoint (and
            # not once scaled back); one that never called the service holds neither
            (added,) = {i.address for i in topo.instances(scaled=scaled)} - {
                i.address for i in instances
            }
            held = topo.cluster(topo.names.index(scaled[:2]))
            results.append(
                await changed(
                    f"endpoint ({scaled[1]}-{scaled[2]} scaled)",
                    lambda body=body: put_instances(base, body),
                    lambda d, up=repeat % 2 == 0, a=f'"address": "{added}"', c=held: (
                        c not in d or (a in d) == up
                    ),
                )
            )
            # mesh-wide change: outboundTrafficPolicy
            mode = "REGISTRY_ONLY" if repeat % 2 == 0 else "ALLOW_ANY"
            results.append(
                await changed(
                    f"mesh-wide ({mode})",
                    lambda mode=mode: apply_file(
                        base, "mesh.yaml", topo.mesh_config(mode), args.timeout
                    ),
                    lambda d, mode=mode: outside_policy(d, OUTSIDE_HOST) == mode,
                )
            )
            # mesh-wide DestinationRule change: every service's rule, every cluster
            pending = 512 + repeat
            results.append(
                await changed(
                    f"mesh-wide-dr (every rule: http1MaxPendingRequests {pending})",
                    lambda p=pending: apply_file(
                        base, "dr.yaml", topo.pooled_rules(p), args.timeout
                    ),
                    lambda d, p=pending: f'"max_pending_requests": {p}' in d,
                )
            )
        _, rss = proc_stats(cp.pid)
        results.append(ChangeResult("rss_mb", 0, rss, rss, rss, 0, 0, 0.0))
        synced, total = await synced_proxies(base, len(instances), 15)
        print(f"synced: {synced}/{total} proxies hold the newest version of every type", flush=True)
        print(clients.reset_summary(), flush=True)
    finally:
        if clients is not None:
            await clients.stop()
        if envoys is not None:
            envoys.stop()
            await envoys.stop_sds()
        cp.send_signal(signal.SIGTERM)
        try:
            cp.wait(20)
        except subprocess.TimeoutExpired:
            cp.kill()
            cp.wait(5)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return results


async def change(
    base: str,
    pid: int,
    clients: Clients,
    envoys: RealEnvoys,
    args: argparse.Namespace,
    name: str,
    action: Any,
    envoy_check: Any,
) -> ChangeResult:
    metric0, sent0, (cpu0, _) = convergence_metric(base), xds_sent(base), proc_stats(pid)
    start, wall = time.monotonic(), time.time()
    answer = await asyncio.to_thread(action)
    api_ms = (time.monotonic() - start) * 1000
    if isinstance(answer, dict) and not answer.get("ok"):
        raise RuntimeError(f"{name}: {answer}")
    await settle(clients.received, start, args.quiet, args.timeout)
    cpu1, _ = proc_stats(pid)
    result = summarize(name, clients.received, start, cpu1 - cpu0, api_ms)
    result.envoy_ms = await asyncio.to_thread(envoys.wait_for, envoy_check, 30, wall)
    metric1, sent1 = convergence_metric(base), xds_sent(base)
    if metric1[1] > metric0[1]:
        result.metric_mean_ms = (metric1[0] - metric0[0]) / (metric1[1] - metric0[1]) * 1000
    print(_row(result), flush=True)
    print(sent_check(sent0, sent1, clients.received.since(start), len(envoys.procs)), flush=True)
    print(convergence_check(result.metric_mean_ms, result.mean_ms), flush=True)
    return result


HEADER = (
    "| measure | proxies pushed | p50 ms | p99 ms | max ms | responses | MB sent | CP CPU s "
    "| API ms | metric mean ms | real Envoys ms |"
)


def _row(r: ChangeResult) -> str:
    return (
        f"| {r.name} | {r.pushed} | {r.p50_ms:.0f} | {r.p99_ms:.0f} | {r.max_ms:.0f} "
        f"| {r.responses} | {r.bytes / 1e6:.1f} | {r.cpu_s:.2f} | {r.api_ms:.0f} "
        f"| {r.metric_mean_ms:.0f} | {r.envoy_ms:.0f} |"
    )


async def _cancellable(work: Any) -> list[ChangeResult]:
    """`work`, cancelled by SIGTERM or SIGINT so that its cleanup runs (the control plane,
    clients and Envoys it started are stopped, not left behind by `timeout` or Ctrl-C)."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    result: list[ChangeResult] = await task
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--proxies", type=int, default=2000)
    parser.add_argument("--envoys", type=int, default=3)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quiet", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the logs and state (tmp dir)")
    parser.add_argument(
        "--on-demand", action="store_true", help="PILOTFISH_ON_DEMAND_CLUSTERS on (see above)"
    )
    parser.add_argument(
        "--on-demand-routes", action="store_true", help="PILOTFISH_ON_DEMAND_ROUTES on, too"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(HEADER)
    print("|" + "---|" * 11)
    results = asyncio.run(_cancellable(run(args)))
    by: dict[str, list[ChangeResult]] = {}
    for r in results:
        by.setdefault(r.name.split(" ")[0], []).append(r)

    def med(kind: str, attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in by[kind]))

    print(
        f"scale: services={args.services} proxies={args.proxies} "
        f"connect_s={med('connect', 'max_ms') / 1000:.2f} "
        f"targeted_p99_ms={med('targeted', 'p99_ms'):.0f} "
        f"endpoint_ms={med('endpoint', 'max_ms'):.0f} "
        f"meshwide_s={med('mesh-wide', 'max_ms') / 1000:.2f} "
        f"meshwide_dr_s={med('mesh-wide-dr', 'max_ms') / 1000:.2f} "
        f"rss_mb={med('rss_mb', 'p50_ms'):.0f} load={os.getloadavg()[0]:.1f}"
        + (" on_demand=1" if args.on_demand else "")
        + (" on_demand_routes=1" if args.on_demand_routes else "")
    )


if __name__ == "__main__":
    main()
