"""The cost of Istio's standard metrics in the data path: the same sidecars, the same traffic, with
the Telemetry API's metrics on and then off, alternating phases in one run (the machine's noise
hits both alike).

httpbin calls itself through its sidecar (outbound, reporter=source) into the same sidecar's
inbound listener (reporter=destination), so one Envoy does both halves of the sidecar pair.
"off" is a mesh-wide Telemetry disabling ALL_METRICS; the peer-metadata header exchange stays in
both (it is what the metrics need, and is a few header operations). Reported per phase kind:
p50/p99 at a constant rate, and the Envoy's CPU time per 1,000 requests (from /proc).

Every answer that is not a 200 is logged by the sidecar (a Telemetry access log filtered on
`response.code != 200`, in both phases alike; `--no-error-log` leaves it out) and listed at the
end with its side, status and response flags. `--upstream envoy` puts a fast app behind the
sidecar (`fast_upstream.py`: an Envoy answering 200 itself) instead of the Python httpbin, so the
sidecar's own cost is a larger share of the whole.

    .venv/bin/python bench/telemetry_overhead.py [--seconds 10] [--rate 50] [--concurrency 4]
        [--rounds 3] [--compare-src DIR] [--upstream app|envoy] [--no-error-log]

`--compare-src` runs a second mesh from another source tree (e.g. the commit before a change:
`git archive COMMIT src | tar -x -C /tmp/before`, then `--compare-src /tmp/before/src`), its
phases alternating with this tree's, so both face the same machine load.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from meshbench import BenchMesh, cpu_seconds, get_status, hey, machine

OFF = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  metrics:
  - overrides: [{match: {metric: ALL_METRICS}, disabled: true}]
"""
ON = OFF.replace("disabled: true", "disabled: false")
ERROR_LOG = """  accessLogging:
  - providers: [{name: envoy}]
    filter: {expression: "response.code != 200"}
"""
POD = "httpbin-v1-0"
# Istio's text format: "METHOD PATH PROTO" code flags details ... cluster (upstream_cluster)
LOG_LINE = re.compile(
    r'" (?P<code>\d+) (?P<flags>\S+) (?P<details>\S+) .* (?P<cluster>(in|out)bound\S*) '
)


def _manifest(upstream: str) -> str:
    """The mesh to start: httpbin, or httpbin's workload running `fast_upstream.py`."""
    if upstream == "app":
        return "samples/httpbin"
    here = Path(__file__).resolve().parent
    text = (here.parent / "samples/httpbin/httpbin.yaml").read_text()
    text = text.replace('command: ["python", "httpbin.py"]',
                        f'command: ["python", "{here / "fast_upstream.py"}"]')  # fmt: skip
    directory = Path(tempfile.mkdtemp(prefix="pilotfish-fast-mesh-"))
    (directory / "mesh.yaml").write_text(text)
    return str(directory)


def _errors(mesh: BenchMesh) -> collections.Counter[str]:
    """The sidecar's logged non-200 answers: side (cluster kind), status, flags, details."""
    found: collections.Counter[str] = collections.Counter()
    for line in mesh.run("logs", POD, "-c", "istio-proxy", check=False).stdout.splitlines():
        match = LOG_LINE.search(line)
        if match:
            side = "outbound" if match["cluster"].startswith("out") else "inbound"
            found[f"{side} {match['code']} {match['flags']} {match['details']}"] += 1
    return found


