"""The data plane against its limit: what the generated sidecar pair costs next to a hand-written
minimal Envoy pair and next to no proxy at all, in one run, at a constant rate with an open-loop
generator (`openloop.py`) and a fast upstream (nginx serving 1 KiB, `nginx_upstream.py`).

Paths, each phase measured in turn, in interleaved rounds (the order rotates every round):
- direct: the generator to nginx;
- minimal: generator -> client-side Envoy -> server-side Envoy -> nginx, static configs with
  nothing but a listener, a route and a cluster each (`minimal_pair.py`), plaintext
  (`minimal-plain`) and mutual TLS (`minimal-mtls`); same worker count as the sidecars;
- generated: generator -> the `sleep` sidecar (its HTTP proxy port) -> the nginx Workload's
  sidecar -> nginx, in a real local mesh (auto mTLS, as pilotfish configures it).

Reported per path: medians over the rounds of p50/p90/p99 latency (send to last byte) and of the
p99 from the due time, the CPU of both Envoys of the path per 1,000 requests (from
/proc/<pid>/stat, net of what they burn idle, measured for 5 s before the rounds), then the
ratios of the medians to minimal-mtls (the like-for-like baseline of the mTLS sidecars; goal
<= 1.05) and to direct, and the spread (min-max over rounds) of each ratio computed per round.

    .venv/bin/python bench/dataplane_limit.py [--rate 300] [--seconds 3] [--rounds 5]
        [--apply FILE ...] [--bisect all | --bisect=-stats,-authz,...] [--metrics-off]
        [--instructions [--requests 100,300]]

`--apply FILE` applies Istio YAML to the mesh before measuring (e.g. a Telemetry that turns the
metrics off), to see what one piece of the generated config costs. `--bisect` adds the generated
pair rebuilt as static configs (`dump_pair`), whole (`static`) and without pieces.
`--metrics-off` adds the same static rebuild of the mesh with a Telemetry turning every metric
off (`static+metrics-off`, and each bisect variant `+metrics-off`), dumped in the same run.
`--bisect=+module` (or `+module-no-grpc-stats`) adds the pair with the stats loggers replaced by
the compiled module of `dynamic_telemetry.py` (built with `cc`), compared with metrics off.

`--instructions` counts the Envoys' instructions per request with callgrind instead of CPU time
(how, and why that is steadier on a shared machine: `dataplane_instructions.py`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import callgrind
import nginx_upstream
import openloop
from dataplane_instructions import (
    count_instructions,
    count_quietly,
    hey,
    idle_instructions,
    report_instructions,
    spread,
)
from dump_pair import (
    VARIANTS,
    Config,
    client_side,
    config_dump,
    identity_env,
    pair_configs,
    server_side,
)
from meshbench import BenchMesh, cpu_seconds, get_status, machine
from minimal_pair import EnvoyPair, minimal_configs, write_certificates

HERE = Path(__file__).resolve().parent
SERVICE = """apiVersion: v1
kind: ServiceAccount
metadata: {{name: nginx}}
---
apiVersion: v1
kind: Service
metadata:
  name: nginx
  labels: {{app: nginx, service: nginx}}
