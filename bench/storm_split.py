"""The connect storm over K control-plane processes that share the xDS port: does a second core
help, and how much? (a prototype measurement for issue 9, not a product mode).

    .venv/bin/python bench/storm_split.py [--services 1000] [--proxies 2000] [--replicas 1 2]

For each K of --replicas, K full control planes (`python -m pilotfish.controlplane`, the product
defaults: on-demand clusters and virtual hosts) run with their own state directory and HTTP port
and ONE xDS port: gRPC servers set SO_REUSEPORT, so the kernel spreads the TCP connections over
them, as Istio spreads proxies over istiod replicas; each is fed the same config and instance
list through its API and translates for the proxies that reach it. Then bench/scale.py's
simulated proxies (delta, each asking for two services' clusters and virtual hosts) connect at
once, one TCP connection per 100 streams (`SCALE_CLIENTS_OWN_CONNECTIONS`). Printed per K: the
wall until every proxy has CDS, EDS, LDS and RDS and nothing more came for --quiet seconds, the
CPU seconds of each control plane over that storm, and the streams each one served.
The last line: `storm_split: services=N proxies=M k1_s=… k1_cpu=… k2_s=… k2_cpu=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from meshbench import machine  # noqa: E402
from scale_api import TICKS, TOKEN, call, free_port, proc_stats  # noqa: E402
from scale_clients import OWN_CONNECTIONS  # noqa: E402
from scale_mesh import Topology  # noqa: E402
from scale_proxies import Clients, settle  # noqa: E402


def storm_nodes(topo: Topology) -> list[dict[str, Any]]:
    """Every sidecar of `topo` as a delta client asking two clusters and their virtual hosts
    (the storm both split benches connect)."""
    nodes: list[dict[str, Any]] = []
    for n, instance in enumerate(topo.instances()):
        called = [topo.names[(n + k) % len(topo.names)] for k in (1, 7)]
        nodes.append(
            {
                "id": instance.node_id,
                "metadata": instance.metadata() | {"PILOTFISH_DELTA_XDS": "true"},
                "delta": True,
                "demand": [topo.cluster((n + k) % len(topo.names)) for k in (1, 7)],
                "demand_hosts": [f"http_proxy/{s}.{ns}:8080" for ns, s in called],
            }
        )
    return nodes


def start_control_plane(tmp: Path, host: str, xds_port: int) -> tuple[subprocess.Popen[bytes], str]:
    state, http_port = tmp / "state", free_port(host)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env |= {"PILOTFISH_ON_DEMAND_CLUSTERS": "true", "PILOTFISH_ON_DEMAND_ROUTES": "true"}
    command = [sys.executable, "-m", "pilotfish.controlplane", "--state-dir", str(state)]
    command += ["--address", host, "--xds-port", str(xds_port), "--http-port", str(http_port)]
    log = (tmp / "controlplane.log").open("wb")
    proc = subprocess.Popen([*command, "--log-level", "WARNING"], env=env, stderr=log)
    return proc, f"http://{host}:{http_port}"


async def fed(proc: subprocess.Popen[bytes], base: str, tmp: Path, topo: Topology) -> None:
    """Wait until the control plane answers, then give it the config and the instances."""
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(OSError, ValueError):
            if call(base, "GET", "/ready", timeout=2):
                break
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError((tmp / "controlplane.log").read_text()[-3000:])
        await asyncio.sleep(0.1)
    TOKEN["token"] = (tmp / "state" / "admin-token").read_text().strip()
    files = [["manifest.yaml", topo.manifest_yaml()], ["config.yaml", topo.config_yaml()]]
    answer = call(base, "POST", "/api/v1/apply", {"files": files, "wait": False})
    if not answer.get("ok"):
        raise RuntimeError(f"apply failed: {answer.get('diagnostics', [])[:3]}")
    call(base, "PUT", "/api/v1/instances", {"instances": [i.row() for i in topo.instances()]})
    while call(base, "GET", "/ready").get("registry_applied", 0) < 1:
        await asyncio.sleep(0.1)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process's threads, summed by kind: the event loop (the main thread),
    Python's other threads (the generation thread, nearly all of it; they keep the main
    thread's name) and gRPC's own threads (named by gRPC)."""
    out: dict[str, float] = {}
    main = Path(f"/proc/{pid}/comm").read_text().strip()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            python = (task / "comm").read_text().strip() == main
            kind = "loop" if task.name == str(pid) else "generation" if python else "grpc"
            out[kind] = out.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS
    return out