def _start(mesh: BenchMesh, manifest: str) -> tuple[str, str, int]:
    mesh.run("up", manifest, "--detach", "--ingress-address", mesh.ingress)
    proxy = mesh.proxy("httpbin-v1")
    outbound = f"http://{proxy['ip']}:{proxy['outbound_port']}"
    url = "http://httpbin:8000/get"
    assert get_status(url, proxy=outbound) == 200
    return url, outbound, int(proxy["envoy_pid"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=50, help="requests/s per connection")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--upstream", choices=("app", "envoy"), default="app")
    parser.add_argument("--no-error-log", action="store_true")
    parser.add_argument(
        "--compare-src",
        type=Path,
        help="another pilotfish source tree (its `src/`, e.g. from `git archive`): run a second "
        "mesh from it and alternate its phases with this tree's, in the same run",
    )
    args = parser.parse_args()
    if shutil.which("hey") is None:
        print("needs `hey` (Debian package hey)", file=sys.stderr)
        return 2
    meshes = {"this": BenchMesh(ingress="127.254.8.8")}
    if args.compare_src is not None:
        meshes["other"] = BenchMesh(ingress="127.254.8.9")
        meshes["other"].env["PYTHONPATH"] = str(args.compare_src.resolve())
    rules = Path(tempfile.mkdtemp(prefix="pilotfish-telemetry-bench-"))
    log = "" if args.no_error_log else ERROR_LOG
    (rules / "on.yaml").write_text(ON + log)
    (rules / "off.yaml").write_text(OFF + log)
    results: dict[str, list[dict[str, float]]] = {}
    logged: dict[str, collections.Counter[str]] = {}
    manifest = _manifest(args.upstream)
    try:
        targets = {name: _start(mesh, manifest) for name, mesh in meshes.items()}
        for url, outbound, _ in targets.values():
            hey(url, 2, args.concurrency, args.rate, outbound)  # warm up
        for _ in range(args.rounds):
            for name, mesh in meshes.items():
                url, outbound, pid = targets[name]
                for mode in ("on", "off"):
                    mesh.run("apply", "-f", str(rules / f"{mode}.yaml"))
                    before = cpu_seconds(pid)
                    run = hey(url, args.seconds, args.concurrency, args.rate, outbound)
                    run["cpu_ms_per_1k"] = (cpu_seconds(pid) - before) * 1000 / run["total"] * 1000
                    results.setdefault(f"{name} {mode}", []).append(run)
        logged = {name: _errors(mesh) for name, mesh in meshes.items()}
    finally:
        for mesh in meshes.values():
            mesh.down()
    print(f"machine: {machine()} (shared with other jobs: compare the ratio, not absolutes)")
    print(f"{args.rounds} rounds x {args.seconds} s per phase, {args.concurrency} connections x "
          f"{args.rate} req/s each (constant rate), upstream: {args.upstream}")  # fmt: skip
    if args.compare_src is not None:
        print(
            f"this = {Path(__file__).resolve().parent.parent / 'src'}, other = {args.compare_src}"
        )
    keys = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_1k")
    print(f"{'phase':<12}" + "".join(f"{k:>15}" for k in keys) + f"{'non-200':>9}{'errors':>8}")
    medians = {}
    for phase, runs in results.items():
        medians[phase] = {k: statistics.median(r[k] for r in runs) for k in keys}
        errors = sum(r["non_200"] for r in runs)
        failed = sum(r.get("errors", 0.0) for r in runs)
        cells = "".join(f"{medians[phase][k]:>15.3f}" for k in keys)
        print(f"{phase:<12}{cells}{errors:>9.0f}{failed:>8.0f}")
    for name in meshes:
        ratio = "".join(
            f"{medians[f'{name} on'][k] / medians[f'{name} off'][k]:>15.3f}" for k in keys
        )
        print(f"{name + ' on/off':<12}{ratio}   (medians)")
        cpu = [
            on["cpu_ms_per_1k"] / off["cpu_ms_per_1k"]
            for on, off in zip(results[f"{name} on"], results[f"{name} off"], strict=True)
        ]
        fastest = min(r["cpu_ms_per_1k"] for r in results[f"{name} on"]) / min(
            r["cpu_ms_per_1k"] for r in results[f"{name} off"]
        )
        print(f"{name} CPU on/off per round: " + ", ".join(f"{c:.3f}" for c in cpu)
              + f"; fastest on / fastest off: {fastest:.3f}")  # fmt: skip
    for name, found in logged.items():
        for what, count in sorted(found.items()):
            print(f"{name} non-200 logged by the sidecar: {count} x {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