spec:
  ports:
  - {{name: http, port: 8000, targetPort: 8080}}
  selector: {{app: nginx}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata:
  name: nginx
  labels: {{app: nginx, version: v1}}
spec:
  replicas: 1
  serviceAccount: nginx
  command: ["python", "{upstream}"]
  env: {{NGINX_DIR: "{nginx_dir}"}}
  ports: [8080]
"""
MESH_URL = "http://nginx:8000" + nginx_upstream.PATH
KEYS = ("p50_ms", "p90_ms", "p99_ms", "due_p99_ms", "cpu_ms_per_1k")
BASELINE = "minimal-mtls"
OFF = "+metrics-off"
METRICS_OFF = """apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  metrics:
  - overrides: [{match: {metric: ALL_METRICS}, disabled: %s}]
"""


def manifest(directory: Path) -> Path:
    """nginx as a Workload, and `sleep` (the client) from the samples, absolute paths."""
    nginx = SERVICE.format(upstream=HERE / "nginx_upstream.py", nginx_dir=directory / "nginx")
    (directory / "nginx.yaml").write_text(nginx)
    sleep = (HERE.parent / "samples/sleep/sleep.yaml").read_text()
    sleep_py = HERE.parent / "samples/sleep/sleep.py"
    (directory / "sleep.yaml").write_text(sleep.replace('"sleep.py"', f'"{sleep_py}"'))
    return directory


def wait_ok(url: str, proxy: str | None, pairs: list[EnvoyPair], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while get_status(url, proxy) != 200:
        for pair in pairs:
            pair.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} via {proxy} never answered 200")
        time.sleep(0.1)


def idle_cpu(pids: set[int], seconds: float) -> dict[int, float]:
    """CPU seconds per second each Envoy burns with no traffic (timers, stats flush, the agent's
    readiness probes, xDS), measured for all at once before the rounds."""
    before = {p: cpu_seconds(p) for p in pids}
    time.sleep(seconds)
    return {p: (cpu_seconds(p) - before[p]) / seconds for p in pids}


def measure(
    url: str, proxy: str | None, pids: list[int], idle: dict[int, float], rate: int, seconds: int
) -> dict[str, float]:
    """One phase; `cpu_ms_per_1k` is the Envoys' CPU per 1,000 answers, net of their idle CPU."""
    before = sum(cpu_seconds(p) for p in pids)
    began = time.monotonic()
    result = openloop.run(url, rate, seconds, proxy)
    used = sum(cpu_seconds(p) for p in pids) - before
    used -= sum(idle[p] for p in pids) * (time.monotonic() - began)
    result["cpu_ms_per_1k"] = used * 1000 / max(result["total"], 1) * 1000 if pids else 0.0
    return result


def report(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    print(f"machine: {machine()} (loaded: shared with other jobs; compare ratios, not absolutes)")
    print(f"open loop, {args.rate} req/s, {args.seconds} s per phase, {args.rounds} rounds "
          f"interleaved; upstream nginx 1 KiB; applied: {args.apply or 'nothing'}")  # fmt: skip
    head = "".join(f"{k:>14}" for k in KEYS)
    print(f"{'path':<16}{head}{'non-200':>9}{'errors':>8}{'lag_p99':>9}{'new conns':>10}")
    medians = {}
    for path, runs in results.items():
        medians[path] = {k: statistics.median(r[k] for r in runs) for k in KEYS}
        cells = "".join(f"{medians[path][k]:>14.3f}" for k in KEYS)
        bad = sum(r["non_200"] for r in runs)
        errors = sum(r["errors"] for r in runs)
        lag = statistics.median(r["lag_p99_ms"] for r in runs)
        opened = sum(r["connections_opened"] for r in runs)
        print(f"{path:<16}{cells}{bad:>9.0f}{errors:>8.0f}{lag:>9.2f}{opened:>10.0f}")
    for base in (BASELINE, "direct"):
        if base not in results:
            continue
        for path in results:
            if path in (base, "direct"):
                continue
            ratios = []
            for k in KEYS:
                if k == "cpu_ms_per_1k" and base == "direct":
                    ratios.append(" " * 14)
                    continue
                per_round = [r[k] / b[k] for r, b in zip(results[path], results[base], strict=True)]
                ratio = medians[path][k] / medians[base][k]
                ratios.append(f"{ratio:>6.2f} {spread(per_round):>7}")
            print(f"{path + ' / ' + base:<30}" + "".join(ratios))


Path_ = tuple[str, str | None, list[int]]


def _minimal(
    work: Path, app_port: int, args: argparse.Namespace
) -> tuple[EnvoyPair, dict[str, Path_]]:
    """The minimal pair, started, and the paths to measure besides the generated pair."""
    client, server, ports = minimal_configs(work, app_port)
    count_quietly(client, args)
    count_quietly(server, args)
    (work / "minimal").mkdir()
    pair = EnvoyPair(work / "minimal", client, server, args.concurrency, args.instructions)
    pair.start()
    direct = f"http://127.0.0.1:{app_port}{nginx_upstream.PATH}"
    paths: dict[str, Path_] = {}
    if not args.bisect and not args.instructions:
        paths["direct"] = (direct, None, [])
        paths["minimal-plain"] = (MESH_URL, pair.proxy(ports["plain"]), pair.pids)
    paths["minimal-mtls"] = (MESH_URL, pair.proxy(ports["mtls"]), pair.pids)
    return pair, paths


def _static(
    mesh: BenchMesh, dumps: tuple[Config, Config], app_port: int, work: Path,
    args: argparse.Namespace,
) -> tuple[EnvoyPair, dict[str, Path_]]:  # fmt: skip
    """The generated pair rebuilt as static configs: its variants, and with `--metrics-off` the
    same from the mesh with every metric off (dumped, then the metrics are turned on again)."""
    bisect = args.bisect or ""
    names = list(VARIANTS) if bisect == "all" else ["full", *filter(None, bisect.split(","))]
    more = None
    if args.metrics_off:
        switch = work / "telemetry.yaml"
        switch.write_text(METRICS_OFF % "true")
        mesh.run("apply", "-f", str(switch))  # returns once every Envoy has the change
        client, server = mesh.proxy("sleep"), mesh.proxy("nginx")
        off = config_dump(client["ip"]), config_dump(server["ip"])
        rebuilt = [client_side(off[0], "x", 0, 0, ""), server_side(off[1], "x", 0, 0, "")]
        if "envoy.access_loggers.stats" in json.dumps(rebuilt):
            raise RuntimeError(f"the metrics are still on after the Telemetry: {rebuilt}")
        more = (*off, OFF)
        switch.write_text(METRICS_OFF % "false")
        mesh.run("apply", "-f", str(switch))
    client_config, server_config, ports = pair_configs(*dumps, app_port, str(work), names, more)
    count_quietly(client_config, args)
    count_quietly(server_config, args)
    (work / "variants").mkdir()
    environments = {"client": identity_env(dumps[0]), "server": identity_env(dumps[1])}
    variants = EnvoyPair(
        work / "variants", client_config, server_config, 2, args.instructions, environments
    )
    variants.start()
    paths: dict[str, Path_] = {
        "static" + name.removeprefix("full"): (MESH_URL, variants.proxy(port), variants.pids)
        for name, port in ports.items()
    }
    return variants, paths


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=300, help="requests/s (open loop)")
    parser.add_argument("--seconds", type=int, default=3, help="per phase")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=2, help="Envoy workers (minimal)")
    parser.add_argument("--apply", action="append", default=[], help="Istio YAML for the mesh")
    parser.add_argument(
        "--bisect",
        help="instead of direct and minimal-plain: the generated pair as static configs, whole "
        f"and without each piece (`all`, or some of {', '.join(list(VARIANTS)[1:])}, "
        "comma-separated)",
    )
    parser.add_argument(
        "--metrics-off",
        action="store_true",
        help="also the static rebuild of the mesh with a Telemetry turning every metric off",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count the Envoys' instructions per request with callgrind instead of CPU time",
    )
    parser.add_argument("--requests", default="100,300", help="N1,N2 per phase (--instructions)")
    args = parser.parse_args()
    counts = [int(n) for n in args.requests.split(",")]
    requests = (counts[0], counts[-1])
    if args.instructions and not (callgrind.available() and len(counts) == 2):
        print("--instructions needs valgrind (Debian package valgrind), --requests N1,N2",
              file=sys.stderr)  # fmt: skip
        return 2
    if not nginx_upstream.available():
        print("needs nginx (Debian: apt-get install -y nginx-light)", file=sys.stderr)
        return 2
    mesh = BenchMesh(ingress="127.254.21.21")
    work = Path(tempfile.mkdtemp(prefix="pilotfish-dp-limit-"))
    pairs: list[EnvoyPair] = []
    results: dict[str, list[dict[str, float]]] = {}
    try:
        mesh.run("up", str(manifest(work)), "--detach", "--ingress-address", mesh.ingress)
        for path in args.apply:
            mesh.run("apply", "-f", path)
        client, server = mesh.wait_proxy("sleep"), mesh.wait_proxy("nginx")
        app_port = int(next(iter(server["app_ports"].values())))
        sidecar = f"http://{client['ip']}:{client['outbound_port']}"
        wait_ok(MESH_URL, sidecar, [])
        write_certificates(work)
        minimal, paths = _minimal(work, app_port, args)
        pairs.append(minimal)
        mesh_pids = [int(client["envoy_pid"]), int(server["envoy_pid"])]
        if not args.instructions:  # the live sidecars cannot run under callgrind
            paths["generated"] = (MESH_URL, sidecar, mesh_pids)
        if args.bisect or args.metrics_off or args.instructions:
            dumps = config_dump(client["ip"]), config_dump(server["ip"])
            variants, static = _static(mesh, dumps, app_port, work, args)
            pairs.append(variants)
            paths |= static
        for url, proxy, _ in paths.values():
            wait_ok(url, proxy, pairs, 600 if args.instructions else 30)
            if args.instructions:
                hey(url, proxy, 50)  # warm up: connections, TLS, pools
            else:
                openloop.run(url, args.rate, 1, proxy)
        outs = {pid: out for pair in pairs if pair.counted for pid, out in pair.counts}
        for pid in outs:
            callgrind.on(pid)
        if args.instructions:
            idle = idle_instructions(outs, 15)  # three 5 s stats flushes: their count varies less
        else:
            idle = idle_cpu({p for _, _, pids in paths.values() for p in pids}, 5)
        unit, scale = ("k instructions/s", 1e-3) if args.instructions else ("CPU ms/s", 1e3)
        for name, (_, _, pids) in paths.items():
            if pids:
                print(f"idle {name}'s Envoys: {sum(idle[p] for p in pids) * scale:.1f} {unit}")
        order = list(paths)
        for round_ in range(args.rounds):
            for name in order[round_ % len(order) :] + order[: round_ % len(order)]:
                url, proxy, pids = paths[name]
                if args.instructions:
                    path_outs = [(p, outs[p]) for p in pids]
                    run = count_instructions(url, proxy, path_outs, idle, requests)
                else:
                    run = measure(url, proxy, pids, idle, args.rate, args.seconds)
                results.setdefault(name, []).append(run)
    finally:
        for pair in pairs:
            pair.stop()
        mesh.down()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(mesh.home, ignore_errors=True)
    if args.instructions:
        report_instructions(results, args, BASELINE, OFF)
    else:
        report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