def streams(base: str) -> int:
    """ADS streams open (`pilot_xds`, summed over versions)."""
    text = str(call(base, "GET", "/metrics"))
    return int(sum(float(x.split()[-1]) for x in text.splitlines() if x.startswith("pilot_xds{")))


async def storm(args: argparse.Namespace, replicas: int) -> tuple[float, list[float], list[int]]:
    """(storm wall s, CPU s of each control plane, streams each served); prints each control
    plane's CPU by thread and the responses the proxies got (`--py-spy` / `--perf`: the first
    plane's profile of the storm, py-spy's raw or `perf record -g`, to that file)."""
    block = random.randint(100, 250)
    host = f"127.{block}.0.1"
    topo = Topology(args.services, args.proxies, block=block)
    xds_port = free_port(host)
    top = Path(tempfile.mkdtemp(prefix="pilotfish-storm-"))
    planes: list[tuple[subprocess.Popen[bytes], str]] = []
    clients: Clients | None = None
    try:
        for k in range(replicas):
            (top / str(k)).mkdir()
            planes.append(start_control_plane(top / str(k), host, xds_port))
        for k, (proc, base) in enumerate(planes):
            await fed(proc, base, top / str(k), topo)
        nodes = storm_nodes(topo)
        os.environ[OWN_CONNECTIONS] = "1"
        clients = Clients(f"{host}:{xds_port}", nodes, args.client_processes, top)
        await clients.start()
        cpu0 = [proc_stats(p.pid)[0] for p, _ in planes]
        threads0 = [thread_cpu(p.pid) for p, _ in planes]
        spy = None
        pid = str(planes[0][0].pid)
        if args.py_spy:
            command = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", pid]
            command += ["--threads", "--format", "raw", "--rate", "200", "--nonblocking"]
            spy = subprocess.Popen([*command, "--output", args.py_spy], stdout=subprocess.DEVNULL)
        elif args.perf:  # native frames: gRPC's, the interpreter's, protobuf's
            command = ["perf", "record", "-F", "499", "-g", "-p", pid, "-o", args.perf]
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elif args.syscalls:  # system calls by thread: wake-ups, hand-offs between threads
            command = ["perf", "trace", "-s", "-p", pid, "-o", args.syscalls]
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if spy is not None:
            await asyncio.sleep(1.0)
        start = time.monotonic()
        clients.go()
        seen: dict[int, set[str]] = {}
        while sum(1 for s in seen.values() if len(s) >= 4) < len(nodes):
            for index, short, _, _ in clients.received.events[sum(map(len, seen.values())) :]:
                seen.setdefault(index, set()).add(short)
            if time.monotonic() - start > args.timeout:
                raise RuntimeError(f"storm not synced in {args.timeout} s")
            await asyncio.sleep(0.05)
        await settle(clients.received, start, args.quiet, args.timeout)
        cpu = [proc_stats(p.pid)[0] - c for (p, _), c in zip(planes, cpu0, strict=True)]
        for (p, _), before in zip(planes, threads0, strict=True):
            after = thread_cpu(p.pid)
            by = {k: after[k] - before.get(k, 0.0) for k in sorted(after)}
            print("  CPU by thread: " + ", ".join(f"{k} {v:.2f} s" for k, v in by.items()))
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        wall = max(e[3] for e in clients.received.since(start)) - start
        print(f"  responses: {len(clients.received.since(start))}", flush=True)
        return wall, cpu, [streams(base) for _, base in planes]
    finally:
        if clients is not None:
            await clients.stop()
        for proc, _ in planes:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in planes:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(top, ignore_errors=True)


async def run(args: argparse.Namespace) -> str:
    summary = f"storm_split: services={args.services} proxies={args.proxies}"
    for replicas in args.replicas:
        load = os.getloadavg()[0]
        wall, cpu, served = await storm(args, replicas)
        print(
            f"K={replicas}: storm {wall:.2f} s, control-plane CPU {sum(cpu):.2f} s "
            f"({' + '.join(f'{c:.2f}' for c in cpu)}), streams {served}, load {load:.1f}",
            flush=True,
        )
        summary += f" k{replicas}_s={wall:.2f} k{replicas}_cpu={sum(cpu):.2f}"
    return summary + f" load={os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--proxies", type=int, default=2000)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--quiet", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--py-spy", default="", help="profile the storm (py-spy raw) to FILE")
    parser.add_argument("--perf", default="", help="profile the storm (perf record -g) to FILE")
    parser.add_argument("--syscalls", default="", help="the storm's (perf trace -s) to FILE")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    task = asyncio.run(run(args))
    print(task)


if __name__ == "__main__":
    main()
